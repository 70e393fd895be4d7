// What traffic costs on AWS, from list prices (us-east-1, x86_64, on demand, no free tier), for the README's
// arithmetic and the load reports. Prices change: they are inputs, kept in one place, not measurements.

export const PRICES_USD = {
  /** Lambda compute, per GB-second (x86_64). */
  lambdaGbSecond: 0.0000166667,
  /** Lambda, per request. */
  lambdaRequest: 0.2 / 1e6,
  /** API Gateway REST API, per request (first 333 million a month). */
  restApiRequest: 3.5 / 1e6,
  /** S3 Standard PUT, COPY, POST, LIST, per request. */
  s3Write: 0.005 / 1000,
  /** S3 Standard GET, HEAD, per request. */
  s3Read: 0.0004 / 1000,
  /** SQS standard queue, per request (64 KB chunk). */
  sqsRequest: 0.4 / 1e6,
} as const;

/** Lambda bills duration rounded up to the millisecond, at the configured memory. */
export function lambdaComputeUsd(durationsMs: readonly number[], memoryMb: number): number {
  const gbSeconds = (durationsMs.reduce((sum, ms) => sum + Math.ceil(ms), 0) / 1000) * (memoryMb / 1024);
  return gbSeconds * PRICES_USD.lambdaGbSecond;
}

/** The cost of synchronous API requests: API Gateway + Lambda requests + Lambda compute at their durations. */
export function apiRequestsUsd(durationsMs: readonly number[], memoryMb: number): { total: number; apiGateway: number; lambda: number } {
  const apiGateway = durationsMs.length * PRICES_USD.restApiRequest;
  const lambda = durationsMs.length * PRICES_USD.lambdaRequest + lambdaComputeUsd(durationsMs, memoryMb);
  return { total: apiGateway + lambda, apiGateway, lambda };
}

/** vCPUs Lambda gives a function: one per 1,769 MB, up to 6. */
export const vcpusAt = (memoryMb: number): number => Math.min(6, memoryMb / 1769);
