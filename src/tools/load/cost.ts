// What a run's traffic would cost on AWS: API Gateway (REST) + Lambda, priced from the run's own durations with
// the list prices of src/tools/deploy/pricing.ts. An estimate for the report, never a measured bill.
import { apiRequestsUsd, vcpusAt } from '../deploy/pricing';
import type { Sample } from './stats';

/** serverless.yml's `memorySize` param default: what the classifying functions get unless a deploy overrides it. */
export const DEFAULT_MEMORY_MB = 3008;

/** Presigned uploads go from the client straight to S3: no API Gateway request, no Lambda invocation. */
const NOT_API_ENDPOINTS: ReadonlySet<string> = new Set(['PUT upload']);

export interface UsdSplit {
  total: number;
  apiGateway: number;
  /** Lambda requests and compute. */
  lambda: number;
}

export interface RunCost {
  memoryMb: number;
  vcpus: number;
  /** Answered API requests priced: shed and failed answers too, each was an API Gateway request and an invocation. */
  requests: number;
  /** Priced at the in-function duration the answer reported (`timings.totalMs`). */
  inFunction: number;
  /** Priced at the client-observed latency, an upper bound of the billed duration, for want of the former. */
  clientObserved: number;
  /** Mean of the durations priced, in ms. */
  meanMs: number;
  /** Answered requests left out because they never reach API Gateway (presigned S3 uploads). */
  notApi: number;
  /** Socket errors and timeouts: no answer, so no duration to price. */
  unanswered: number;
  run: UsdSplit;
  /** `run` scaled to one million requests of the same mix. */
  perMillion: UsdSplit;
}

/** The duration Lambda would bill for one answered request: the service's own figure when the sample has it. */
const billedMs = (s: Sample): number => s.fnMs ?? s.ms;

export function runCost(samples: readonly Sample[], memoryMb: number): RunCost {
  const answered = samples.filter((s) => s.s > 0);
  const priced = answered.filter((s) => !NOT_API_ENDPOINTS.has(s.ep));
  const durations = priced.map(billedMs);
  const inFunction = priced.filter((s) => s.fnMs !== undefined).length;
  const run = apiRequestsUsd(durations, memoryMb);
  const scale = priced.length > 0 ? 1e6 / priced.length : 0;
  return {
    memoryMb,
    vcpus: vcpusAt(memoryMb),
    requests: priced.length,
    inFunction,
    clientObserved: priced.length - inFunction,
    meanMs: priced.length > 0 ? durations.reduce((a, b) => a + b, 0) / priced.length : 0,
    notApi: answered.length - priced.length,
    unanswered: samples.length - answered.length,
    run,
    perMillion: { total: run.total * scale, apiGateway: run.apiGateway * scale, lambda: run.lambda * scale },
  };
}

/** LAMBDA_MEMORY_MB when the report is written, else the serverless.yml default. */
export function memoryFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.LAMBDA_MEMORY_MB?.trim();
  if (!raw) return DEFAULT_MEMORY_MB;
  const mb = Number(raw);
  // Lambda's range; a typo must fail loudly rather than print a confident figure for the wrong size.
  if (!Number.isInteger(mb) || mb < 128 || mb > 10_240) throw new Error(`LAMBDA_MEMORY_MB wants whole MB from 128 to 10240, got "${raw}"`);
  return mb;
}
