import { latencyStats, parseSamples, percentile, type Sample, summarise } from '../../../../src/tools/load/stats';

const sample = (over: Partial<Sample>): Sample => ({ t: 1_000_000, ep: 'POST /predict', s: 200, ms: 10, o: 'ok', ...over });

describe('percentile', () => {
  it('uses the nearest rank', () => {
    const v = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(v, 50)).toBe(50);
    expect(percentile(v, 66)).toBe(66);
    expect(percentile(v, 99)).toBe(99);
    expect(percentile(v, 99.9)).toBe(100);
    expect(percentile(v, 100)).toBe(100);
    expect(percentile(v, 0)).toBe(1);
  });

  it('is 0 for no data and the value itself for one', () => {
    expect(percentile([], 95)).toBe(0);
    expect(percentile([7], 50)).toBe(7);
    expect(percentile([7], 99.9)).toBe(7);
  });
});

describe('latencyStats', () => {
  it('reports every Locust percentile, min, max and mean', () => {
    // Prepare
    const values = [5, 1, 4, 2, 3];
    // Act
    const s = latencyStats(values);
    // Assess
    expect(s).toMatchObject({ count: 5, min: 1, max: 5, mean: 3, median: 3, p95: 5, p99: 5 });
    expect(Object.keys(s.percentiles)).toEqual(['50', '66', '75', '80', '90', '95', '98', '99', '99.9']);
    expect(s.percentiles['80']).toBe(4);
  });
});

describe('summarise', () => {
  it('counts shed apart from failures, and socket errors as failures without latency', () => {
    // Prepare
    const samples = [
      sample({ t: 1_000_100, ms: 100 }),
      sample({ t: 1_001_000, ms: 50, s: 503, o: 'shed' }),
      sample({ t: 1_002_000, ms: 20, s: 500, o: 'failure' }),
      sample({ t: 1_003_000, ms: 5000, s: 0, o: 'failure', err: 'ECONNRESET' }),
      sample({ t: 1_004_000, ms: 30, ep: 'GET /health' }),
    ];
    // Act
    const s = summarise(samples);
    // Assess
    expect(s).toMatchObject({ requests: 5, ok: 2, failures: 2, shed: 1, failureRate: 0.4, shedRate: 0.2 });
    expect(s.nonSuccessRate).toBeCloseTo(0.6);
    expect(s.latency.count).toBe(4);
    expect(s.latency.max).toBe(100);
    // From the earliest request start (the reset one, sent 5 s before it failed) to the last answer.
    expect(s.durationS).toBeCloseTo(6.0);
    expect(s.rps).toBeCloseTo(5 / 6.0);
    expect(s.breakdown).toEqual(
      expect.arrayContaining([
        { endpoint: 'POST /predict', cause: '503', outcome: 'shed', count: 1 },
        { endpoint: 'POST /predict', cause: '500', outcome: 'failure', count: 1 },
        { endpoint: 'POST /predict', cause: 'ECONNRESET', outcome: 'failure', count: 1 },
      ]),
    );
    expect(s.endpoints.map((e) => e.endpoint)).toEqual(['POST /predict', 'GET /health']);
  });

  it('buckets the timeline by 10 s and divides the last, partial bucket by its real span', () => {
    // Prepare: 10 req/s for 15 s
    const samples = Array.from({ length: 150 }, (_, i) => sample({ t: 1_000_000 + (i + 1) * 100, ms: 0 }));
    // Act
    const s = summarise(samples, 10);
    // Assess
    expect(s.timeline).toHaveLength(2);
    expect(s.timeline[0]?.rps).toBeCloseTo(10, 0);
    expect(s.timeline[1]?.rps).toBeCloseTo(10, 0);
  });

  it('copes with no samples', () => {
    expect(summarise([])).toMatchObject({ requests: 0, rps: 0, durationS: 0, timeline: [] });
  });
});

describe('parseSamples', () => {
  it('skips a torn last line', () => {
    const text = `${JSON.stringify(sample({}))}\n${JSON.stringify(sample({ s: 503, o: 'shed' }))}\n{"t":12,"ep":"PO`;
    expect(parseSamples(text)).toHaveLength(2);
  });

  it('keeps the in-function duration where a sample has one, and reads older samples without it', () => {
    const text = `${JSON.stringify(sample({ fnMs: 41.5 }))}\n${JSON.stringify(sample({}))}\n`;
    expect(parseSamples(text).map((s) => s.fnMs)).toEqual([41.5, undefined]);
  });
});
