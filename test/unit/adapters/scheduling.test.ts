import type { ExecResult, Executor } from '../../../src/adapters/scheduling/executor';
import { LaneQueue } from '../../../src/adapters/scheduling/lane-queue';
import { ScheduledEngine } from '../../../src/adapters/scheduling/scheduled-engine';

describe('LaneQueue', () => {
  it('in turns, serves queued requests one item each, each request in its own order', () => {
    const q = new LaneQueue<string>('turns');
    q.push(['a1', 'a2', 'a3']);
    q.push(['b1']);
    q.push(['c1', 'c2']);
    const order: string[] = [];
    for (let item = q.shift(); item !== undefined; item = q.shift()) order.push(item);
    expect(order).toEqual(['a1', 'b1', 'c1', 'a2', 'c2', 'a3']);
    expect(q.length).toBe(0);
  });

  it('in arrival order, serves each request whole before the next', () => {
    const q = new LaneQueue<string>('arrival');
    q.push(['a1', 'a2', 'a3']);
    q.push(['b1']);
    expect(q.shift()).toBe('a1');
    q.push(['c1', 'c2']);
    const order: string[] = [];
    for (let item = q.shift(); item !== undefined; item = q.shift()) order.push(item);
    expect(order).toEqual(['a2', 'a3', 'b1', 'c1', 'c2']);
    expect(q.length).toBe(0);
  });

  it.each(['turns', 'arrival'] as const)('in %s, drops what is left of one request, and only of that one', (order) => {
    const q = new LaneQueue<string>(order);
    q.push(['a1', 'a2', 'a3']);
    q.push(['b1', 'b2']);
    expect(q.shift()).toBe('a1');
    expect(q.drop((item) => item.startsWith('a'))).toBe(2);
    expect(q.length).toBe(2);
    expect([q.shift(), q.shift(), q.shift()]).toEqual(['b1', 'b2', undefined]);
  });

  it('counts the items served before the last of n new ones: in turns up to n per request, in arrival order all', () => {
    const turns = new LaneQueue<number>('turns');
    const arrival = new LaneQueue<number>('arrival');
    for (const q of [turns, arrival]) {
      q.push([1, 2, 3, 4, 5]);
      q.push([6, 7]);
      expect(q.length).toBe(7);
    }
    expect([1, 2, 16].map((n) => turns.aheadOf(n))).toEqual([2, 4, 7]);
    expect([1, 2, 16].map((n) => arrival.aheadOf(n))).toEqual([7, 7, 7]);
  });
});

/** An executor of one worker (one slot unless told) whose runs finish only when the test says so, oldest first. */
class ManualExecutor implements Executor {
  readonly mode = 'scheduled' as const;
  readonly parallelism = 1;
  constructor(readonly slots = 1) {}
  readonly started: string[] = [];
  private readonly pending: Array<(r: ExecResult) => void> = [];
  ready = () => Promise.resolve();
  close = () => Promise.resolve();
  run(_model: string, bytes: Uint8Array): Promise<ExecResult> {
    this.started.push(Buffer.from(bytes).toString());
    return new Promise((resolve) => this.pending.push(resolve));
  }
  async finishOne(): Promise<void> {
    this.pending.shift()?.({ ok: true, scores: new Float32Array(1), decodeMs: 0, inferMs: 0, image: { width: 1, height: 1, format: 'raw' } });
    await new Promise((r) => setImmediate(r));
  }
}

const img = (name: string) => new Uint8Array(Buffer.from(name));

describe('ScheduledEngine', () => {
  let clock = 0;
  const make = (executor: Executor, maxQueueWaitMs = 10_000) =>
    new ScheduledEngine(executor, { maxQueueWaitMs, maxQueuedImages: 1000, initialServiceMs: 10, targetMs: 50, intervalMs: 500, now: () => clock });
  beforeEach(() => {
    clock = 0;
  });

  it('runs single photos strictly ahead of a batch for its grace (CoDel target), then gives the batch one turn in three', async () => {
    // Arrange: a burst, the batch's images younger than the 50 ms grace
    const ex = new ManualExecutor();
    const engine = make(ex);
    const batch = engine.infer('m', ['b1', 'b2', 'b3', 'b4'].map(img), 'interactive');
    const singles = ['s1', 's2', 's3', 's4'].map((s) => engine.infer('m', [img(s)], 'interactive'));
    await new Promise((r) => setImmediate(r));
    // Act
    for (let i = 0; i < 8; i++) await ex.finishOne();
    // Assess: b1 was already running when the singles came
    expect(ex.started).toEqual(['b1', 's1', 's2', 's3', 's4', 'b2', 'b3', 'b4']);
    await expect(Promise.all(singles)).resolves.toHaveLength(4);
    await expect(batch).resolves.toHaveLength(4);
  });

  it('once the batch has waited its grace, gives it one turn in three while single photos keep coming', async () => {
    const ex = new ManualExecutor();
    const engine = make(ex);
    void engine.infer('m', ['b1', 'b2', 'b3', 'b4'].map(img), 'interactive');
    for (const s of ['s1', 's2', 's3', 's4']) void engine.infer('m', [img(s)], 'interactive');
    await new Promise((r) => setImmediate(r));
    clock = 60;
    for (let i = 0; i < 8; i++) await ex.finishOne();
    expect(ex.started).toEqual(['b1', 's1', 's2', 'b2', 's3', 's4', 'b3', 'b4']);
  });

  it("keeps other work off a worker's second slot while a single photo runs", async () => {
    // Arrange: one worker with two slots, both taken by a batch before the photo came
    const ex = new ManualExecutor(2);
    const engine = make(ex);
    const batch = engine.infer('m', ['b1', 'b2', 'b3', 'b4'].map(img), 'interactive');
    await new Promise((r) => setImmediate(r));
    const photo = engine.infer('m', [img('s1')], 'interactive');
    await new Promise((r) => setImmediate(r));
    // Act: b1 ends (s1 takes its slot), then b2 ends
    await ex.finishOne();
    await ex.finishOne();
    // Assess: the photo runs alone; the batch goes on only once it is done
    expect(ex.started).toEqual(['b1', 'b2', 's1']);
    await ex.finishOne();
    await expect(photo).resolves.toHaveLength(1);
    expect(ex.started).toEqual(['b1', 'b2', 's1', 'b3', 'b4']);
    await ex.finishOne();
    await ex.finishOne();
    await expect(batch).resolves.toHaveLength(4);
  });

  it('serves concurrent batches in arrival order, and lets background work take turns image by image', async () => {
    const ex = new ManualExecutor();
    const engine = make(ex);
    void engine.infer('m', [img('x0')], 'interactive');
    void engine.infer('m', ['a1', 'a2', 'a3'].map(img), 'interactive');
    void engine.infer('m', ['b1', 'b2'].map(img), 'interactive');
    void engine.infer('m', ['p1', 'p2'].map(img), 'background');
    void engine.infer('m', ['q1', 'q2'].map(img), 'background');
    await new Promise((r) => setImmediate(r));
    for (let i = 0; i < 10; i++) await ex.finishOne();
    // x0 was running when the rest came; background's one turn in four falls after a3
    expect(ex.started).toEqual(['x0', 'a1', 'a2', 'a3', 'p1', 'b1', 'b2', 'q1', 'p2', 'q2']);
  });

  it('admits a 16-image batch behind a queued one while no queue stands, whatever the predicted wait', async () => {
    // Prepare: 1 image runs, a 16-image batch waits; 10 ms per image and a 50 ms budget
    const ex = new ManualExecutor();
    const engine = make(ex, 50);
    void engine.infer('m', [img('first')], 'interactive');
    void engine.infer(
      'm',
      Array.from({ length: 16 }, (_, i) => img(`b${i}`)),
      'interactive',
    );
    await new Promise((r) => setImmediate(r));
    // Act + Assess: a burst is not overload
    expect(() => engine.precheck(16, 'interactive')).not.toThrow();
    expect(engine.shedEarly('batch')).toBeUndefined();
  });

  it('once a queue has stood for an interval, sheds what would wait past the budget, at the front door too', async () => {
    // Prepare: every image waits ~100 ms for 600 ms (10 ms each, 10 queued behind)
    const ex = new ManualExecutor();
    const engine = make(ex, 50);
    void engine.infer('m', [img('first')], 'interactive');
    for (let i = 0; i < 10; i++) void engine.infer('m', [img(`s${i}`)], 'interactive');
    await new Promise((r) => setImmediate(r));
    for (let i = 0; i < 70; i++) {
      clock += 10;
      await ex.finishOne();
      engine.infer('m', [img(`t${i}`)], 'interactive').catch(() => undefined);
      await new Promise((r) => setImmediate(r));
    }
    // Act + Assess: 10 photos ahead at 10 ms is 100 ms, over the 50 ms budget
    expect(engine.stats().standing).toEqual(['single']);
    expect(() => engine.precheck(1, 'interactive')).toThrow(expect.objectContaining({ code: 'OVERLOADED', statusCode: 503, retryAfterSeconds: 1 }));
    expect(engine.shedEarly('single')).toMatchObject({ code: 'OVERLOADED' });
    // A batch still gets its one turn in three: two photos before its first image is not past the budget.
    expect(engine.shedEarly('batch')).toBeUndefined();
  });

  it('does not count a batch waiting behind its own images as a standing queue', async () => {
    // Prepare: one 100-image batch alone, 10 ms per image: its last images wait a second, behind its own first ones
    const ex = new ManualExecutor();
    const engine = make(ex, 50);
    void engine.infer(
      'm',
      Array.from({ length: 100 }, (_, i) => img(`b${i}`)),
      'interactive',
    );
    await new Promise((r) => setImmediate(r));
    // Act
    for (let i = 0; i < 80; i++) {
      clock += 10;
      await ex.finishOne();
    }
    // Assess
    expect(engine.stats().standing).toEqual([]);
    expect(() => engine.precheck(16, 'interactive')).not.toThrow();
  });

  it('drops a request whose deadline passed while it waited: TIMEOUT, and none of its images run', async () => {
    // Prepare
    const ex = new ManualExecutor();
    const engine = make(ex);
    void engine.infer('m', [img('first')], 'interactive');
    const late = engine.infer('m', ['l1', 'l2', 'l3'].map(img), 'interactive', 100).catch((err: unknown) => err);
    const onTime = engine.infer('m', [img('on-time')], 'interactive', 10_000);
    await new Promise((r) => setImmediate(r));
    // Act: the running image takes until after the first request's deadline
    clock = 150;
    await ex.finishOne();
    await ex.finishOne();
    // Assess
    await expect(late).resolves.toMatchObject({ code: 'TIMEOUT', statusCode: 504 });
    await expect(onTime).resolves.toHaveLength(1);
    expect(ex.started).toEqual(['first', 'on-time']);
    expect(engine.stats()).toMatchObject({ expired: 1, queued: 0 });
  });

  it('answers a request already past its deadline TIMEOUT at once, whatever is queued: not a shed, and nothing runs', async () => {
    // Prepare: an image runs and 5 wait, so a late request has images ahead of it
    const ex = new ManualExecutor();
    const engine = make(ex);
    void engine.infer('m', [img('first')], 'interactive');
    void engine.infer('m', ['q1', 'q2', 'q3', 'q4', 'q5'].map(img), 'interactive');
    await new Promise((r) => setImmediate(r));
    clock = 200;
    // Act
    const late = engine.infer('m', [img('late')], 'interactive', 150).catch((err: unknown) => err);
    // Assess
    await expect(late).resolves.toMatchObject({
      code: 'TIMEOUT',
      statusCode: 504,
      message: "the request's deadline passed 50 ms before it reached the queue; nothing was classified",
    });
    expect(engine.stats()).toMatchObject({ expired: 1, shed: 0, queued: 5 });
    expect(() => engine.precheck(1, 'interactive', 200)).toThrow(expect.objectContaining({ code: 'TIMEOUT' }));
    // 1 ms before its deadline it is not late: it is shed for the work ahead of it instead
    expect(() => engine.precheck(1, 'interactive', 201)).toThrow(expect.objectContaining({ code: 'OVERLOADED' }));
  });

  it("says what a refused wait was counted from: its lane's images ahead, at the rate that lane has drained", async () => {
    // Prepare: each 30 ms, a 2-image batch and 2 photos arrive and 3 images run, 10 ms each. Photos take two turns in
    // three, so batch images leave every 30 ms and the batch queue stands and grows; no photo is left queued.
    const ex = new ManualExecutor();
    const engine = make(ex);
    void engine.infer('m', [img('first')], 'interactive');
    for (let i = 0; i < 30; i++) {
      void engine.infer('m', [img(`b${i}a`), img(`b${i}b`)], 'interactive');
      for (let k = 0; k < 3; k++) {
        if (k < 2) void engine.infer('m', [img(`s${i}.${k}`)], 'interactive');
        await new Promise((r) => setImmediate(r));
        clock += 10;
        await ex.finishOne();
      }
    }
    expect(engine.stats().standing).toEqual(['batch']);
    // Act: a 5-image batch that must finish within 100 ms
    const refusal = (() => {
      try {
        engine.precheck(5, 'interactive', clock + 100);
      } catch (err) {
        return err as Error;
      }
      return undefined;
    })();
    // Assess: at the pool's 10 ms per image the turn count would say far less than the lane's measured 30 ms
    expect(refusal?.message).toMatch(
      /^cannot finish before the request's deadline: \d+ images ahead in its lane, which drains at 30\.0 ms per image: predicted wait \d+ ms$/,
    );
  });

  it('measures its service time from run durations, not from the idle time between runs', async () => {
    // Prepare
    const ex = new ManualExecutor();
    const engine = make(ex);
    // Act: each run takes 4 ms; the pool then idles 1 s before the next request
    for (let i = 0; i < 5; i++) {
      void engine.infer('m', [img(`r${i}`)], 'interactive');
      await new Promise((r) => setImmediate(r));
      clock += 4;
      await ex.finishOne();
      clock += 1000;
    }
    // Assess
    expect(engine.stats().perImageMs).toBe(4);
  });

  it('gives background work one turn in four while interactive work waits', async () => {
    const ex = new ManualExecutor();
    const engine = make(ex);
    void engine.infer('m', ['g1', 'g2'].map(img), 'background');
    void engine.infer('m', ['i1', 'i2', 'i3', 'i4', 'i5', 'i6'].map(img), 'interactive');
    await new Promise((r) => setImmediate(r));
    for (let i = 0; i < 8; i++) await ex.finishOne();
    expect(ex.started).toEqual(['g1', 'i1', 'i2', 'i3', 'g2', 'i4', 'i5', 'i6']);
  });

  it("reports its executor's mode, and as workers the images that truly run at once, not the slots", () => {
    const pool: Executor = {
      mode: 'pool',
      slots: 4,
      parallelism: 2,
      ready: () => Promise.resolve(),
      close: () => Promise.resolve(),
      run: () => new Promise(() => undefined),
    };
    expect(make(pool).stats()).toMatchObject({ kind: 'pool', workers: 2 });
    expect(make(new ManualExecutor()).stats()).toMatchObject({ kind: 'scheduled', workers: 1 });
  });
});
