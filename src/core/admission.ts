/**
 * Admission control for interactive inference: the local counterpart of Lambda reserved concurrency plus
 * API Gateway throttling. It predicts how long a new image would wait behind the queue and sheds the
 * request at once (with a Retry-After) instead of letting every client wait without bound.
 */
export interface AdmissionOptions {
  maxQueueWaitMs: number;
  maxQueuedImages: number;
  /** Starting guess of the pool's time between completions (ms), before any measurement. */
  initialIntervalMs: number;
  /** Weight of a new sample in the moving average. */
  alpha?: number;
}

export type AdmissionDecision = { admit: true } | { admit: false; retryAfterSeconds: number; predictedWaitMs: number };

export class AdmissionController {
  private intervalMs: number;
  private lastCompletion: number | undefined;
  private readonly alpha: number;

  constructor(private readonly options: AdmissionOptions) {
    this.intervalMs = options.initialIntervalMs;
    this.alpha = options.alpha ?? 0.1;
  }

  /** Mean time between completed images while the pool is saturated: the inverse of its throughput. */
  get serviceIntervalMs(): number {
    return this.intervalMs;
  }

  /**
   * Decides for `images` new images with `queued` images already waiting, of which `ahead` would be served
   * before the last new one (all of them under FIFO; fewer when requests take turns).
   */
  decide(images: number, queued: number, ahead = queued): AdmissionDecision {
    const predictedWaitMs = (ahead + images) * this.intervalMs;
    if (queued === 0 || (predictedWaitMs <= this.options.maxQueueWaitMs && queued + images <= this.options.maxQueuedImages)) {
      return { admit: true };
    }
    return { admit: false, retryAfterSeconds: Math.max(1, Math.ceil(predictedWaitMs / 1000)), predictedWaitMs };
  }

  /**
   * Records a completion at `now`. Only gaps measured while work was still queued say how fast the pool
   * drains; idle gaps would make it look slower than it is.
   */
  completed(now: number, stillQueued: boolean): void {
    if (this.lastCompletion !== undefined && stillQueued) {
      const gap = now - this.lastCompletion;
      this.intervalMs += this.alpha * (gap - this.intervalMs);
    }
    this.lastCompletion = now;
  }
}
