import { latencyStats } from '../../../../src/tools/load/stats';
import { DEFAULT_THRESHOLDS, evaluate } from '../../../../src/tools/load/verdict';

const stats = (values: number[], nonSuccessRate = 0) => ({ latency: latencyStats(values), nonSuccessRate, requests: values.length });

describe('evaluate', () => {
  it('is ready when every check is under its limit', () => {
    const v = evaluate(stats([50, 60, 70, 80, 90]));
    expect(v.ready).toBe(true);
    expect(v.checks.map((c) => c.name)).toEqual(['p50', 'p95', 'p99', 'errors']);
  });

  it('fails on the first threshold crossed, strictly (a value equal to its limit fails)', () => {
    const v = evaluate(stats([200, 200, 200]));
    expect(v.ready).toBe(false);
    expect(v.checks.find((c) => c.name === 'p50')?.pass).toBe(false);
    expect(v.checks.find((c) => c.name === 'p95')?.pass).toBe(true);
  });

  it('counts shed and failures against the 0.1 % error budget', () => {
    expect(evaluate(stats([10], 0.0009)).ready).toBe(true);
    expect(evaluate(stats([10], 0.001)).ready).toBe(false);
  });

  it('takes overridden thresholds', () => {
    const v = evaluate(stats([300, 300, 300]), { ...DEFAULT_THRESHOLDS, p50Ms: 400 });
    expect(v.ready).toBe(true);
  });

  it('never calls a run without requests ready', () => {
    expect(evaluate(stats([])).ready).toBe(false);
  });
});
