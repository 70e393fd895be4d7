/**
 * Queued images grouped by the request that brought them, served one image per request in turn.
 * Under FIFO a one-image /predict waits behind every image of a 16-image batch that arrived a moment
 * earlier; in turns it waits for about one image per request ahead, and the batch pays a little instead.
 */
export class FairQueue<T> {
  /** Remaining items of each queued request, in turn order. */
  private readonly requests: T[][] = [];
  private count = 0;

  get length(): number {
    return this.count;
  }

  /** Queues one request's items; they are served in the order given. */
  push(items: readonly T[]): void {
    if (items.length === 0) return;
    this.requests.push([...items]);
    this.count += items.length;
  }

  shift(): T | undefined {
    const head = this.requests.shift();
    if (!head) return undefined;
    const item = head.shift();
    this.count--;
    if (head.length > 0) this.requests.push(head);
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
   * How many queued items are served before the last of `n` items pushed now: every queued request
   * takes at most `n` turns first.
   */
  aheadOf(n: number): number {
    let ahead = 0;
    for (const r of this.requests) ahead += Math.min(r.length, n);
    return ahead;
  }
}
