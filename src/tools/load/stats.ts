/** One request as written by artillery/processor.js (one JSON line each). */
export interface Sample {
  /** Epoch ms when the response (or error) arrived. */
  t: number;
  /** Endpoint label, e.g. "POST /predict". */
  ep: string;
  /** HTTP status; 0 for a socket error or timeout. */
  s: number;
  /** Latency in ms (whole response). */
  ms: number;
  o: 'ok' | 'shed' | 'failure';
  err?: string;
  /** User class: predict, light, heavy, uploader. */
  c?: string;
  /** In-function duration in ms, the answer's `timings.totalMs` (POST /predict and /predict/batch); absent in older files. */
  fnMs?: number;
  /** Images this 2xx answer classified (1 for /predict; a batch's count less its failed slots); absent in older files. */
  n?: number;
  /** 1 when the answer came from the response cache (`X-Cache: hit`). */
  hit?: 1;
}

/** The percentiles Locust prints; Artillery reports only some of them. */
export const PERCENTILES = [50, 66, 75, 80, 90, 95, 98, 99, 99.9] as const;

/** Nearest-rank percentile of an ascending array (0 for an empty one). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  const i = Math.min(sorted.length - 1, Math.max(0, rank - 1));
  return sorted[i] ?? 0;
}

/** The nearest-rank median of values in any order. */
export const median = (values: readonly number[]): number =>
  percentile(
    [...values].sort((a, b) => a - b),
    50,
  );

export interface LatencyStats {
  count: number;
  min: number;
  max: number;
  mean: number;
  median: number;
  p95: number;
  p99: number;
  /** Keyed by the percentile as text: "50", "99.9". */
  percentiles: Record<string, number>;
}

export function latencyStats(values: readonly number[]): LatencyStats {
  const sorted = [...values].sort((a, b) => a - b);
  const sum = sorted.reduce((a, b) => a + b, 0);
  const percentiles: Record<string, number> = {};
  for (const p of PERCENTILES) percentiles[String(p)] = percentile(sorted, p);
  return {
    count: sorted.length,
    min: sorted[0] ?? 0,
    max: sorted[sorted.length - 1] ?? 0,
    mean: sorted.length > 0 ? sum / sorted.length : 0,
    median: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    percentiles,
  };
}

export interface Counts {
  requests: number;
  ok: number;
  /** Non-2xx answers other than shed, plus socket errors and timeouts. */
  failures: number;
  /** 503/429 with Retry-After: the service protecting itself. Not a success, not a failure. */
  shed: number;
}

export interface EndpointStats extends Counts {
  endpoint: string;
  rps: number;
  latency: LatencyStats;
  /** Over 2xx answers only: what a served client waited. */
  served: LatencyStats;
}

export interface TimelinePoint {
  /** Seconds since the run's first request started. */
  x: number;
  rps: number;
  p50: number;
  p95: number;
  p99: number;
  failures: number;
  shed: number;
}

export interface RunStats extends Counts {
  startedAt: number;
  durationS: number;
  rps: number;
  /** Successful (2xx) requests per second: what a throughput ceiling is about. */
  okRps: number;
  failureRate: number;
  shedRate: number;
  /** (failures + shed) / requests: what the readiness verdict calls the error rate. */
  nonSuccessRate: number;
  /** Over every answered request (socket errors have no meaningful latency). */
  latency: LatencyStats;
  /** Over 2xx answers only: what a served client waited. */
  served: LatencyStats;
  /** Images classified and returned, over the run: 2xx answers' `n`, else 1 per 2xx POST /predict. */
  images: number;
  /** Images classified and returned per second. */
  goodput: number;
  /** Requests that got no HTTP answer at all (socket errors, resets, timeouts). */
  connectionErrors: number;
  /** 2xx answers served from the response cache. */
  cacheHits: number;
  endpoints: EndpointStats[];
  /** "POST /predict 503", "POST /predict ECONNRESET" … with counts, largest first. */
  breakdown: { endpoint: string; cause: string; outcome: 'shed' | 'failure'; count: number }[];
  timeline: TimelinePoint[];
}

function count(samples: readonly Sample[]): Counts {
  let ok = 0;
  let failures = 0;
  let shed = 0;
  for (const s of samples) {
    if (s.o === 'ok') ok++;
    else if (s.o === 'shed') shed++;
    else failures++;
  }
  return { requests: samples.length, ok, failures, shed };
}

function push<K>(map: Map<K, Sample[]>, key: K, s: Sample): void {
  const list = map.get(key);
  if (list) list.push(s);
  else map.set(key, [s]);
}

const answered = (samples: readonly Sample[]) => samples.filter((s) => s.s > 0).map((s) => s.ms);
const served = (samples: readonly Sample[]) => samples.filter((s) => s.o === 'ok').map((s) => s.ms);

/** Images a sample returned: its `n`, else one for a 2xx single-photo answer (files written before `n` existed). */
export const imagesOf = (s: Sample): number => (s.o !== 'ok' ? 0 : (s.n ?? (s.ep === 'POST /predict' ? 1 : 0)));

/** Everything the report shows about one run, from its raw samples. */
export function summarise(samples: readonly Sample[], bucketS = 10): RunStats {
  const startedAt = samples.reduce((m, s) => Math.min(m, s.t - s.ms), Number.POSITIVE_INFINITY);
  const endedAt = samples.reduce((m, s) => Math.max(m, s.t), 0);
  const durationS = samples.length > 0 ? Math.max(0.001, (endedAt - startedAt) / 1000) : 0;
  const totals = count(samples);
  const rate = (n: number) => (totals.requests > 0 ? n / totals.requests : 0);

  const byEndpoint = new Map<string, Sample[]>();
  for (const s of samples) push(byEndpoint, s.ep, s);
  const endpoints = [...byEndpoint.entries()]
    .map(([endpoint, list]) => ({
      endpoint,
      ...count(list),
      rps: durationS > 0 ? list.length / durationS : 0,
      latency: latencyStats(answered(list)),
      served: latencyStats(served(list)),
    }))
    .sort((a, b) => b.requests - a.requests);

  const causes = new Map<string, { endpoint: string; cause: string; outcome: 'shed' | 'failure'; count: number }>();
  for (const s of samples) {
    if (s.o === 'ok') continue;
    const cause = s.s > 0 ? String(s.s) : (s.err ?? 'error');
    const key = `${s.ep}\u0000${cause}\u0000${s.o}`;
    const entry = causes.get(key) ?? { endpoint: s.ep, cause, outcome: s.o, count: 0 };
    entry.count++;
    causes.set(key, entry);
  }

  const buckets = new Map<number, Sample[]>();
  for (const s of samples) {
    const b = Math.floor((s.t - startedAt) / 1000 / bucketS);
    push(buckets, b, s);
  }
  const lastBucket = [...buckets.keys()].reduce((m, b) => Math.max(m, b), -1);
  const timeline: TimelinePoint[] = [];
  for (let b = 0; b <= lastBucket; b++) {
    const list = buckets.get(b) ?? [];
    // The last bucket is usually partial: divide by the time it actually covers.
    const span = Math.min(bucketS, durationS - b * bucketS);
    const lat = latencyStats(answered(list));
    const c = count(list);
    timeline.push({
      x: b * bucketS + span / 2,
      rps: span > 0 ? list.length / span : 0,
      p50: lat.median,
      p95: lat.p95,
      p99: lat.p99,
      failures: c.failures,
      shed: c.shed,
    });
  }

  const images = samples.reduce((n, s) => n + imagesOf(s), 0);
  return {
    ...totals,
    images,
    goodput: durationS > 0 ? images / durationS : 0,
    connectionErrors: samples.filter((s) => s.s === 0).length,
    cacheHits: samples.filter((s) => s.hit === 1).length,
    startedAt: Number.isFinite(startedAt) ? startedAt : 0,
    durationS,
    rps: durationS > 0 ? totals.requests / durationS : 0,
    okRps: durationS > 0 ? totals.ok / durationS : 0,
    failureRate: rate(totals.failures),
    shedRate: rate(totals.shed),
    nonSuccessRate: rate(totals.failures + totals.shed),
    latency: latencyStats(answered(samples)),
    served: latencyStats(served(samples)),
    endpoints,
    breakdown: [...causes.values()].sort((a, b) => b.count - a.count),
    timeline,
  };
}

/** Parses JSONL sample text, skipping a torn last line. */
export function parseSamples(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const v = JSON.parse(line) as Partial<Sample>;
      if (typeof v.t === 'number' && typeof v.ms === 'number' && typeof v.ep === 'string' && typeof v.s === 'number') {
        out.push({
          t: v.t,
          ep: v.ep,
          s: v.s,
          ms: v.ms,
          o: v.o ?? (v.s >= 200 && v.s < 300 ? 'ok' : 'failure'),
          ...(v.err ? { err: v.err } : {}),
          ...(v.c ? { c: v.c } : {}),
          ...(typeof v.fnMs === 'number' ? { fnMs: v.fnMs } : {}),
          ...(typeof v.n === 'number' ? { n: v.n } : {}),
          ...(v.hit === 1 ? { hit: 1 as const } : {}),
        });
      }
    } catch {
      // A worker killed mid-write leaves half a line; the rest of the file is still good.
    }
  }
  return out;
}
