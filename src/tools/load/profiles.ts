import { readFileSync } from 'node:fs';
import path from 'node:path';
import { artilleryDir } from '../../shared/paths';

/** A group of users that arrive together and stay until `endS` (seconds after the first arrival). */
export interface Cohort {
  users: number;
  spawnRate: number;
  startS: number;
  endS: number;
}

export interface Profile {
  description: string;
  users: number;
  spawnRate: number;
  durationS: number;
  spike?: { users: number; spawnRate: number; atS: number; forS: number };
  /** Artillery `ensure` block, passed through unchanged. */
  ensure?: unknown;
}

export interface ProfileOverrides {
  users?: number;
  durationS?: number;
  spawnRate?: number;
}

export interface ArtilleryPhase {
  name: string;
  duration?: number;
  arrivalCount?: number;
  pause?: number;
}

/** Profiles from artillery/profiles.json, keyed by scenario name. */
export function loadProfiles(file = path.join(artilleryDir(), 'profiles.json')): Record<string, Profile> {
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, Profile>;
}

/** The cohorts of a profile after command-line overrides; a spike keeps its timing unless it falls past the end. */
export function planFor(profile: Profile, o: ProfileOverrides = {}): Cohort[] {
  const users = o.users ?? profile.users;
  const durationS = o.durationS ?? profile.durationS;
  const spawnRate = o.spawnRate ?? profile.spawnRate;
  const plan: Cohort[] = [{ users, spawnRate, startS: 0, endS: durationS }];
  const spike = profile.spike;
  if (spike && spike.atS < durationS) {
    plan.push({ users: spike.users, spawnRate: spike.spawnRate, startS: spike.atS, endS: Math.min(durationS, spike.atS + spike.forS) });
  }
  return plan;
}

export const spawnSeconds = (c: Cohort): number => Math.max(1, Math.ceil(c.users / Math.max(c.spawnRate, 0.001)));

/** Artillery phases that create each cohort's users on time; the users themselves loop until their cohort ends. */
export function phasesFor(plan: readonly Cohort[]): ArtilleryPhase[] {
  const phases: ArtilleryPhase[] = [];
  let clock = 0;
  [...plan]
    .sort((a, b) => a.startS - b.startS)
    .forEach((c, i) => {
      if (c.startS > clock) {
        phases.push({ name: `wait-${i}`, pause: c.startS - clock });
        clock = c.startS;
      }
      const d = spawnSeconds(c);
      phases.push({ name: i === 0 ? 'spawn' : `spawn-${i}`, duration: d, arrivalCount: c.users });
      clock += d;
    });
  return phases;
}

export const peakUsers = (plan: readonly Cohort[]): number => {
  let peak = 0;
  for (const c of plan) {
    const live = plan.filter((o) => o.startS <= c.startS && o.endS > c.startS).reduce((n, o) => n + o.users, 0);
    peak = Math.max(peak, live);
  }
  return peak;
};

export const planDuration = (plan: readonly Cohort[]): number => plan.reduce((m, c) => Math.max(m, c.endS), 0);
