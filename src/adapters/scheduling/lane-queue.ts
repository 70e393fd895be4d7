/**
 * How a lane orders the queued images of its requests.
 *
 * - `turns`: one image per request in turn. Under arrival order a request of 1 image waits behind every image of a
 *   16-image request that arrived a moment earlier; in turns it waits for about one image per request ahead.
 * - `arrival`: each request whole, in the order they came. Admission predicts a request's wait from the work queued
 *   ahead of it; in turns every request that arrives later takes turns too, so near saturation (a lane kept at its
 *   budget) the real wait is a multiple of the prediction. The price: a small request waits behind a big one.
 */
export type LaneOrder = 'turns' | 'arrival';

/** Queued images grouped by the request that brought them, served in the lane's order. */
export class LaneQueue<T> {
  /** Remaining items of each queued request, in serving order. */
  private readonly requests: T[][] = [];
  private count = 0;

  constructor(readonly order: LaneOrder) {}

  get length(): number {
    return this.count;
  }

  /** Queues one request's items; they are served in the order given. */
  push(items: readonly T[]): void {
    if (items.length === 0) return;
    this.requests.push([...items]);
    this.count += items.length;
  }

  /** The item shift() would return, left in place. */
  peek(): T | undefined {
    return this.requests[0]?.[0];
  }

  shift(): T | undefined {
    const head = this.requests[0];
    if (!head) return undefined;
    const item = head.shift();
    this.count--;
    // In turns the head goes to the back; in arrival order it stays at the front until it is empty.
    if (this.order === 'turns') {
      this.requests.shift();
      if (head.length > 0) this.requests.push(head);
    } else if (head.length === 0) this.requests.shift();
    return item;
  }

  /** Removes what is left of the request whose items match `belongs`; returns how many items went. */
  drop(belongs: (item: T) => boolean): number {
    const i = this.requests.findIndex((r) => r[0] !== undefined && belongs(r[0]));
    if (i < 0) return 0;
    const gone = this.requests.splice(i, 1)[0]?.length ?? 0;
    this.count -= gone;
    return gone;
  }

  /**
   * How many queued items are served before the last of `n` items pushed now: in turns, every queued request takes at
   * most `n` turns first; in arrival order, all of them.
   */
  aheadOf(n: number): number {
    if (this.order === 'arrival') return this.count;
    let ahead = 0;
    for (const r of this.requests) ahead += Math.min(r.length, n);
    return ahead;
  }
}
