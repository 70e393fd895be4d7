import { AdmissionController } from '../../core/admission';
import { OverloadedError } from '../../core/errors';
import type { EngineStats, InferenceEngine, Priority, ScoresOrError } from '../../core/ports';
import type { Executor } from './executor';
import { FairQueue } from './fair-queue';

export interface SchedulerOptions {
  maxQueueWaitMs: number;
  maxQueuedImages: number;
  /** Starting guess of the time between completions (ms) until measured. */
  initialIntervalMs: number;
  /** While single photos wait, one dispatch in this many still goes to multi-image requests. */
  batchShare?: number;
  /** Out of every this-many dispatches while interactive work waits, one goes to background work, so it never starves. */
  backgroundShare?: number;
}

interface Job {
  model: string;
  bytes: Uint8Array;
  enqueuedAt: number;
  resolve: (r: ScoresOrError) => void;
}

type LaneName = 'single' | 'batch' | 'background';

/** One class of work: served after the lanes before it, except that every `every`-th turn it waited is its own. */
interface Lane {
  readonly name: LaneName;
  readonly queue: FairQueue<Job>;
  readonly every: number;
  waited: number;
}

/**
 * Local mode's engine: every invocation of the process shares it. Interactive images are admitted or shed
 * at once by an AdmissionController (the local counterpart of reserved concurrency + API Gateway
 * throttling). Three lanes share the executor: single photos (the mobile clients waiting on a screen) first,
 * then the images of multi-image requests, then background (batch-path) work; each lower lane keeps a
 * guaranteed share, so nothing starves. Within a lane, requests take turns image by image. At most
 * `executor.slots` images run at once, so the cores are kept busy but never oversubscribed.
 */
export class ScheduledEngine implements InferenceEngine {
  /** In priority order. */
  private readonly lanes: readonly Lane[];
  private readonly byName: Readonly<Record<LaneName, Lane>>;
  private readonly admission: AdmissionController;
  private running = 0;
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
    const lane = (name: LaneName, every: number): Lane => ({ name, queue: new FairQueue<Job>(), every, waited: 0 });
    this.byName = {
      single: lane('single', Number.POSITIVE_INFINITY),
      batch: lane('batch', options.batchShare ?? 3),
      background: lane('background', options.backgroundShare ?? 4),
    };
    this.lanes = [this.byName.single, this.byName.batch, this.byName.background];
  }

  ready(): Promise<void> {
    return this.executor.ready();
  }

  precheck(images: number, priority: Priority): void {
    if (priority !== 'interactive') return;
    const queued = this.queued();
    const decision = this.admission.decide(images, queued, this.imagesAhead(this.laneFor(images, priority), images));
    if (!decision.admit) {
      this.shedCount += images;
      throw new OverloadedError(
        `at capacity: ${queued} images queued, predicted wait ${Math.round(decision.predictedWaitMs)} ms`,
        decision.retryAfterSeconds,
      );
    }
  }

  async infer(model: string, images: readonly Uint8Array[], priority: Priority): Promise<ScoresOrError[]> {
    await this.executor.ready();
    this.precheck(images.length, priority);
    const now = performance.now();
    const jobs: Job[] = [];
    const results = images.map((bytes) => new Promise<ScoresOrError>((resolve) => jobs.push({ model, bytes, enqueuedAt: now, resolve })));
    this.laneFor(images.length, priority).queue.push(jobs);
    this.pump();
    return Promise.all(results);
  }

  private laneFor(images: number, priority: Priority): Lane {
    return this.byName[priority === 'background' ? 'background' : images === 1 ? 'single' : 'batch'];
  }

  private queued(): number {
    return this.lanes.reduce((n, l) => n + l.queue.length, 0);
  }

  /**
   * Images that would run before the last of `n` new ones in `lane`: everything queued in the lanes above,
   * each request's turns in its own lane, and the shares the lanes below are owed meanwhile.
   */
  private imagesAhead(lane: Lane, n: number): number {
    const at = this.lanes.indexOf(lane);
    let ahead = 0;
    this.lanes.forEach((l, i) => {
      if (i < at) ahead += l.queue.length;
      else if (i === at) ahead += l.queue.aheadOf(n);
    });
    const served = ahead + n;
    for (const l of this.lanes.slice(at + 1)) ahead += Math.min(l.queue.length, Math.ceil(served / (l.every - 1)));
    return ahead;
  }

  /** The highest lane with work, unless a lower one has waited its turn. */
  private pick(): Job | undefined {
    const waiting = this.lanes.filter((l) => l.queue.length > 0);
    const first = waiting[0];
    if (!first) return undefined;
    const due = waiting.slice(1).find((l) => l.waited >= l.every - 1);
    const chosen = due ?? first;
    for (const l of waiting) l.waited = l === chosen ? 0 : l.waited + 1;
    return chosen.queue.shift();
  }

  private pump(): void {
    while (this.running < this.executor.slots) {
      const job = this.pick();
      if (!job) return;
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
    this.admission.completed(performance.now(), this.queued() > 0);
    job.resolve(result);
    this.pump();
  }

  stats(): EngineStats {
    return {
      kind: this.executor.kind === 'workers' ? 'pool' : 'scheduled',
      workers: this.executor.kind === 'workers' ? this.executor.slots : 1,
      inFlight: this.running,
      queued: this.queued(),
      shed: this.shedCount,
    };
  }

  close(): Promise<void> {
    return this.executor.close();
  }
}
