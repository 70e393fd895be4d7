import type { RunStats } from './stats';

/** Readiness limits; a run passes when every measured value is strictly below its limit. */
export interface Thresholds {
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  /** Fraction (0.001 = 0.1 %) of requests that are not a success: failures plus shed. */
  errorRate: number;
}

export const DEFAULT_THRESHOLDS: Readonly<Thresholds> = Object.freeze({ p50Ms: 200, p95Ms: 500, p99Ms: 1000, errorRate: 0.001 });

export interface Check {
  name: 'p50' | 'p95' | 'p99' | 'errors';
  value: number;
  limit: number;
  pass: boolean;
}

export interface Verdict {
  ready: boolean;
  checks: Check[];
}

export function evaluate(stats: Pick<RunStats, 'latency' | 'nonSuccessRate' | 'requests'>, t: Thresholds = DEFAULT_THRESHOLDS): Verdict {
  const checks: Check[] = [
    { name: 'p50', value: stats.latency.median, limit: t.p50Ms, pass: stats.latency.median < t.p50Ms },
    { name: 'p95', value: stats.latency.p95, limit: t.p95Ms, pass: stats.latency.p95 < t.p95Ms },
    { name: 'p99', value: stats.latency.p99, limit: t.p99Ms, pass: stats.latency.p99 < t.p99Ms },
    { name: 'errors', value: stats.nonSuccessRate, limit: t.errorRate, pass: stats.nonSuccessRate < t.errorRate },
  ];
  // A run that sent nothing proves nothing.
  return { ready: stats.requests > 0 && checks.every((c) => c.pass), checks };
}
