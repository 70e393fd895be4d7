/** One measured load level: a run or a sweep step. */
export interface LoadPoint {
  users: number;
  rps: number;
  p99: number;
}

export interface Ceiling {
  /** The last level at which throughput still grew with users. */
  users: number;
  /** The highest throughput seen at or after that level. */
  rps: number;
  /** Index (in ascending-users order) of the first level that added users without adding throughput. */
  index: number;
}

/**
 * Where throughput stops growing with users: the first step whose RPS grew by less than `minGain`
 * of what its extra users would add if every user kept its previous request rate.
 */
export function detectCeiling(points: readonly LoadPoint[], minGain = 0.25): Ceiling | null {
  const sorted = [...points].sort((a, b) => a.users - b.users);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    const cur = sorted[i];
    if (!prev || !cur || prev.users <= 0 || prev.rps <= 0 || cur.users === prev.users) continue;
    const expected = prev.rps * (cur.users / prev.users - 1);
    const gained = cur.rps - prev.rps;
    if (gained < minGain * expected) {
      return { users: prev.users, rps: Math.max(...sorted.slice(i - 1).map((p) => p.rps)), index: i };
    }
  }
  return null;
}

export interface Knee {
  users: number;
  p99: number;
  index: number;
  /** The p99 it is compared against: the lowest p99 of the levels before it. */
  reference: number;
}

/**
 * The first level whose p99 is at least `factor` times the best p99 of the lighter levels before it
 * and stays there at every heavier level: a lone slow step (p99 of a few dozen requests is their
 * slowest one) is noise, not the knee.
 */
export function detectKnee(points: readonly LoadPoint[], factor = 2): Knee | null {
  const sorted = [...points].sort((a, b) => a.users - b.users);
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < sorted.length; i++) {
    const p = sorted[i];
    if (!p) continue;
    if (i > 0 && best > 0 && sorted.slice(i).every((q) => q.p99 >= factor * best)) return { users: p.users, p99: p.p99, index: i, reference: best };
    best = Math.min(best, p.p99);
  }
  return null;
}

/** Ratio of value to reference, or null when the reference is 0 (nothing to compare against). */
export function multiplier(value: number, reference: number): number | null {
  return reference > 0 ? value / reference : null;
}
