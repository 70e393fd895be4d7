import { AdmissionController } from '../../core/admission';
import { OverloadedError } from '../../core/errors';
import type { EngineStats, InferenceEngine, Priority, ScoresOrError } from '../../core/ports';
import type { Executor } from './executor';

export interface SchedulerOptions {
  maxQueueWaitMs: number;
  maxQueuedImages: number;
  /** Starting guess of the time between completions (ms) until measured. */
  initialIntervalMs: number;
  /** Out of every this-many dispatches while both queues wait, one goes to background work, so it never starves. */
  backgroundShare?: number;
}

interface Job {
  model: string;
  bytes: Uint8Array;
  enqueuedAt: number;
  resolve: (r: ScoresOrError) => void;
}

/**
 * Local mode's engine: every invocation of the process shares it. Interactive images are admitted or shed
 * at once by an AdmissionController (the local counterpart of reserved concurrency + API Gateway
 * throttling); background (batch-path) images queue behind them with a guaranteed share. At most
 * `executor.slots` images run at once, so the cores are kept busy but never oversubscribed.
 */
export class ScheduledEngine implements InferenceEngine {
  private readonly interactive: Job[] = [];
  private readonly background: Job[] = [];
  private readonly admission: AdmissionController;
  private running = 0;
  private dispatches = 0;
  private shedCount = 0;

  constructor(
    private readonly executor: Executor,
    private readonly options: SchedulerOptions,
  ) {
    this.admission = new AdmissionController({
      maxQueueWaitMs: options.maxQueueWaitMs,
      maxQueuedImages: options.maxQueuedImages,
      initialIntervalMs: options.initialIntervalMs,
    });
  }

  ready(): Promise<void> {
    return this.executor.ready();
  }

  precheck(images: number, priority: Priority): void {
    if (priority !== 'interactive') return;
    const decision = this.admission.decide(images, this.interactive.length);
    if (!decision.admit) {
      this.shedCount += images;
      throw new OverloadedError(
        `at capacity: ${this.interactive.length} images queued, predicted wait ${Math.round(decision.predictedWaitMs)} ms`,
        decision.retryAfterSeconds,
      );
    }
  }

  async infer(model: string, images: readonly Uint8Array[], priority: Priority): Promise<ScoresOrError[]> {
    await this.executor.ready();
    this.precheck(images.length, priority);
    const queue = priority === 'interactive' ? this.interactive : this.background;
    const now = performance.now();
    const results = images.map((bytes) => new Promise<ScoresOrError>((resolve) => queue.push({ model, bytes, enqueuedAt: now, resolve })));
    this.pump();
    return Promise.all(results);
  }

  private pump(): void {
    const share = this.options.backgroundShare ?? 4;
    while (this.running < this.executor.slots) {
      const takeBackground = this.background.length > 0 && (this.interactive.length === 0 || this.dispatches % share === share - 1);
      const job = takeBackground ? this.background.shift() : this.interactive.shift();
      if (!job) return;
      this.dispatches++;
      this.running++;
      const queueMs = performance.now() - job.enqueuedAt;
      this.executor.run(job.model, job.bytes).then(
        (r) => this.settle(job, r.ok ? { ok: true, value: { scores: r.scores, decodeMs: r.decodeMs, inferMs: r.inferMs, queueMs, image: r.image } } : r),
        (err: unknown) =>
          this.settle(job, { ok: false, error: { code: 'INTERNAL', statusCode: 500, message: err instanceof Error ? err.message : String(err) } }),
      );
    }
  }

  private settle(job: Job, result: ScoresOrError): void {
    this.running--;
    this.admission.completed(performance.now(), this.interactive.length + this.background.length > 0);
    job.resolve(result);
    this.pump();
  }

  stats(): EngineStats {
    return {
      kind: this.executor.kind === 'workers' ? 'pool' : 'scheduled',
      workers: this.executor.kind === 'workers' ? this.executor.slots : 1,
      inFlight: this.running,
      queued: this.interactive.length + this.background.length,
      shed: this.shedCount,
    };
  }

  close(): Promise<void> {
    return this.executor.close();
  }
}
