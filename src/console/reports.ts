// The load reports of reports/ (npm run load, load:sweep) as the console lists and opens them: npm start only, read
// from this checkout's disk. A run's verdict is computed from its samples, as npm run load:report would, and kept
// while its files are unchanged.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { reportsDir } from '../shared/paths';
import { loadRun, type RunReport, renderRunHtml } from '../tools/load/report';
import type { SweepResult } from '../tools/load/sweep';

/** One entry of GET /reports (the LoadReports schema of the OpenAPI document). */
export interface LoadRunSummary {
  name: string;
  kind: 'run' | 'sweep';
  scenario?: string;
  description?: string;
  users?: number;
  durationS?: number;
  startedAt?: string;
  requests?: number;
  verdict?: { ready: boolean; checks: Array<{ name: string; value: number; limit: number; pass: boolean }> };
  href: string;
}

/** A run folder's name as the route takes it: no separators, no leading dot, so it never leaves reports/. */
export const RUN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

const mtime = (file: string): number => (existsSync(file) ? statSync(file).mtimeMs : 0);
/** Changes when anything a report is computed from does. */
const stampOf = (dir: string): string =>
  ['run.json', 'samples', 'artillery.json', 'artillery.log', 'sweep.json'].map((f) => mtime(path.join(dir, f))).join(':');

const runs = new Map<string, { stamp: string; report: RunReport }>();

function runReport(dir: string): RunReport {
  const stamp = stampOf(dir);
  const known = runs.get(dir);
  if (known?.stamp === stamp) return known.report;
  const report = loadRun(dir);
  runs.set(dir, { stamp, report });
  return report;
}

function summary(root: string, name: string): LoadRunSummary | undefined {
  const dir = path.join(root, name);
  const href = `reports/${encodeURIComponent(name)}`;
  if (existsSync(path.join(dir, 'run.json'))) {
    try {
      const r = runReport(dir);
      return {
        name,
        kind: 'run',
        scenario: r.meta.scenario,
        ...(r.meta.description ? { description: r.meta.description } : {}),
        users: r.meta.peakUsers ?? r.meta.users,
        durationS: r.stats.durationS,
        startedAt: r.meta.startedAt,
        requests: r.stats.requests,
        verdict: { ready: r.verdict.ready, checks: r.verdict.checks.map((c) => ({ name: c.name, value: c.value, limit: c.limit, pass: c.pass })) },
        href,
      };
    } catch {
      // A run still being written, or broken: listed, without figures.
      return { name, kind: 'run', href };
    }
  }
  if (existsSync(path.join(dir, 'sweep.json'))) {
    try {
      const s = JSON.parse(readFileSync(path.join(dir, 'sweep.json'), 'utf8')) as SweepResult;
      // load:sweep names its folder after its start: 2026-11-23T16-17-44Z-sweep.
      const stamp = /^(\d{4}-\d{2}-\d{2})T(\d{2})-(\d{2})-(\d{2})Z/.exec(name);
      return {
        name,
        kind: 'sweep',
        ...(stamp ? { startedAt: `${stamp[1]}T${stamp[2]}:${stamp[3]}:${stamp[4]}Z` } : {}),
        users: Math.max(0, ...s.steps.map((p) => p.users)),
        durationS: s.steps.length * s.stepS,
        requests: s.steps.reduce((n, p) => n + p.requests, 0),
        href,
      };
    } catch {
      return { name, kind: 'sweep', href };
    }
  }
  return undefined;
}

/** The runs and sweeps under `root`, newest first (by start time; then by name, as a run's folder is named --name or by its start). */
export function listLoadReports(root: string = reportsDir()): { runs: LoadRunSummary[] } {
  if (!existsSync(root)) return { runs: [] };
  const runs = readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory() && RUN_NAME.test(d.name))
    .map((d) => summary(root, d.name))
    .filter((s): s is LoadRunSummary => s !== undefined);
  return { runs: runs.sort((a, b) => (b.startedAt ?? '').localeCompare(a.startedAt ?? '') || b.name.localeCompare(a.name)) };
}

/** A run's HTML report, rendered from its files now; a sweep's as load:sweep wrote it; undefined if there is none. */
export function loadReportHtml(name: string, root: string = reportsDir()): string | undefined {
  if (!RUN_NAME.test(name)) return undefined;
  const dir = path.join(root, name);
  if (existsSync(path.join(dir, 'run.json'))) return renderRunHtml(runReport(dir));
  const sweep = path.join(dir, 'sweep.html');
  return existsSync(sweep) ? readFileSync(sweep, 'utf8') : undefined;
}
