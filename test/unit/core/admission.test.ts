import { AdmissionController } from '../../../src/core/admission';

describe('AdmissionController', () => {
  const make = () => new AdmissionController({ maxQueueWaitMs: 100, maxQueuedImages: 50, initialIntervalMs: 10, alpha: 0.5 });

  it('always admits into an empty queue, even a large batch', () => {
    expect(make().decide(16, 0)).toEqual({ admit: true });
  });

  it('sheds when the predicted wait exceeds the budget, with a Retry-After of at least 1 s', () => {
    const a = make();
    expect(a.decide(1, 8)).toEqual({ admit: true }); // (8+1) × 10 ms = 90 ms
    expect(a.decide(2, 9)).toEqual({ admit: false, retryAfterSeconds: 1, predictedWaitMs: 110 });
  });

  it('predicts from the images served before the new ones when that is fewer than the whole queue', () => {
    const a = make();
    expect(a.decide(1, 40).admit).toBe(false); // (40+1) × 10 ms
    expect(a.decide(1, 40, 3)).toEqual({ admit: true }); // (3+1) × 10 ms
    expect(a.decide(1, 60, 3).admit).toBe(false); // the hard bound counts every queued image
  });

  it('sheds past the hard queue bound whatever the prediction', () => {
    const a = new AdmissionController({ maxQueueWaitMs: 1e9, maxQueuedImages: 5, initialIntervalMs: 1 });
    expect(a.decide(1, 5).admit).toBe(false);
  });

  it('learns the drain rate only from completions while work was queued', () => {
    const a = make();
    a.completed(0, true);
    a.completed(30, true); // gap 30 → interval 10 + 0.5 × 20 = 20
    expect(a.serviceIntervalMs).toBe(20);
    a.completed(5000, false); // idle gap: ignored
    expect(a.serviceIntervalMs).toBe(20);
    expect(a.decide(1, 5)).toEqual({ admit: false, retryAfterSeconds: 1, predictedWaitMs: 120 });
  });
});
