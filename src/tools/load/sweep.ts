import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { reportsDir } from '../../shared/paths';
import { detectCeiling, detectKnee, type LoadPoint } from './analysis';
import { escapeHtml, htmlTable, mdTable, ms, num, page, pct } from './format';
import type { Profile } from './profiles';
import { findRunDirs, loadRun, type RunReport } from './report';
import { assertLoopback, defaultTarget, ensureStack, runScenario, type TrafficOptions } from './runner';
import { lineChart } from './svg';

export const DEFAULT_STEPS = [1, 2, 4, 8, 16, 32, 64, 128, 256];

/** `mix` defaults to predict here, so the curve measures inference, not /health. */
export interface SweepOptions extends TrafficOptions {
  steps?: number[];
  /** Seconds per step. */
  stepS?: number;
  /** Seconds to let queues drain between steps. */
  pauseS?: number;
  echo?: boolean;
}

export interface SweepStep extends LoadPoint {
  /** Successful requests per second; the ceiling is detected on this, `rps` counts every answer. */
  okRps: number;
  requests: number;
  failures: number;
  shed: number;
  nonSuccessRate: number;
  p50: number;
  p95: number;
  dir: string;
}

export interface SweepResult {
  dir: string;
  mix: string;
  stepS: number;
  thinkScale: number;
  steps: SweepStep[];
  knee: ReturnType<typeof detectKnee>;
  ceiling: ReturnType<typeof detectCeiling>;
}

const stamp = (d: Date) =>
  d
    .toISOString()
    .replace(/[:.]/g, '-')
    .replace(/-\d{3}Z$/, 'Z');

/** `npm run load:sweep`: one short run per user count, then throughput and p99 against users. */
export async function runSweep(o: SweepOptions = {}): Promise<SweepResult> {
  const steps = o.steps ?? DEFAULT_STEPS;
  const stepS = o.stepS ?? 20;
  const mix = o.mix ?? 'predict';
  const thinkScale = o.thinkScale ?? 1;
  const target = (o.target ?? defaultTarget()).replace(/\/$/, '');
  assertLoopback(target);
  const dir = path.join(o.outDir ?? reportsDir(), `${stamp(new Date())}-sweep`);
  mkdirSync(dir, { recursive: true });
  const stack = await ensureStack(target, true);
  const results: SweepStep[] = [];
  try {
    for (const users of steps) {
      // Everyone arrives within ~2 s so the step measures a steady population, not its ramp.
      const profile: Profile = { description: `sweep step: ${users} users`, users, spawnRate: Math.max(1, users / 2), durationS: stepS };
      const run = await runScenario({
        scenario: 'sweep',
        profile,
        target,
        mix,
        thinkScale,
        ...(o.model ? { model: o.model } : {}),
        ...((o.apiKey ?? stack?.apiKey) ? { apiKey: o.apiKey ?? stack?.apiKey } : {}),
        uploaders: o.uploaders ?? 'off',
        outDir: dir,
        runName: `step-${String(users).padStart(4, '0')}u`,
        startStack: false,
        echo: false,
      });
      if (!run.report) throw new Error(`sweep step ${users} produced no report`);
      const step = stepOf(run.report);
      results.push(step);
      if (o.echo ?? true) {
        console.log(
          `sweep: ${String(users).padStart(4)} users  ${num(step.rps).padStart(7)} req/s (${num(step.okRps)} ok)  p50 ${ms(step.p50).padStart(6)}  p99 ${ms(step.p99).padStart(6)} ms  non-success ${pct(step.nonSuccessRate)}`,
        );
      }
      await new Promise((r) => setTimeout(r, (o.pauseS ?? 3) * 1000));
    }
  } finally {
    await stack?.stop();
  }
  const result = analyse({ dir, mix, stepS, thinkScale }, results);
  writeSweepReport(result);
  return result;
}

function stepOf(r: RunReport): SweepStep {
  const s = r.stats;
  return {
    users: r.meta.peakUsers,
    rps: s.rps,
    okRps: s.okRps,
    p99: s.latency.p99,
    p50: s.latency.median,
    p95: s.latency.p95,
    requests: s.requests,
    failures: s.failures,
    shed: s.shed,
    nonSuccessRate: s.nonSuccessRate,
    dir: r.dir,
  };
}

function analyse(settings: Pick<SweepResult, 'dir' | 'mix' | 'stepS' | 'thinkScale'>, steps: SweepStep[]): SweepResult {
  return {
    ...settings,
    steps,
    knee: detectKnee(steps),
    // Shed answers are cheap: counting them would let a saturated service look like it still scales.
    ceiling: detectCeiling(steps.map((s) => ({ ...s, rps: s.okRps }))),
  };
}

/** Recomputes a sweep's figures and pages from its step directories (after a change to the report code). */
export function rebuildSweep(dir: string): SweepResult {
  const saved = JSON.parse(readFileSync(path.join(dir, 'sweep.json'), 'utf8')) as Pick<SweepResult, 'mix' | 'stepS' | 'thinkScale'>;
  const steps = findRunDirs(dir)
    .map((d) => stepOf(loadRun(d)))
    .sort((a, b) => a.users - b.users);
  const result = analyse({ dir, mix: saved.mix, stepS: saved.stepS, thinkScale: saved.thinkScale }, steps);
  writeSweepReport(result);
  return result;
}

function kneeText(r: SweepResult): string {
  const knee = r.knee
    ? `Knee: p99 turns up at ${r.knee.users} users (${ms(r.knee.p99)} ms, ≥ 2× the best lighter step's ${ms(r.knee.reference)} ms).`
    : 'Knee: p99 never doubled over the steps measured.';
  const ceiling = r.ceiling
    ? `Throughput ceiling: successful RPS stops growing past ${r.ceiling.users} users, at about ${num(r.ceiling.rps)} ok req/s.`
    : 'Throughput ceiling: not reached.';
  return `${knee} ${ceiling}`;
}

const HEAD = ['users', 'requests', 'RPS', 'ok RPS', 'p50 ms', 'p95 ms', 'p99 ms', 'failures', 'shed', 'non-success', 'note'];
function rows(r: SweepResult): string[][] {
  return r.steps.map((s, i) => [
    String(s.users),
    String(s.requests),
    num(s.rps),
    num(s.okRps),
    ms(s.p50),
    ms(s.p95),
    ms(s.p99),
    String(s.failures),
    String(s.shed),
    pct(s.nonSuccessRate),
    [r.knee?.index === i ? 'knee' : '', r.ceiling && r.ceiling.users === s.users ? 'ceiling' : ''].filter(Boolean).join(', '),
  ]);
}

export function renderSweepMarkdown(r: SweepResult): string {
  return [
    '# Throughput and latency versus users',
    '',
    `Mix ${r.mix}, ${r.stepS} s per step, think-time scale ${r.thinkScale}. ${kneeText(r)}`,
    '',
    mdTable(HEAD, rows(r)),
    '',
  ].join('\n');
}

export function renderSweepHtml(r: SweepResult): string {
  const markers = [
    ...(r.knee ? [{ x: r.knee.users, label: `knee: ${r.knee.users} users` }] : []),
    ...(r.ceiling ? [{ x: r.ceiling.users, label: `ceiling: ${r.ceiling.users} users`, color: '#2471a3' }] : []),
  ];
  const pts = (f: (s: SweepStep) => number): [number, number][] => r.steps.map((s) => [s.users, f(s)]);
  const body = [
    '<h1>Throughput and latency versus users</h1>',
    `<p>Mix ${escapeHtml(r.mix)}, ${r.stepS} s per step, think-time scale ${r.thinkScale}. ${escapeHtml(kneeText(r))}</p>`,
    '<div class="charts">',
    lineChart({
      title: 'Throughput',
      xLabel: 'users (log2)',
      yLabel: 'req/s',
      logX: true,
      markers,
      series: [
        { name: 'RPS', color: '#2471a3', points: pts((s) => s.rps), dots: true },
        { name: 'ok RPS', color: '#27ae60', points: pts((s) => s.okRps), dots: true },
      ],
    }),
    lineChart({
      title: 'Latency',
      xLabel: 'users (log2)',
      yLabel: 'ms',
      logX: true,
      markers,
      series: [
        { name: 'p50', color: '#27ae60', points: pts((s) => s.p50), dots: true },
        { name: 'p99', color: '#c0392b', points: pts((s) => s.p99), dots: true },
      ],
    }),
    '</div>',
    htmlTable(HEAD, rows(r)),
  ];
  return page('Load sweep', body.join('\n'));
}

export function writeSweepReport(r: SweepResult): void {
  writeFileSync(path.join(r.dir, 'sweep.json'), `${JSON.stringify(r, null, 2)}\n`);
  writeFileSync(path.join(r.dir, 'sweep.md'), renderSweepMarkdown(r));
  writeFileSync(path.join(r.dir, 'sweep.html'), renderSweepHtml(r));
}
