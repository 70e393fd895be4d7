import {
  AdmissionController,
  LaneDrain,
  parseRequestTimeout,
  requestDeadline,
  ServiceTimeEstimator,
  StandingQueue,
} from '../../../src/core/admission';

describe('ServiceTimeEstimator', () => {
  it('measures pool time per image from run durations: Little’s law while the pool is full', () => {
    // Prepare
    const e = new ServiceTimeEstimator(50);
    // Act: runs of 32 ms while 4 were in flight on 2 workers: 8 ms of pool time each
    for (let i = 0; i < 10; i++) e.observe(32, 4, 2);
    // Assess
    expect(e.perImageMs).toBe(8);
  });

  it('gives a run below full use a core of its own, so a quiet pool does not look slow', () => {
    const e = new ServiceTimeEstimator(50);
    e.observe(16, 1, 2);
    expect(e.perImageMs).toBe(8);
  });

  it('is not moved by one huge image, and never sees idle time between completions', () => {
    // Prepare: the estimate sees only runs; how long the pool sat idle between them cannot reach it.
    const e = new ServiceTimeEstimator(8, 9);
    for (let i = 0; i < 8; i++) e.observe(16, 2, 2);
    // Act: a 40-megapixel decode took 4 s
    e.observe(4000, 1, 2);
    // Assess
    expect(e.perImageMs).toBe(8);
  });

  it('follows a real slow-down, and averages skewed run times rather than taking their middle', () => {
    const e = new ServiceTimeEstimator(8, 8);
    for (let i = 0; i < 8; i++) e.observe(16, 2, 2);
    for (let i = 0; i < 5; i++) e.observe(40, 2, 2);
    // 3 × 8 ms and 5 × 20 ms in the window, the lowest and highest left out: (2 × 8 + 4 × 20) / 6
    expect(e.perImageMs).toBe(16);
  });
});

describe('StandingQueue (CoDel)', () => {
  const make = () => new StandingQueue(50, 500);

  it('does not call a burst a standing queue: the minimum sojourn dips or the queue empties within the interval', () => {
    // Prepare
    const q = make();
    // Act: every image of a 400 ms burst waits longer and longer, then the queue is empty
    for (let t = 0; t <= 400; t += 10) q.dispatched(t, t < 400 ? 10 : 0, t);
    // Assess
    expect(q.standing(400)).toBe(false);
    for (let t = 410; t <= 1200; t += 10) q.dispatched(t - 300, 5, t);
    expect(q.standing(1200)).toBe(true);
  });

  it('needs the minimum over a whole interval above target: one lucky image restarts the clock', () => {
    const q = make();
    for (let t = 0; t < 400; t += 10) q.dispatched(100, 5, t);
    q.dispatched(10, 5, 400);
    for (let t = 410; t < 900; t += 10) q.dispatched(100, 5, t);
    expect(q.standing(899)).toBe(false);
    q.dispatched(100, 5, 910);
    q.dispatched(100, 5, 920);
    expect(q.standing(920)).toBe(true);
  });

  it('stands until a whole interval goes by without a shed', () => {
    const q = make();
    for (let t = 0; t <= 600; t += 10) q.dispatched(100, 5, t);
    expect(q.standing(600)).toBe(true);
    q.shed(900);
    expect(q.standing(1399)).toBe(true);
    expect(q.standing(1400)).toBe(false);
  });

  it('stands again at the first image above target within two intervals of ending, and only then', () => {
    // Prepare: a queue stood, and ended at 1400 (no shed since 900)
    const q = make();
    for (let t = 0; t <= 600; t += 10) q.dispatched(100, 5, t);
    q.shed(900);
    expect(q.standing(1400)).toBe(false);
    // Act + Assess: the clients that backed off return at 2000; one image above target is enough
    q.dispatched(100, 5, 2000);
    expect(q.standing(2000)).toBe(true);
    // That stand shed nothing: once it ends (2500), a burst 1.2 intervals later is a burst again
    expect(q.standing(2500)).toBe(false);
    for (let t = 3100; t < 3590; t += 10) q.dispatched(100, 5, t);
    expect(q.standing(3590)).toBe(false);
  });

  it('re-enters without anyone asking whether it stands in between', () => {
    const q = make();
    for (let t = 0; t <= 600; t += 10) q.dispatched(100, 5, t);
    q.shed(900);
    q.dispatched(100, 5, 2000);
    expect(q.standing(2000)).toBe(true);
  });
});

describe('LaneDrain', () => {
  it('measures a lane’s time per image from the gaps between its dispatches while its queue never emptied', () => {
    // Prepare
    const d = new LaneDrain(4000);
    // Act: another lane took two turns in three, so this one dispatched every 24 ms
    for (let t = 0; t <= 240; t += 24) d.dispatched(5, t);
    // Assess
    expect(d.msPerImage(240)).toBe(24);
  });

  it('leaves idle time out: the gap after the queue emptied is no sample', () => {
    const d = new LaneDrain(10_000);
    for (let t = 0; t <= 100; t += 10) d.dispatched(3, t);
    d.dispatched(0, 110);
    // Act: the next request arrives 5 s later and is dispatched at once, behind nothing
    d.dispatched(2, 5110);
    d.dispatched(1, 5120);
    // Assess: 12 gaps of 10 ms; the 5 s in which nothing was queued are not one of them
    expect(d.msPerImage(5120)).toBe(10);
  });

  it('leaves out a queue emptied by expiry, and says nothing until it has a few samples or when they are old', () => {
    const d = new LaneDrain(1000);
    d.dispatched(4, 0);
    d.dispatched(3, 10);
    d.emptied();
    // Act: 3 s later the next request; the 2,990 ms before its first dispatch are no sample
    d.dispatched(2, 3000);
    d.dispatched(1, 3010);
    // Assess
    expect(d.msPerImage(3010)).toBeUndefined(); // one recent sample; the one at 10 ms is past the 1 s horizon
    d.dispatched(1, 3020);
    d.dispatched(1, 3030);
    d.dispatched(1, 3040);
    expect(d.msPerImage(3040)).toBe(10);
    expect(d.msPerImage(5000)).toBeUndefined(); // all past the horizon
  });
});

describe('AdmissionController', () => {
  const make = () => new AdmissionController({ targetMs: 50, intervalMs: 500, overloadBudgetMs: 100, maxQueuedImages: 50, initialServiceMs: 10 });
  /** Holds every image at 100 ms of sojourn for longer than an interval: the lane's queue stands. */
  const stand = (a: AdmissionController, lane = 'single') => {
    for (let t = 0; t <= 600; t += 10) a.dispatched(lane, 100, 5, t);
  };

  it('admits whatever a burst brings while no queue stands, however long the predicted wait', () => {
    expect(make().decide({ lane: 'batch', images: 16, ahead: 30, own: 30, queued: 30, now: 0 })).toEqual({ admit: true }); // 300 ms, thrice the budget
  });

  it('while a queue stands, sheds what would wait past the budget, with a Retry-After of at least 1 s', () => {
    const a = make();
    stand(a);
    expect(a.decide({ lane: 'single', images: 1, ahead: 10, own: 10, queued: 10, now: 600 })).toEqual({ admit: true }); // 10 × 10 ms
    expect(a.decide({ lane: 'single', images: 1, ahead: 11, own: 11, queued: 11, now: 600 })).toEqual({
      admit: false,
      reason: 'standing-queue',
      retryAfterSeconds: 1,
      predictedWaitMs: 110,
      basis: { by: 'pool', images: 11, msPerImage: 10 },
    });
  });

  it('never counts a request’s own images as its queueing: a 16-image batch with little ahead is admitted', () => {
    const a = make();
    stand(a, 'batch');
    // 16 × 10 ms of its own work is over the 100 ms budget; the 2 images ahead are not
    expect(a.decide({ lane: 'batch', images: 16, ahead: 2, own: 2, queued: 2, now: 600 })).toEqual({ admit: true });
  });

  it('counts a standing queue above as its own: batches wait for single photos', () => {
    const a = make();
    stand(a, 'single');
    expect(a.decide({ lane: 'batch', above: ['single'], images: 5, ahead: 20, own: 20, queued: 20, now: 600 })).toMatchObject({
      admit: false,
      reason: 'standing-queue',
    });
    expect(a.decide({ lane: 'batch', images: 5, ahead: 20, own: 20, queued: 20, now: 600 })).toEqual({ admit: true });
  });

  it('predicts a wait by how fast the lane has drained lately, which counts the photos that keep arriving', () => {
    // Prepare: batch images were dispatched every 25 ms with a batch queue behind them (photos took the other turns)
    // and the first image of each request had waited 100 ms, so the lane stands.
    const a = make();
    for (let t = 0; t <= 600; t += 25) a.dispatched('batch', 100, 5, t);
    // Act + Assess: 8 images ahead at the pool's 10 ms are 80 ms, under the 100 ms budget; at the lane's 25 ms, 200
    expect(a.decide({ lane: 'batch', images: 5, ahead: 8, own: 8, queued: 8, now: 600 })).toMatchObject({
      admit: false,
      reason: 'standing-queue',
      predictedWaitMs: 200,
      basis: { by: 'lane', images: 8, msPerImage: 25 },
    });
    expect(a.decide({ lane: 'batch', images: 5, ahead: 8, own: 3, queued: 8, now: 600 })).toEqual({ admit: true }); // max(80, 3 × 25) ms
    // Its deadline: 3 + 5 images at 25 ms finish 200 ms from now, not 80 + 50
    expect(a.decide({ lane: 'batch', images: 5, ahead: 8, own: 3, queued: 8, now: 600, deadline: 790 })).toMatchObject({ reason: 'deadline' });
  });

  it('leaves the drain rate out once no queue stands: a calm request is not refused its deadline for a past overload', () => {
    // Prepare: the batch lane stood, its images dispatched every 25 ms
    const a = make();
    for (let t = 0; t <= 600; t += 25) a.dispatched('batch', 100, 5, t);
    const query = { lane: 'batch', images: 5, ahead: 8, own: 3, queued: 8 };
    expect(a.decide({ ...query, now: 600, deadline: 740 })).toMatchObject({ reason: 'deadline' }); // 8 × 25 ms
    // Act: an interval without a shed ends the stand; the 25 ms samples are still recent
    expect(a.standing('batch', 1100)).toBe(false);
    // Assess: 8 ahead and 5 own at the pool's 10 ms finish in 130 ms
    expect(a.decide({ ...query, now: 1100, deadline: 1240 })).toEqual({ admit: true });
  });

  it('sheds what could not finish before its deadline because of the work ahead, never for its own cost', () => {
    const a = make();
    // 30 ahead + 5 own at 10 ms: done 350 ms from now
    expect(a.decide({ lane: 'batch', images: 5, ahead: 30, own: 30, queued: 30, now: 1000, deadline: 1349 })).toMatchObject({
      admit: false,
      reason: 'deadline',
    });
    expect(a.decide({ lane: 'batch', images: 5, ahead: 30, own: 30, queued: 30, now: 1000, deadline: 1350 })).toEqual({ admit: true });
    expect(a.decide({ lane: 'batch', images: 16, ahead: 0, own: 0, queued: 0, now: 1000, deadline: 1001 })).toEqual({ admit: true });
  });

  it('sheds past the hard queue bound, but never refuses the first request into an empty queue', () => {
    const a = make();
    expect(a.decide({ lane: 'single', images: 1, ahead: 0, own: 0, queued: 50, now: 0 })).toMatchObject({ admit: false, reason: 'queue-full' });
    expect(a.decide({ lane: 'batch', images: 64, ahead: 0, own: 0, queued: 0, now: 0 })).toEqual({ admit: true });
  });
});

describe('request deadlines', () => {
  it('reads X-Request-Timeout (ms) first, then grpc-timeout, capped at the route’s maximum', () => {
    expect(parseRequestTimeout({}, 10_000)).toBeUndefined();
    expect(parseRequestTimeout({ requestTimeout: '250' }, 10_000)).toBe(250);
    expect(parseRequestTimeout({ requestTimeout: '250', grpcTimeout: '1S' }, 10_000)).toBe(250);
    expect(parseRequestTimeout({ grpcTimeout: '2S' }, 10_000)).toBe(2000);
    expect(parseRequestTimeout({ grpcTimeout: '1500m' }, 10_000)).toBe(1500);
    expect(parseRequestTimeout({ grpcTimeout: '500000u' }, 10_000)).toBe(500);
    expect(parseRequestTimeout({ grpcTimeout: '1M' }, 10_000)).toBe(10_000);
  });

  it.each([
    [{ requestTimeout: 'soon' }],
    [{ requestTimeout: '0' }],
    [{ requestTimeout: '-5' }],
    [{ requestTimeout: '1.5' }],
    [{ grpcTimeout: '5' }],
    [{ grpcTimeout: '123456789S' }],
    [{ grpcTimeout: '5s' }],
  ])('refuses %j with 400', (headers) => {
    expect(() => parseRequestTimeout(headers, 10_000)).toThrow(expect.objectContaining({ statusCode: 400, code: 'BAD_REQUEST' }));
  });

  it("counts a client's deadline from when the gateway received the request, not from when the handler ran", () => {
    // received 300 ms ago (epoch clock), 1 s timeout, now 5000 on the engine clock
    expect(requestDeadline(1000, 3000, 99_700, 5000, 100_000)).toBe(5700);
    // no receipt time (a direct invocation): counted from now
    expect(requestDeadline(1000, 3000, undefined, 5000, 100_000)).toBe(6000);
  });

  it("counts a client's timeout from the gateway's receipt, and a route's default from the handler's start", () => {
    // received 4 s ago (a slow upload), now 5000 on the engine clock
    expect(requestDeadline(1000, 3000, 96_000, 5000, 100_000)).toBe(2000);
    expect(requestDeadline(undefined, 3000, 96_000, 5000, 100_000)).toBe(8000);
  });
});
