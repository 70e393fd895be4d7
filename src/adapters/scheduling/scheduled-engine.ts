import { AdmissionController, type AdmissionDecision } from '../../core/admission';
import { OverloadedError, TimeoutError, toErrorRecord } from '../../core/errors';
import type { Deadline, EngineStats, InferenceEngine, Priority, ScoresOrError } from '../../core/ports';
import type { Executor } from './executor';
import { type LaneOrder, LaneQueue } from './lane-queue';

export interface SchedulerOptions {
  /** While a lane's queue stands: the most queueing (ms) a newly admitted request may face (MAX_QUEUE_WAIT_MS). */
  maxQueueWaitMs: number;
  maxQueuedImages: number;
  /** Starting guess of the pool time per image (ms) until measured. */
  initialServiceMs: number;
  /** CoDel's target (ms): see core/admission.ts. */
  targetMs?: number;
  /** CoDel's interval (ms). */
  intervalMs?: number;
  /** While single photos wait, one dispatch in this many still goes to multi-image requests, after batchGraceMs. */
  batchShare?: number;
  /**
   * How long (ms; default: targetMs) the oldest multi-image request waits behind single photos before batchShare
   * applies. A burst shorter than CoDel's target is not overload, so within it single photos go first.
   */
  batchGraceMs?: number;
  /** Out of every this-many dispatches while interactive work waits, one goes to background work, so it never starves. */
  backgroundShare?: number;
  /** The clock (ms); performance.now() unless a test simulates one. */
  now?: () => number;
}

/** One call of infer(): its images settle it together, or its deadline fails it as a whole. */
interface Request {
  deadline: Deadline | undefined;
  settled: boolean;
  /** Whether one of its images has run: only the wait for the first is queueing (see core/admission.ts). */
  started: boolean;
  fail(err: Error): void;
}

/** One image of a request, waiting in its lane for an executor slot. */
interface QueuedImage {
  model: string;
  bytes: Uint8Array;
  enqueuedAt: number;
  request: Request;
  resolve: (r: ScoresOrError) => void;
}

/** 504 TIMEOUT for a request dropped unclassified, after waiting in the queue. */
const expired = (waitedMs: number): TimeoutError =>
  new TimeoutError(`the request's deadline passed after ${Math.round(waitedMs)} ms in the queue; nothing was classified`);

/** 504 TIMEOUT for a request whose deadline had passed, `lateMs` ago, when it reached the queue. */
const lateOnArrival = (lateMs: number): TimeoutError =>
  new TimeoutError(
    lateMs < 1
      ? "the request's deadline passed as it reached the queue; nothing was classified"
      : `the request's deadline passed ${Math.round(lateMs)} ms before it reached the queue; nothing was classified`,
  );

export type LaneName = 'single' | 'batch' | 'background';
/** The lanes admission control guards; background (batch-path) work is never shed. */
export type InteractiveLane = Exclude<LaneName, 'background'>;

/**
 * One class of work: served after the lanes before it, except that every `every`-th turn it waited is its own, once its
 * oldest image has waited `graceMs`.
 */
interface Lane {
  readonly name: LaneName;
  readonly queue: LaneQueue<QueuedImage>;
  readonly every: number;
  readonly graceMs: number;
  waited: number;
  /** Its images running now. */
  running: number;
}

/**
 * Local mode's engine: every invocation of the process shares it. Interactive requests are admitted or shed at once by
 * an AdmissionController (the local counterpart of reserved concurrency + API Gateway throttling), which sheds only
 * while a lane's queue stands and only what its deadline or the standing-queue budget cannot afford. Three lanes share
 * the executor: single photos (the mobile clients waiting on a screen) first, then the images of multi-image
 * requests, then background (batch-path) work; each lower lane keeps a guaranteed share, so nothing starves. Within a
 * lane, requests are served in arrival order, except background ones, which take turns image by image. At most
 * `executor.slots` images run at once, so the cores are kept busy but never oversubscribed. A request whose deadline
 * passes while it waits is dropped before any of its images run.
 */
export class ScheduledEngine implements InferenceEngine {
  /** In priority order. */
  private readonly lanes: readonly Lane[];
  private readonly byName: Readonly<Record<LaneName, Lane>>;
  private readonly admission: AdmissionController;
  private readonly now: () => number;
  private running = 0;
  private shedCount = 0;
  /** Requests shed, by lane and reason: `single/standing-queue` … */
  private readonly shedBy = new Map<string, number>();
  private expiredCount = 0;
  /** ∫ running dt since start, so each run knows how many shared the pool with it on average. */
  private busyIntegral = 0;
  private lastChange = 0;

  constructor(
    private readonly executor: Executor,
    options: SchedulerOptions,
  ) {
    this.now = options.now ?? (() => performance.now());
    this.lastChange = this.now();
    this.admission = new AdmissionController({
      targetMs: options.targetMs ?? 50,
      intervalMs: options.intervalMs ?? 500,
      overloadBudgetMs: options.maxQueueWaitMs,
      maxQueuedImages: options.maxQueuedImages,
      initialServiceMs: options.initialServiceMs,
    });
    const lane = (name: LaneName, order: LaneOrder, every: number, graceMs = 0): Lane => ({
      name,
      queue: new LaneQueue<QueuedImage>(order),
      every,
      graceMs,
      waited: 0,
      running: 0,
    });
    // Multi-image requests in arrival order: a batch's wait is then what admission predicts (in turns, every later
    // batch takes turns too). The price: 2 images wait behind a whole 16 queued before them (MAX_BATCH_IMAGES caps
    // it). Background work takes turns: one batch-path invocation must not hold up the others.
    this.byName = {
      single: lane('single', 'arrival', Number.POSITIVE_INFINITY),
      batch: lane('batch', 'arrival', options.batchShare ?? 3, options.batchGraceMs ?? options.targetMs ?? 50),
      background: lane('background', 'turns', options.backgroundShare ?? 4),
    };
    this.lanes = [this.byName.single, this.byName.batch, this.byName.background];
  }

  ready(): Promise<void> {
    return this.executor.ready();
  }

  precheck(images: number, priority: Priority, deadline?: Deadline): void {
    if (priority !== 'interactive') return;
    const now = this.now();
    if (deadline !== undefined && now >= deadline) {
      // Only a client's own timeout can be spent before the handler runs (a route's default starts there): that client
      // has stopped waiting, so this is a timeout, whatever is queued, and not a shed that would count as overload.
      this.expiredCount++;
      throw lateOnArrival(now - deadline);
    }
    const lane = this.laneFor(images, priority);
    const { ahead, own } = this.imagesAhead(lane, images, now);
    const decision = this.admission.decide({
      lane: lane.name,
      above: this.guardedAbove(lane),
      images,
      ahead,
      own,
      queued: this.queued(),
      now,
      deadline,
    });
    if (!decision.admit) throw this.refusal(lane.name, decision);
  }

  /**
   * For the HTTP front door, before a body is read: the OverloadedError a one-image request of `lane` would get now,
   * if that lane has a standing queue; undefined otherwise. Cheap when nothing stands.
   */
  shedEarly(lane: InteractiveLane): OverloadedError | undefined {
    const now = this.now();
    const above = this.guardedAbove(this.byName[lane]);
    if (!this.admission.overloaded(lane, above, now)) return undefined;
    const { ahead, own } = this.imagesAhead(this.byName[lane], 1, now);
    const decision = this.admission.decide({ lane, above, images: 1, ahead, own, queued: this.queued(), now });
    return decision.admit ? undefined : this.refusal(lane, decision);
  }

  private refusal(lane: LaneName, d: Exclude<AdmissionDecision, { admit: true }>): OverloadedError {
    this.shedCount++;
    const key = `${lane}/${d.reason}`;
    this.shedBy.set(key, (this.shedBy.get(key) ?? 0) + 1);
    const { by, images, msPerImage } = d.basis;
    const rate = `${msPerImage.toFixed(1)} ms per image`;
    const counted = by === 'lane' ? `${images} images ahead in its lane, which drains at ${rate}` : `${images} images ahead at ${rate}`;
    const wait = `${counted}: predicted wait ${Math.round(d.predictedWaitMs)} ms`;
    const message =
      d.reason === 'queue-full'
        ? `at capacity: ${this.queued()} images queued`
        : d.reason === 'deadline'
          ? `cannot finish before the request's deadline: ${wait}`
          : `overloaded (a standing queue): ${wait}`;
    return new OverloadedError(message, d.retryAfterSeconds);
  }

  async infer(model: string, images: readonly Uint8Array[], priority: Priority, deadline?: Deadline): Promise<ScoresOrError[]> {
    await this.executor.ready();
    this.precheck(images.length, priority, deadline);
    if (images.length === 0) return [];
    const now = this.now();
    return new Promise<ScoresOrError[]>((resolve, reject) => {
      const results: ScoresOrError[] = new Array(images.length);
      let left = images.length;
      const request: Request = {
        deadline,
        settled: false,
        started: false,
        fail: (err) => {
          if (request.settled) return;
          request.settled = true;
          reject(err);
        },
      };
      const queued = images.map(
        (bytes, i): QueuedImage => ({
          model,
          bytes,
          enqueuedAt: now,
          request,
          resolve: (r) => {
            if (request.settled) return;
            results[i] = r;
            if (--left === 0) {
              request.settled = true;
              resolve(results);
            }
          },
        }),
      );
      this.laneFor(images.length, priority).queue.push(queued);
      this.pump();
    });
  }

  /** The guarded lanes served before `lane`. */
  private guardedAbove(lane: Lane): string[] {
    return this.lanes.slice(0, this.lanes.indexOf(lane)).flatMap((l) => (l.name === 'background' ? [] : [l.name]));
  }

  private laneFor(images: number, priority: Priority): Lane {
    return this.byName[priority === 'background' ? 'background' : images === 1 ? 'single' : 'batch'];
  }

  private queued(): number {
    return this.lanes.reduce((n, l) => n + l.queue.length, 0);
  }

  /**
   * Other requests' images that would run before the last of `n` new ones in `lane`: each request's turns in its own
   * lane; of the lanes above, what they get while this one takes its one turn in `every`; and the shares the lanes
   * below are owed meanwhile. Counting every image above would make a batch wait for all queued photos, which it
   * does not; but a lane above whose queue stands refills as fast as it drains, so it takes all its turns.
   * Future arrivals are not counted otherwise: this is the work queued ahead, not a forecast. `own`: the images of
   * its own lane among them (admission times those at the lane's drain rate).
   */
  private imagesAhead(lane: Lane, n: number, now: number): { ahead: number; own: number } {
    const at = this.lanes.indexOf(lane);
    const own = lane.queue.aheadOf(n);
    const above = this.lanes.slice(0, at);
    const queuedAbove = above.reduce((sum, l) => sum + l.queue.length, 0);
    const turnsAbove = (own + n) * (lane.every - 1);
    const standingAbove = this.guardedAbove(lane).some((l) => this.admission.standing(l, now));
    let ahead = own + (standingAbove ? turnsAbove : Math.min(queuedAbove, turnsAbove));
    const served = ahead + n;
    // A lane below with work keeps its share while this request waits: its requests bring several images each.
    for (const l of this.lanes.slice(at + 1)) if (l.queue.length > 0) ahead += Math.ceil(served / (l.every - 1));
    return { ahead, own };
  }

  /**
   * The highest lane with work, unless a lower one has waited its turn (and, if `graced`, its grace). With `reserved`, a
   * lower lane runs only on its turn, and only beside queued photos, never merely because the lanes above it are empty.
   */
  private pick(now: number, graced: boolean, reserved: boolean): { lane: Lane; image: QueuedImage } | undefined {
    const waiting = this.lanes.filter((l) => l.queue.length > 0);
    const first = waiting[0];
    if (!first || (reserved && first !== this.lanes[0])) return undefined;
    const due = waiting.slice(1).find((l) => l.waited >= l.every - 1 && (!graced || now - (l.queue.peek()?.enqueuedAt ?? now) >= l.graceMs));
    const chosen = due ?? first;
    for (const l of waiting) l.waited = l === chosen ? 0 : l.waited + 1;
    const image = chosen.queue.shift();
    return image ? { lane: chosen, image } : undefined;
  }

  private advance(now: number): void {
    this.busyIntegral += this.running * (now - this.lastChange);
    this.lastChange = now;
  }

  private pump(): void {
    while (this.running < this.executor.slots) {
      const now = this.now();
      // Below saturation, photos come first in two more ways. A batch's share waits out its grace: a burst shorter than
      // CoDel's target is not overload. And while a photo waits or runs, other work gets no slot beyond one per worker:
      // the extra slots let a worker decode one image while it infers another, so they also make a photo share the
      // cores with twice as many images (at 100 Locust users its decode took 10-30 ms instead of 5). Once the photo
      // lane stands, goodput comes first: the extra slots keep a worker busy between its images.
      const calm = !this.admission.standing('single', now);
      const photos = this.byName.single;
      const photoActive = photos.running > 0 || photos.queue.length > 0;
      const picked = this.pick(now, calm, calm && photoActive && this.running >= this.executor.parallelism);
      if (!picked) return;
      const { lane, image } = picked;
      if (image.request.deadline !== undefined && now >= image.request.deadline) {
        // Nobody waits for it any more: drop all of it, never computing what no client will read.
        lane.queue.drop((q) => q.request === image.request);
        if (lane.queue.length === 0 && lane.name !== 'background') this.admission.emptied(lane.name);
        this.expiredCount++;
        image.request.fail(expired(now - image.enqueuedAt));
        continue;
      }
      if (lane.name !== 'background')
        this.admission.dispatched(lane.name, image.request.started ? undefined : now - image.enqueuedAt, lane.queue.length, now);
      image.request.started = true;
      this.advance(now);
      this.running++;
      lane.running++;
      const startedAt = now;
      const integralAtStart = this.busyIntegral;
      const queueMs = now - image.enqueuedAt;
      this.executor.run(image.model, image.bytes).then(
        (r) => {
          this.settle(lane, startedAt, integralAtStart, r.ok);
          image.resolve(r.ok ? { ok: true, value: { scores: r.scores, decodeMs: r.decodeMs, inferMs: r.inferMs, queueMs, image: r.image } } : r);
          this.pump();
        },
        (err: unknown) => {
          this.settle(lane, startedAt, integralAtStart, false);
          image.resolve({ ok: false, error: toErrorRecord(err) });
          this.pump();
        },
      );
    }
  }

  /** Only runs that classified an image measure the service: a refused image costs a header parse, not a decode. */
  private settle(lane: Lane, startedAt: number, integralAtStart: number, measured: boolean): void {
    const now = this.now();
    this.advance(now);
    const durationMs = now - startedAt;
    if (measured && durationMs > 0) this.admission.ran(durationMs, (this.busyIntegral - integralAtStart) / durationMs, this.executor.parallelism);
    this.running--;
    lane.running--;
  }

  /** Requests shed so far, by lane and reason. */
  shedCounts(): ReadonlyMap<string, number> {
    return this.shedBy;
  }

  stats(): EngineStats {
    const now = this.now();
    return {
      kind: this.executor.mode,
      workers: this.executor.parallelism,
      inFlight: this.running,
      queued: this.queued(),
      shed: this.shedCount,
      expired: this.expiredCount,
      perImageMs: this.admission.perImageMs,
      standing: (['single', 'batch'] as const).filter((l) => this.admission.standing(l, now)),
    };
  }

  close(): Promise<void> {
    return this.executor.close();
  }
}
