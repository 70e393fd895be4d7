import { DEFAULT_MEMORY_MB, memoryFromEnv, runCost } from '../../../../src/tools/load/cost';
import { usd } from '../../../../src/tools/load/format';
import type { Sample } from '../../../../src/tools/load/stats';

const sample = (over: Partial<Sample>): Sample => ({ t: 1_000_000, ep: 'POST /predict', s: 200, ms: 10, o: 'ok', ...over });

describe('runCost', () => {
  it('prices 1000 requests of 20 ms at 3008 MB to the hand-computed dollar', () => {
    // Prepare: API Gateway 1000 × $3.50/M = $0.0035; Lambda requests 1000 × $0.20/M = $0.0002;
    // compute 1000 × 0.020 s × 3008/1024 GB = 58.75 GB-s × $0.0000166667 = $0.000979168625.
    const samples = Array.from({ length: 1000 }, () => sample({ ms: 20 }));
    // Act
    const c = runCost(samples, 3008);
    // Assess
    expect(c.requests).toBe(1000);
    expect(c.run.apiGateway).toBeCloseTo(0.0035, 12);
    expect(c.run.lambda).toBeCloseTo(0.0002 + 0.000979168625, 12);
    expect(c.run.total).toBeCloseTo(0.004679168625, 12);
    expect(c.perMillion.total).toBeCloseTo(4.679168625, 9);
    expect(c.perMillion.apiGateway).toBeCloseTo(3.5, 9);
    expect(c.vcpus).toBeCloseTo(3008 / 1769, 12);
    expect(c.meanMs).toBe(20);
  });

  it('prefers the in-function duration and falls back to the client latency per request', () => {
    // Prepare: 19.2 ms bills as 20 ms; the 500 ms client latency of the first sample is not billed.
    const samples = [sample({ ms: 500, fnMs: 19.2 }), sample({ ms: 20 })];
    // Act
    const c = runCost(samples, 1024);
    // Assess
    expect(c).toMatchObject({ requests: 2, inFunction: 1, clientObserved: 1 });
    expect(c.meanMs).toBeCloseTo(19.6, 9);
    const compute = (40 / 1000) * 1 * 0.0000166667;
    expect(c.run.lambda).toBeCloseTo(2 * 0.2e-6 + compute, 15);
  });

  it('counts shed and failed answers, but neither socket errors nor presigned S3 uploads', () => {
    // Prepare
    const samples = [
      sample({}),
      sample({ s: 503, o: 'shed', ms: 3 }),
      sample({ s: 500, o: 'failure', ms: 7 }),
      sample({ s: 0, o: 'failure', ms: 60_000, err: 'ETIMEDOUT' }),
      sample({ ep: 'PUT upload', ms: 30 }),
    ];
    // Act
    const c = runCost(samples, 3008);
    // Assess
    expect(c).toMatchObject({ requests: 3, notApi: 1, unanswered: 1 });
    expect(c.run.apiGateway).toBeCloseTo(3 * 3.5e-6, 15);
  });

  it('is zero, not NaN, for a run without answers', () => {
    const c = runCost([sample({ s: 0, o: 'failure', err: 'ECONNREFUSED' })], 3008);
    expect(c).toMatchObject({ requests: 0, meanMs: 0, run: { total: 0 }, perMillion: { total: 0 } });
  });
});

describe('memoryFromEnv', () => {
  it('defaults to the serverless.yml param default', () => {
    expect(memoryFromEnv({})).toBe(DEFAULT_MEMORY_MB);
    expect(memoryFromEnv({ LAMBDA_MEMORY_MB: ' ' })).toBe(3008);
  });

  it('takes LAMBDA_MEMORY_MB and refuses sizes Lambda does not offer', () => {
    expect(memoryFromEnv({ LAMBDA_MEMORY_MB: '3538' })).toBe(3538);
    for (const bad of ['3 GB', '64', '20000', '1769.5']) expect(() => memoryFromEnv({ LAMBDA_MEMORY_MB: bad })).toThrow(/LAMBDA_MEMORY_MB/);
  });
});

describe('usd', () => {
  it('shows cents from a cent up and three significant digits below', () => {
    expect(usd(4.679168625)).toBe('$4.68');
    expect(usd(0.004679168625)).toBe('$0.00468');
    expect(usd(0.0002345)).toBe('$0.000235');
    expect(usd(2e-7)).toBe('$0.000000200');
    expect(usd(0)).toBe('$0');
  });
});
