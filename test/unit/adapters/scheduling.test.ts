import type { ExecResult, Executor } from '../../../src/adapters/scheduling/executor';
import { FairQueue } from '../../../src/adapters/scheduling/fair-queue';
import { ScheduledEngine } from '../../../src/adapters/scheduling/scheduled-engine';

describe('FairQueue', () => {
  it('serves queued requests one item each in turn, each request in its own order', () => {
    const q = new FairQueue<string>();
    q.push(['a1', 'a2', 'a3']);
    q.push(['b1']);
    q.push(['c1', 'c2']);
    const order: string[] = [];
    for (let item = q.shift(); item !== undefined; item = q.shift()) order.push(item);
    expect(order).toEqual(['a1', 'b1', 'c1', 'a2', 'c2', 'a3']);
    expect(q.length).toBe(0);
  });

  it('counts the items served before the last of n new ones', () => {
    const q = new FairQueue<number>();
    q.push([1, 2, 3, 4, 5]);
    q.push([6, 7]);
    expect(q.length).toBe(7);
    expect(q.aheadOf(1)).toBe(2);
    expect(q.aheadOf(2)).toBe(4);
    expect(q.aheadOf(16)).toBe(7);
  });
});

/** An executor with one slot whose runs finish only when the test says so. */
class ManualExecutor implements Executor {
  readonly kind = 'in-thread' as const;
  readonly slots = 1;
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
  const make = (executor: Executor, maxQueueWaitMs = 10_000) =>
    new ScheduledEngine(executor, { maxQueueWaitMs, maxQueuedImages: 1000, initialIntervalMs: 10 });

  it('runs single photos ahead of a queued batch, which still gets one turn in three', async () => {
    // Arrange
    const ex = new ManualExecutor();
    const engine = make(ex);
    const batch = engine.infer('m', ['b1', 'b2', 'b3', 'b4'].map(img), 'interactive');
    const singles = ['s1', 's2', 's3', 's4'].map((s) => engine.infer('m', [img(s)], 'interactive'));
    await new Promise((r) => setImmediate(r));
    // Act
    for (let i = 0; i < 8; i++) await ex.finishOne();
    // Assess: b1 was already running when the singles came
    expect(ex.started).toEqual(['b1', 's1', 's2', 'b2', 's3', 's4', 'b3', 'b4']);
    await expect(Promise.all(singles)).resolves.toHaveLength(4);
    await expect(batch).resolves.toHaveLength(4);
  });

  it('lets concurrent batches take turns image by image', async () => {
    const ex = new ManualExecutor();
    const engine = make(ex);
    void engine.infer('m', [img('x0')], 'interactive');
    void engine.infer('m', ['a1', 'a2', 'a3'].map(img), 'interactive');
    void engine.infer('m', ['b1', 'b2'].map(img), 'interactive');
    await new Promise((r) => setImmediate(r));
    for (let i = 0; i < 6; i++) await ex.finishOne();
    expect(ex.started).toEqual(['x0', 'a1', 'b1', 'a2', 'b2', 'a3']);
  });

  it('predicts a single photo\'s wait from its turn, so it is admitted where the whole backlog would be shed', async () => {
    // Arrange: 1 image runs, a 16-image batch waits; 10 ms per image and a 50 ms budget
    const ex = new ManualExecutor();
    const engine = make(ex, 50);
    void engine.infer('m', [img('first')], 'interactive');
    void engine.infer('m', Array.from({ length: 16 }, (_, i) => img(`b${i}`)), 'interactive');
    await new Promise((r) => setImmediate(r));
    // Act + Assess: a single waits for the running image and one owed batch turn, (1 + 1) × 10 ms;
    // another 16-image batch takes turns with the queued one, (16 + 16) × 10 ms
    expect(() => engine.precheck(1, 'interactive')).not.toThrow();
    expect(() => engine.precheck(16, 'interactive')).toThrow(expect.objectContaining({ code: 'OVERLOADED' }));
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
});
