import path from 'node:path';
import { loadProfiles, peakUsers, phasesFor, planFor } from '../../../../src/tools/load/profiles';

describe('profiles', () => {
  const profiles = loadProfiles();

  it('defines the classic scenarios', () => {
    expect(Object.keys(profiles)).toEqual(expect.arrayContaining(['smoke', 'baseline', 'moderate', 'heavy', 'stress', 'spike', 'soak']));
    expect(profiles.baseline).toMatchObject({ users: 10, spawnRate: 2, durationS: 120 });
    expect(profiles.stress).toMatchObject({ users: 500, spawnRate: 50, durationS: 900 });
  });

  it('turns a population into one arrival phase; users loop for the rest of the run', () => {
    const plan = planFor(profiles.heavy ?? { description: '', users: 0, spawnRate: 1, durationS: 1 }, { users: 40, durationS: 60 });
    expect(plan).toEqual([{ users: 40, spawnRate: 10, startS: 0, endS: 60 }]);
    expect(phasesFor(plan)).toEqual([{ name: 'spawn', duration: 4, arrivalCount: 40 }]);
  });

  it('schedules a spike cohort after a pause and counts both in the peak', () => {
    const spike = profiles.spike;
    if (!spike) throw new Error('no spike profile');
    const plan = planFor(spike);
    expect(phasesFor(plan)).toEqual([
      { name: 'spawn', duration: 5, arrivalCount: 10 },
      { name: 'wait-1', pause: 55 },
      { name: 'spawn-1', duration: 3, arrivalCount: 90 },
    ]);
    expect(peakUsers(plan)).toBe(100);
  });
});

describe('artillery/processor.js', () => {
  const processor = require(path.join(__dirname, '..', '..', '..', '..', 'artillery', 'processor.js')) as { classFor(i: number): string };

  it('assigns classes 6:3:1 deterministically, mixed even in the first few users', () => {
    const classes = Array.from({ length: 100 }, (_, i) => processor.classFor(i));
    const count = (c: string) => classes.filter((x) => x === c).length;
    expect([count('predict'), count('light'), count('heavy')]).toEqual([60, 30, 10]);
    expect(new Set(classes.slice(0, 4))).toEqual(new Set(['predict', 'light', 'heavy']));
  });
});
