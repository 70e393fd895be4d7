import { detectCeiling, detectKnee, multiplier } from '../../../../src/tools/load/analysis';

const pts = (rows: [number, number, number][]) => rows.map(([users, rps, p99]) => ({ users, rps, p99 }));

describe('detectCeiling', () => {
  it('finds where doubling users stops adding throughput', () => {
    // Prepare: linear to 32 users, then flat near 30 req/s
    const points = pts([
      [1, 1, 50],
      [2, 2, 50],
      [4, 4, 52],
      [8, 8, 55],
      [16, 16, 60],
      [32, 30, 90],
      [64, 32, 400],
      [128, 31, 1200],
    ]);
    // Act
    const c = detectCeiling(points);
    // Assess
    expect(c).toEqual({ users: 32, rps: 32, index: 6 });
  });

  it('is null while throughput keeps growing, and sorts its input', () => {
    expect(
      detectCeiling(
        pts([
          [4, 4, 1],
          [1, 1, 1],
          [2, 2, 1],
        ]),
      ),
    ).toBeNull();
    expect(detectCeiling(pts([[1, 1, 1]]))).toBeNull();
    expect(detectCeiling([])).toBeNull();
  });
});

describe('detectKnee', () => {
  it('marks the first step whose p99 at least doubles the best lighter step', () => {
    const k = detectKnee(
      pts([
        [1, 1, 60],
        [2, 2, 50],
        [4, 4, 70],
        [8, 8, 99],
        [16, 16, 101],
        [32, 30, 300],
      ]),
    );
    expect(k).toEqual({ users: 16, p99: 101, index: 4, reference: 50 });
  });

  it('ignores a lone slow step that lighter-looking heavier steps contradict', () => {
    const k = detectKnee(
      pts([
        [4, 2, 39],
        [32, 15, 85],
        [64, 32, 73],
        [128, 60, 338],
        [256, 62, 878],
      ]),
    );
    expect(k).toEqual({ users: 128, p99: 338, index: 3, reference: 39 });
  });

  it('is null when latency stays flat', () => {
    expect(
      detectKnee(
        pts([
          [1, 1, 50],
          [2, 2, 55],
          [4, 4, 60],
        ]),
      ),
    ).toBeNull();
  });
});

describe('multiplier', () => {
  it('is null without a reference', () => {
    expect(multiplier(10, 0)).toBeNull();
    expect(multiplier(30, 10)).toBe(3);
  });
});
