import { BadRequestError } from './errors';

/**
 * Admission control for interactive inference: the local counterpart of Lambda reserved concurrency plus API Gateway
 * throttling, on three ideas from the literature:
 *
 * - A burst is not overload (CoDel, RFC 8289): a queue is *standing* only when even the luckiest request of an interval
 *   waited longer than a target for its first image to run, i.e. the minimum sojourn stayed above it for a whole
 *   interval. Only then does the
 *   service shed, and it sheds what would wait longer than a budget (Facebook's "Fail at Scale" controlled delay:
 *   a short queue timeout while the queue has not been empty for a while, a long one otherwise).
 * - Cost-aware admission against a deadline (Google SRE, "Handling Overload"; gRPC deadline propagation): a request is
 *   refused only if the work queued ahead of it, at the measured service rate, would keep it from finishing in time.
 *   Its own images are its cost, not queueing: a 16-image batch behind an empty queue is always admitted.
 * - A service rate measured from the executor's own run durations (Little's law over the runs in flight), never from
 *   gaps between completions, which idle time and one huge image inflate. Beside it, each class's own drain rate
 *   (LaneDrain), from gaps between its dispatches only while its queue never emptied: the pool's rate times the
 *   turns queued now cannot see the higher classes' arrivals that will take turns meanwhile.
 *
 * Pure: times are milliseconds on whatever clock the caller passes (performance.now() in the engine, a simulated one
 * in tests).
 */
export interface AdmissionOptions {
  /** CoDel's target: the queueing delay (ms) that, held by every image for an interval, means a standing queue. */
  targetMs: number;
  /** CoDel's interval (ms): how long the minimum sojourn must stay above target; longer than any burst we absorb. */
  intervalMs: number;
  /** While a queue stands: the most queueing (ms) a newly admitted request may face. */
  overloadBudgetMs: number;
  /** Hard bound on queued images, whatever else says: memory, not latency. */
  maxQueuedImages: number;
  /** The pool's time per image (ms) until measured. */
  initialServiceMs: number;
  /** Run-duration samples the median is taken over. */
  window?: number;
}

/** The last `size` samples recorded, the oldest overwritten first. */
class RecentSamples<T> {
  private readonly items: T[] = [];
  private next = 0;

  constructor(private readonly size: number) {}

  record(sample: T): void {
    if (this.items.length < this.size) this.items.push(sample);
    else this.items[this.next] = sample;
    this.next = (this.next + 1) % this.size;
  }

  get all(): readonly T[] {
    return this.items;
  }
}

/**
 * The pool's time per image at full use, from executor runs. A run that took `durationMs` while on average
 * `concurrency` runs were in flight (itself included) drained `max(concurrency, parallelism) / durationMs` images per
 * ms: Little's law when the pool is busy, and one core per run while fewer runs than cores are in flight. A trimmed
 * mean of recent samples: the mean, because run times are skewed (an image held behind another in its worker waits
 * for it) and a median would promise more throughput than there is; trimmed, so one 40-megapixel decode does not make
 * every image look slow.
 */
export class ServiceTimeEstimator {
  private readonly samples: RecentSamples<number>;
  private estimate: number;

  constructor(initialMs: number, window = 64) {
    this.samples = new RecentSamples(window);
    this.estimate = initialMs;
  }

  /** Milliseconds of pool time per image. */
  get perImageMs(): number {
    return this.estimate;
  }

  observe(durationMs: number, concurrency: number, parallelism: number): void {
    if (!(durationMs > 0) || !(concurrency > 0)) return;
    const sample = durationMs / Math.max(concurrency, parallelism);
    this.samples.record(sample);
    const sorted = [...this.samples.all].sort((a, b) => a - b);
    const trim = sorted.length >= 3 ? Math.max(1, Math.floor(sorted.length / 10)) : 0;
    const kept = sorted.slice(trim, sorted.length - trim);
    this.estimate = kept.reduce((sum, v) => sum + v, 0) / kept.length;
  }
}

/**
 * One class of work's CoDel state. `standing` turns on when dispatched images' sojourn has stayed above target for a
 * whole interval, and off again once a whole interval went by without a request being shed (the offered load fits),
 * so the state does not flap with every image that happens to wait less. Within REENTRY_INTERVALS of the end of a
 * stand that shed, one image above target turns it on again: the clients it shed return together, and another whole
 * interval of admitting everything queued seconds of work. (CoDel itself waits an interval again and only resumes its
 * last drop rate; this is a shortcut of ours in that spirit.) A stand that shed nothing leaves no such memory, so
 * bursts below capacity never keep a lane standing.
 */
const REENTRY_INTERVALS = 2;

export class StandingQueue {
  private firstAboveAt: number | undefined;
  private since: number | undefined;
  private lastShedAt = Number.NEGATIVE_INFINITY;
  /** When the last stand that shed ended; -∞ when it shed nothing. */
  private endedAt = Number.NEGATIVE_INFINITY;
  private shedThisStand = false;

  constructor(
    private readonly targetMs: number,
    private readonly intervalMs: number,
  ) {}

  /**
   * An image of this class left the queue, leaving `backlog` of the class queued. `sojournMs` is how long its request
   * waited for its first image to run; undefined for the request's later images, whose wait behind their own request
   * is its cost, not queueing.
   */
  dispatched(sojournMs: number | undefined, backlog: number, now: number): void {
    this.expire(now);
    // A queue that empties was a burst, however long its last image waited (CoDel's "below one MTU").
    if (backlog === 0 || (sojournMs !== undefined && sojournMs < this.targetMs)) {
      this.firstAboveAt = undefined;
      return;
    }
    if (sojournMs === undefined || this.since !== undefined) return;
    if (now - this.endedAt < REENTRY_INTERVALS * this.intervalMs) this.stand(now);
    else if (this.firstAboveAt === undefined) this.firstAboveAt = now + this.intervalMs;
    else if (now >= this.firstAboveAt) this.stand(now);
  }

  private stand(now: number): void {
    this.since = now;
    this.lastShedAt = now;
    this.shedThisStand = false;
  }

  standing(now: number): boolean {
    this.expire(now);
    return this.since !== undefined;
  }

  /** Ends a stand once a whole interval went by without a shed (evaluated lazily, whenever the state is consulted). */
  private expire(now: number): void {
    if (this.since === undefined || now - this.lastShedAt < this.intervalMs) return;
    this.since = undefined;
    this.endedAt = this.shedThisStand ? this.lastShedAt + this.intervalMs : Number.NEGATIVE_INFINITY;
    this.firstAboveAt = undefined;
  }

  shed(now: number): void {
    this.lastShedAt = now;
    if (this.since !== undefined) this.shedThisStand = true;
  }
}

/**
 * How many CoDel intervals a class's drain-rate samples count for: past the two intervals in which a stand that shed
 * can resume, long enough that a slow lane (a batch image every 50-100 ms) still has samples.
 */
const DRAIN_HORIZON_INTERVALS = 8;

/**
 * How fast one class of work actually drains while it has a backlog: the mean time between its dispatches, counted
 * only across stretches where its queue never emptied (so idle time is not in it). A count of what is queued now
 * misses what the classes served first will bring meanwhile: at the onset of overload photos keep arriving and take
 * two turns in three, and batches admitted on the count of queued images waited three times the prediction.
 * Samples older than `horizonMs` are forgotten, so a past overload does not make a calm queue look slow.
 */
export class LaneDrain {
  private readonly gaps: RecentSamples<{ at: number; ms: number }>;
  /** The last dispatch, if it left images queued behind it (so the queue has not emptied since). */
  private lastDispatchAt: number | undefined;

  constructor(
    private readonly horizonMs: number,
    window = 32,
    private readonly minSamples = 4,
  ) {
    this.gaps = new RecentSamples(window);
  }

  /** An image was dispatched, leaving `backlog` of the class queued. */
  dispatched(backlog: number, now: number): void {
    if (this.lastDispatchAt !== undefined) this.gaps.record({ at: now, ms: now - this.lastDispatchAt });
    this.lastDispatchAt = backlog > 0 ? now : undefined;
  }

  /** The queue emptied without a dispatch (its last requests expired). */
  emptied(): void {
    this.lastDispatchAt = undefined;
  }

  /** Milliseconds per image of this class while backlogged, recently; undefined without enough recent samples. */
  msPerImage(now: number): number | undefined {
    const recent = this.gaps.all.filter((g) => now - g.at <= this.horizonMs);
    if (recent.length < this.minSamples) return undefined;
    return recent.reduce((sum, g) => sum + g.ms, 0) / recent.length;
  }
}

/** What a request would face in its class, as the scheduler counts it. */
export interface AdmissionQuery {
  /** The class (lane) the request joins. */
  lane: string;
  /** Classes served before it whose standing queue would hold it back as well (a standing queue above is overload too). */
  above?: readonly string[];
  images: number;
  /** Other requests' images that would run before the last of these. */
  ahead: number;
  /** Of those, the images of its own class queued before it: at the class's measured drain rate, its wait. */
  own: number;
  /** Every queued image, for the hard bound. */
  queued: number;
  now: number;
  /** When the client stops waiting, on the same clock; none: no deadline. */
  deadline?: number | undefined;
}

export type ShedReason = 'standing-queue' | 'deadline' | 'queue-full';

/**
 * What a refused request's predicted wait was counted from, so a refusal can say why: the images ahead of it at the
 * pool's rate, or its own lane's images ahead at the rate that lane has drained lately.
 */
export interface WaitBasis {
  by: 'pool' | 'lane';
  images: number;
  msPerImage: number;
}

export type AdmissionDecision =
  | { admit: true }
  | { admit: false; reason: ShedReason; retryAfterSeconds: number; predictedWaitMs: number; basis: WaitBasis };

export class AdmissionController {
  private readonly estimator: ServiceTimeEstimator;
  private readonly lanes = new Map<string, StandingQueue>();
  private readonly drains = new Map<string, LaneDrain>();
  constructor(private readonly options: AdmissionOptions) {
    this.estimator = new ServiceTimeEstimator(options.initialServiceMs, options.window);
  }

  /** Milliseconds of pool time per image, as measured. */
  get perImageMs(): number {
    return this.estimator.perImageMs;
  }

  private lane(name: string): StandingQueue {
    let q = this.lanes.get(name);
    if (!q) {
      q = new StandingQueue(this.options.targetMs, this.options.intervalMs);
      this.lanes.set(name, q);
    }
    return q;
  }

  private drain(name: string): LaneDrain {
    let d = this.drains.get(name);
    if (!d) {
      d = new LaneDrain(DRAIN_HORIZON_INTERVALS * this.options.intervalMs);
      this.drains.set(name, d);
    }
    return d;
  }

  /** A run finished: see ServiceTimeEstimator. */
  ran(durationMs: number, concurrency: number, parallelism: number): void {
    this.estimator.observe(durationMs, concurrency, parallelism);
  }

  /** An image of `lane` was dispatched, leaving `backlog` images of that lane queued: see StandingQueue.dispatched. */
  dispatched(lane: string, sojournMs: number | undefined, backlog: number, now: number): void {
    this.lane(lane).dispatched(sojournMs, backlog, now);
    this.drain(lane).dispatched(backlog, now);
  }

  /** `lane`'s queue emptied without a dispatch: see LaneDrain.emptied. */
  emptied(lane: string): void {
    this.drain(lane).emptied();
  }

  /** Whether `lane` has a standing queue now (it sheds what would wait past the budget). */
  standing(lane: string, now: number): boolean {
    return this.lane(lane).standing(now);
  }

  /** Whether `lane`, or a lane served before it, has a standing queue now. */
  overloaded(lane: string, above: readonly string[], now: number): boolean {
    return this.standing(lane, now) || above.some((l) => this.standing(l, now));
  }

  decide(q: AdmissionQuery): AdmissionDecision {
    const overloaded = this.overloaded(q.lane, q.above ?? [], q.now);
    // While a queue stands, two predictions and the larger wins: the work queued now at the pool's rate, and the images
    // of its own lane at the rate that lane has drained lately (which counts what the lanes served first bring
    // meanwhile, its own images included). Otherwise the pool's rate alone: a drain rate learnt in an overload that
    // has just ended would refuse a calm request its deadline.
    const drainMs = overloaded ? this.drain(q.lane).msPerImage(q.now) : undefined;
    const poolWaitMs = q.ahead * this.perImageMs;
    const basis: WaitBasis =
      drainMs !== undefined && q.own * drainMs > poolWaitMs
        ? { by: 'lane', images: q.own, msPerImage: drainMs }
        : { by: 'pool', images: q.ahead, msPerImage: this.perImageMs };
    const waitMs = basis.images * basis.msPerImage;
    const finishMs = Math.max(waitMs + q.images * this.perImageMs, drainMs === undefined ? 0 : (q.own + q.images) * drainMs);
    const shed = (reason: ShedReason): AdmissionDecision => {
      this.lane(q.lane).shed(q.now);
      return { admit: false, reason, retryAfterSeconds: Math.min(30, Math.max(1, Math.ceil(waitMs / 1000))), predictedWaitMs: waitMs, basis };
    };
    if (q.queued + q.images > this.options.maxQueuedImages && q.queued > 0) return shed('queue-full');
    // Only queueing can make a request late here: with nothing ahead it runs at once, whatever it costs.
    if (q.deadline !== undefined && q.ahead > 0 && q.now + finishMs > q.deadline) return shed('deadline');
    if (waitMs > this.options.overloadBudgetMs && overloaded) return shed('standing-queue');
    return { admit: true };
  }
}

const GRPC_UNIT_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

/**
 * The client's timeout in ms from `X-Request-Timeout` (milliseconds) or `grpc-timeout` (gRPC's `<1–8 digits><unit>`,
 * unit H, M, S, m, u or n), capped at `maxMs`; undefined when neither is sent. A malformed value is a 400: a client
 * that asked for a deadline must not silently get another.
 */
export function parseRequestTimeout(
  headers: { requestTimeout?: string | undefined; grpcTimeout?: string | undefined },
  maxMs: number,
): number | undefined {
  let ms: number | undefined;
  if (headers.requestTimeout !== undefined) {
    const raw = headers.requestTimeout.trim();
    if (!/^\d{1,9}$/.test(raw) || Number(raw) === 0) throw new BadRequestError('X-Request-Timeout must be a positive whole number of milliseconds');
    ms = Number(raw);
  } else if (headers.grpcTimeout !== undefined) {
    const m = /^(\d{1,8})([HMSmun])$/.exec(headers.grpcTimeout.trim());
    const unit = m?.[2] === undefined ? undefined : GRPC_UNIT_MS[m[2]];
    if (!m?.[1] || unit === undefined || Number(m[1]) === 0)
      throw new BadRequestError('grpc-timeout must be 1 to 8 digits and a unit (H, M, S, m, u, n)');
    ms = Number(m[1]) * unit;
  }
  return ms === undefined ? undefined : Math.min(ms, maxMs);
}

/**
 * A request's deadline on the performance.now() clock. A client's own timeout counts from when the gateway received
 * the request (API Gateway's and serverless-offline's `requestTimeEpoch`): the client's clock started when it sent it.
 * A route's default counts from the handler's start, once the body is in: a client that asked for no deadline is not
 * refused for a slow upload or a busy HTTP thread, only kept from waiting in our queue without end.
 */
export function requestDeadline(
  clientTimeoutMs: number | undefined,
  defaultMs: number,
  receivedEpochMs: number | undefined,
  now = performance.now(),
  epochNow = Date.now(),
): number {
  if (clientTimeoutMs === undefined) return now + defaultMs;
  const waited = typeof receivedEpochMs === 'number' && receivedEpochMs > 0 ? Math.max(0, epochNow - receivedEpochMs) : 0;
  return now - waited + clientTimeoutMs;
}
