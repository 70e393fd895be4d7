import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { detectCeiling, type LoadPoint, multiplier } from './analysis';
import { memoryFromEnv, type RunCost, runCost } from './cost';
import type { CpuBudget } from './cpu';
import { badge, type Cell, escapeHtml, htmlTable, mdTable, ms, num, page, pct, times, usd } from './format';
import type { Cohort } from './profiles';
import { PERCENTILES, parseSamples, type RunStats, type Sample, summarise } from './stats';
import { lineChart } from './svg';
import { DEFAULT_THRESHOLDS, evaluate, type Thresholds, type Verdict } from './verdict';

/** What the runner writes to run.json beside the raw Artillery output. */
export interface RunMeta {
  scenario: string;
  description?: string;
  /** Which load tool sent the traffic; Artillery when absent. */
  driver?: 'artillery' | 'locust';
  users: number;
  peakUsers: number;
  spawnRate: number;
  durationS: number;
  plan: Cohort[];
  mix: string;
  thinkScale: number;
  model?: string;
  batchUploaders: boolean;
  batchUploadersReason: string;
  target: string;
  startedAt: string;
  endedAt?: string;
  artilleryExitCode?: number;
  /** The load tool's exit code when it is not Artillery. */
  exitCode?: number;
}

/** Locust's own figures, read back from its `--csv` files: a second opinion on the samples. */
export interface LocustCsv {
  stats: { name: string; requests: number; failures: number; median: number; p99: number; rps: number }[];
  failures: { name: string; error: string; count: number }[];
}

export interface RunReport {
  dir: string;
  name: string;
  meta: RunMeta;
  stats: RunStats;
  /** Active virtual users over time, from Artillery's per-10 s intermediate reports. */
  users: [number, number][];
  /** Artillery `ensure` results, parsed from its log. */
  checks: { ok: boolean; expression: string }[];
  verdict: Verdict;
  thresholds: Thresholds;
  /** What the run's answered requests would cost on API Gateway + Lambda. */
  cost: RunCost;
  locust?: LocustCsv;
  /** Where the machine's CPU went during the run (cpu.json, written by the Locust driver). */
  cpu?: CpuBudget;
  /** Differences of the service's own /metrics counters over the run (server.json). */
  server?: Record<string, number>;
}

interface ArtilleryPeriod {
  period?: string | number;
  counters?: Record<string, number>;
}

export function readSamplesDir(dir: string): Sample[] {
  const samplesDir = path.join(dir, 'samples');
  if (!existsSync(samplesDir)) return [];
  return readdirSync(samplesDir)
    .filter((f) => f.endsWith('.jsonl'))
    .sort()
    .flatMap((f) => parseSamples(readFileSync(path.join(samplesDir, f), 'utf8')));
}

/** Active users at the end of each Artillery period: created minus completed and failed, cumulated. */
export function activeUsers(intermediate: readonly ArtilleryPeriod[], startedAt: number): [number, number][] {
  const periods = [...intermediate].sort((a, b) => Number(a.period) - Number(b.period));
  let live = 0;
  const out: [number, number][] = [];
  for (const p of periods) {
    const c = p.counters ?? {};
    live += (c['vusers.created'] ?? 0) - (c['vusers.completed'] ?? 0) - (c['vusers.failed'] ?? 0);
    out.push([Math.max(0, (Number(p.period) + 10_000 - startedAt) / 1000), live]);
  }
  return out;
}

export function parseEnsureLog(log: string): { ok: boolean; expression: string }[] {
  const out: { ok: boolean; expression: string }[] = [];
  for (const line of log.split('\n')) {
    // biome-ignore lint/suspicious/noControlCharactersInRegex: strips the ANSI colours Artillery prints
    const m = /^\s*(ok|fail): (.+)$/.exec(line.replace(/\u001b\[[0-9;]*m/g, ''));
    if (m?.[1] && m[2]) out.push({ ok: m[1] === 'ok', expression: m[2].trim() });
  }
  return out;
}

function csvRows(file: string): Record<string, string>[] {
  if (!existsSync(file)) return [];
  return parseCsv(readFileSync(file, 'utf8'), { columns: true, skip_empty_lines: true }) as Record<string, string>[];
}

/** Locust's `<prefix>_stats.csv` and `<prefix>_failures.csv` in a run directory, if it has them. */
export function readLocustCsv(dir: string, prefix = 'locust'): LocustCsv | undefined {
  const statsFile = path.join(dir, `${prefix}_stats.csv`);
  if (!existsSync(statsFile)) return undefined;
  const n = (v: string | undefined) => (v === undefined || v === 'N/A' || v === '' ? 0 : Number(v));
  return {
    stats: csvRows(statsFile).map((r) => ({
      name: r.Type && r.Name && r.Name !== 'Aggregated' && !r.Name.startsWith(`${r.Type} `) ? `${r.Type} ${r.Name}` : (r.Name ?? ''),
      requests: n(r['Request Count']),
      failures: n(r['Failure Count']),
      median: n(r['Median Response Time'] ?? r['50%']),
      p99: n(r['99%']),
      rps: n(r['Requests/s']),
    })),
    failures: csvRows(path.join(dir, `${prefix}_failures.csv`)).map((r) => ({
      name: r.Method && r.Name && !r.Name.startsWith(`${r.Method} `) ? `${r.Method} ${r.Name}` : (r.Name ?? ''),
      error: r.Error ?? '',
      count: n(r.Occurrences),
    })),
  };
}

const readJson = <T>(file: string): T | undefined => (existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as T) : undefined);

/** Reads one run directory (run.json, artillery.json or Locust's CSVs, samples/*.jsonl, artillery.log, cpu.json). */
export function loadRun(dir: string, thresholds: Thresholds = DEFAULT_THRESHOLDS, memoryMb: number = memoryFromEnv()): RunReport {
  const meta = JSON.parse(readFileSync(path.join(dir, 'run.json'), 'utf8')) as RunMeta;
  const samples = readSamplesDir(dir);
  const stats = summarise(samples);
  const artilleryFile = path.join(dir, 'artillery.json');
  let users: [number, number][] = [];
  if (existsSync(artilleryFile)) {
    const raw = JSON.parse(readFileSync(artilleryFile, 'utf8')) as { intermediate?: ArtilleryPeriod[] };
    users = activeUsers(raw.intermediate ?? [], stats.startedAt);
  }
  const logFile = path.join(dir, 'artillery.log');
  const checks = existsSync(logFile) ? parseEnsureLog(readFileSync(logFile, 'utf8')) : [];
  const locust = readLocustCsv(dir);
  const cpu = readJson<CpuBudget>(path.join(dir, 'cpu.json'));
  const server = readJson<Record<string, number>>(path.join(dir, 'server.json'));
  return {
    dir,
    name: path.basename(dir),
    meta,
    stats,
    users,
    checks,
    verdict: evaluate(stats, thresholds),
    thresholds,
    cost: runCost(samples, memoryMb),
    ...(locust ? { locust } : {}),
    ...(cpu ? { cpu } : {}),
    ...(server ? { server } : {}),
  };
}

const thresholdText = (t: Thresholds) =>
  `p50 < ${t.p50Ms} ms, p95 < ${t.p95Ms} ms, p99 < ${t.p99Ms} ms, errors (failures + shed) < ${pct(t.errorRate)}`;

function uploadersText(m: RunMeta): string {
  return `${m.batchUploaders ? 'on' : 'off'} (${m.batchUploadersReason})`;
}

function summaryRow(s: RunStats): string[] {
  return [
    String(s.requests),
    String(s.failures),
    pct(s.failureRate),
    String(s.shed),
    pct(s.shedRate),
    String(s.connectionErrors),
    num(s.rps),
    num(s.goodput),
    ms(s.latency.mean),
    ms(s.latency.median),
    ms(s.latency.p95),
    ms(s.latency.p99),
  ];
}
const SUMMARY_HEAD = [
  'requests',
  'failures',
  'failure rate',
  'shed',
  'shed rate',
  'connection errors',
  'RPS',
  'goodput images/s',
  'mean ms',
  'p50 ms',
  'p95 ms',
  'p99 ms',
];

const ENDPOINT_HEAD = [
  'endpoint',
  'requests',
  'failures',
  'shed',
  'avg ms',
  'min ms',
  'max ms',
  'median ms',
  'p95 ms',
  'p99 ms',
  'served p50 ms',
  'served p99 ms',
  'RPS',
];
function endpointRows(s: RunStats): string[][] {
  const row = (
    name: string,
    e: { requests: number; failures: number; shed: number; rps: number; latency: RunStats['latency']; served: RunStats['latency'] },
  ) => [
    name,
    String(e.requests),
    String(e.failures),
    String(e.shed),
    ms(e.latency.mean),
    ms(e.latency.min),
    ms(e.latency.max),
    ms(e.latency.median),
    ms(e.latency.p95),
    ms(e.latency.p99),
    ms(e.served.median),
    ms(e.served.p99),
    num(e.rps, 2),
  ];
  return [...s.endpoints.map((e) => row(e.endpoint, e)), row('Aggregated', s)];
}

const PCT_HEAD = ['endpoint', ...PERCENTILES.map((p) => `${p}%`)];
function percentileRows(s: RunStats): string[][] {
  const row = (name: string, l: RunStats['latency']) => [name, ...PERCENTILES.map((p) => ms(l.percentiles[String(p)] ?? 0))];
  return [...s.endpoints.map((e) => row(e.endpoint, e.latency)), row('Aggregated', s.latency)];
}

function verdictRows(v: Verdict): [string, string, string, boolean][] {
  return v.checks.map((c) => [
    c.name,
    c.name === 'errors' ? pct(c.value) : `${ms(c.value)} ms`,
    c.name === 'errors' ? `< ${pct(c.limit)}` : `< ${c.limit} ms`,
    c.pass,
  ]);
}

function usersAt(users: readonly [number, number][], x: number): number | null {
  let best: [number, number] | undefined;
  for (const u of users) if (!best || Math.abs(u[0] - x) < Math.abs(best[0] - x)) best = u;
  return best ? best[1] : null;
}

function metaLines(r: RunReport): string[] {
  const m = r.meta;
  return [
    `Scenario **${m.scenario}**${m.description ? ` (${m.description})` : ''}; target ${m.target}; started ${m.startedAt}.`,
    `Users ${m.users} (peak ${m.peakUsers}), spawn ${m.spawnRate}/s, planned ${m.durationS} s, measured ${num(r.stats.durationS)} s; mix ${m.mix}; think-time scale ${m.thinkScale}${m.model ? `; model ${m.model}` : ''}; batch uploaders ${uploadersText(m)}.`,
    m.driver === 'locust'
      ? `Driver Locust (artillery/locustfile.py), exit code ${m.exitCode ?? 'unknown'}.`
      : `Artillery exit code ${m.artilleryExitCode ?? 'unknown'}.`,
    `Goodput ${num(r.stats.goodput)} images/s (${r.stats.images} images classified and returned); ${r.stats.connectionErrors} requests without an HTTP answer; ${r.stats.cacheHits} answers from the response cache.`,
  ];
}

/** Locust's own statistics and failures, from its CSVs. */
function locustTables(l: LocustCsv): { head: string[]; rows: string[][] }[] {
  return [
    {
      head: ['name', 'requests', 'failures', 'median ms', 'p99 ms', 'RPS'],
      rows: l.stats.map((r) => [r.name, String(r.requests), String(r.failures), ms(r.median), ms(r.p99), num(r.rps, 2)]),
    },
    ...(l.failures.length > 0 ? [{ head: ['name', 'error', 'occurrences'], rows: l.failures.map((f) => [f.name, f.error, String(f.count)]) }] : []),
  ];
}

const CPU_HEAD = ['process', 'threads', 'CPU s', 'cores busy', 'share of machine'];
/** How far, as a share of the machine's busy time, the processes' times may exceed it before it is not skew. */
const SKEW_TOLERANCE = 0.02;
/** One row per process, then one per group of its threads by name: where the core-seconds of the run went. */
function cpuRows(c: CpuBudget): string[][] {
  const rows: string[][] = [];
  const share = (s: number) => (c.machineBusyS > 0 ? pct(s / c.machineBusyS) : '–');
  const busy = (s: number) => num(s / Math.max(0.001, c.wallS), 2);
  let ours = 0;
  for (const p of c.processes) {
    ours += p.cpuS;
    rows.push([`${p.label} (pid ${p.pid})`, String(p.threads.reduce((n, t) => n + t.threads, 0)), num(p.cpuS), busy(p.cpuS), share(p.cpuS)]);
    for (const t of p.threads.filter((t) => t.cpuS >= 0.05))
      rows.push([`  thread ${t.name}`, String(t.threads), num(t.cpuS), busy(t.cpuS), share(t.cpuS)]);
  }
  // The machine's total (/proc/stat, counted in ticks, read at both ends) and the processes' own times (read every 250
  // ms) disagree by a second or so over minutes: a small difference below zero is that skew, not negative work. A
  // larger one is a fault in the counting, and is shown as it is.
  const diff = c.machineBusyS - ours;
  const rest = diff < 0 && -diff <= SKEW_TOLERANCE * c.machineBusyS ? 0 : diff;
  rows.push([
    rest < 0 ? 'everything else on the machine (negative: the counts disagree)' : 'everything else on the machine',
    '',
    num(rest),
    busy(rest),
    share(rest),
  ]);
  rows.push(['machine (all processes)', '', num(c.machineBusyS), busy(c.machineBusyS), `of ${c.cores} cores × ${num(c.wallS, 0)} s`]);
  return rows;
}

const cpuText = (c: CpuBudget) =>
  `Over ${num(c.wallS, 0)} s: load average ${c.loadavg.start.split(' ').slice(0, 3).join(' ')} at the start, ${c.loadavg.end.split(' ').slice(0, 3).join(' ')} at the end. CPU times from /proc (user + system).`;

function serverRows(v: Record<string, number>): string[][] {
  return Object.entries(v).map(([k, x]) => [k, num(x, 1)]);
}

const COST_TITLE = 'What this traffic would cost on AWS';
const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

function durationText(c: RunCost): string {
  const mean = `mean ${ms(c.meanMs)} ms`;
  if (c.clientObserved === 0)
    return `Durations: the in-function time each answer reports (\`timings.totalMs\`), ${mean}; a little under the billed duration, which also covers the middleware around the handler.`;
  if (c.inFunction === 0)
    return `Durations: the client-observed latency (these samples carry no in-function time), ${mean}; an upper bound of the billed duration.`;
  return `Durations: the in-function time the answer reports (\`timings.totalMs\`) for ${plural(c.inFunction, 'request')}; the client-observed latency, an upper bound, for the other ${c.clientObserved}, which report none; ${mean}.`;
}

/** The cost section's prose, in Markdown; the HTML report renders the same lines. */
function costLines(c: RunCost): string[] {
  if (c.requests === 0) return ['No answered API requests: nothing to price.'];
  const left = [
    ...(c.notApi > 0 ? [`${plural(c.notApi, 'presigned S3 upload')} (not API requests)`] : []),
    ...(c.unanswered > 0 ? [`${plural(c.unanswered, 'unanswered request')} (socket errors, timeouts)`] : []),
  ];
  return [
    `API Gateway (REST) + Lambda for the run's ${plural(c.requests, 'answered API request')}, shed and failed answers included (each is still a request and an invocation), with Lambda at ${c.memoryMb} MB, ${num(c.vcpus, 2)} vCPU (\`LAMBDA_MEMORY_MB\`, default 3008).${left.length > 0 ? ` Left out: ${left.join(', ')}.` : ''}`,
    durationText(c),
    "Prices are us-east-1 list prices (x86_64, on demand, no free tier) from `src/tools/deploy/pricing.ts`, not measurements; the durations are this machine's, not Lambda's. Every route is priced at the one memory size, though serverless.yml gives the light routes (health, metrics, jobs) less.",
  ];
}

const COST_HEAD = ['USD', 'this run', 'per 1M requests of this mix'];
function costRows(c: RunCost): string[][] {
  return [
    ['API Gateway', usd(c.run.apiGateway), usd(c.perMillion.apiGateway)],
    ['Lambda (requests + compute)', usd(c.run.lambda), usd(c.perMillion.lambda)],
    ['Total', usd(c.run.total), usd(c.perMillion.total)],
  ];
}

/** Markdown inline code as HTML, the rest escaped. */
const inlineHtml = (line: string): string => escapeHtml(line).replace(/`([^`]+)`/g, '<code>$1</code>');

export function renderRunMarkdown(r: RunReport): string {
  const s = r.stats;
  const out = [
    `# Load test ${r.name}: ${r.verdict.ready ? 'READY' : 'NOT READY'}`,
    '',
    ...metaLines(r),
    '',
    '## Summary',
    '',
    mdTable(SUMMARY_HEAD, [summaryRow(s)]),
    '',
    '## Readiness verdict',
    '',
    `Thresholds: ${thresholdText(r.thresholds)}.`,
    '',
    mdTable(
      ['check', 'value', 'limit', 'result'],
      verdictRows(r.verdict).map(([a, b, c, ok]) => [a, b, c, ok ? 'PASS' : 'FAIL']),
    ),
    '',
    '## Endpoints',
    '',
    'Latency covers every answered request, shed and failed ones included; socket errors have no latency.',
    '',
    mdTable(ENDPOINT_HEAD, endpointRows(s)),
    '',
    '## Response-time percentiles (ms)',
    '',
    mdTable(PCT_HEAD, percentileRows(s)),
    '',
    '## Failures and shed requests',
    '',
    s.breakdown.length === 0
      ? 'None.'
      : mdTable(
          ['endpoint', 'status / error', 'kind', 'count'],
          s.breakdown.map((b) => [b.endpoint, b.cause, b.outcome, String(b.count)]),
        ),
    '',
  ];
  if (r.checks.length > 0) {
    out.push(
      '## Artillery checks (ensure)',
      '',
      mdTable(
        ['expression', 'result'],
        r.checks.map((c) => [c.expression, c.ok ? 'ok' : 'fail']),
      ),
      '',
    );
  }
  if (r.locust) {
    out.push("## Locust's own statistics (CSV)", '', 'Locust counts every non-2xx answer as a failure, shed answers included.', '');
    for (const t of locustTables(r.locust)) out.push(mdTable(t.head, t.rows), '');
  }
  if (r.cpu) out.push('## CPU budget', '', cpuText(r.cpu), '', mdTable(CPU_HEAD, cpuRows(r.cpu)), '');
  if (r.server && Object.keys(r.server).length > 0)
    out.push("## The service's counters over the run (/metrics)", '', mdTable(['series', 'difference'], serverRows(r.server)), '');
  out.push(`## ${COST_TITLE}`, '', ...costLines(r.cost).flatMap((l) => [l, '']));
  if (r.cost.requests > 0) out.push(mdTable(COST_HEAD, costRows(r.cost)), '');
  out.push(
    '## Over time (10 s buckets)',
    '',
    mdTable(
      ['t (s)', 'RPS', 'p50 ms', 'p95 ms', 'p99 ms', 'users', 'failures', 'shed'],
      s.timeline.map((p) => [
        num(p.x, 0),
        num(p.rps),
        ms(p.p50),
        ms(p.p95),
        ms(p.p99),
        String(usersAt(r.users, p.x) ?? '–'),
        String(p.failures),
        String(p.shed),
      ]),
    ),
    '',
  );
  return out.join('\n');
}

export function runCharts(r: RunReport): string {
  const tl = r.stats.timeline;
  const xy = (f: (p: (typeof tl)[number]) => number): [number, number][] => tl.map((p) => [p.x, f(p)]);
  return [
    lineChart({
      title: 'Requests per second',
      xLabel: 'seconds',
      yLabel: 'req/s',
      series: [{ name: 'RPS', color: '#2471a3', points: xy((p) => p.rps) }],
    }),
    lineChart({
      title: 'Response time',
      xLabel: 'seconds',
      yLabel: 'ms',
      series: [
        { name: 'p50', color: '#27ae60', points: xy((p) => p.p50) },
        { name: 'p95', color: '#f39c12', points: xy((p) => p.p95) },
        { name: 'p99', color: '#c0392b', points: xy((p) => p.p99) },
      ],
    }),
    lineChart({ title: 'Active users', xLabel: 'seconds', yLabel: 'users', series: [{ name: 'users', color: '#8e44ad', points: r.users }] }),
    lineChart({
      title: 'Failures and shed per 10 s',
      xLabel: 'seconds',
      yLabel: 'requests',
      series: [
        { name: 'failures', color: '#c0392b', points: xy((p) => p.failures) },
        { name: 'shed', color: '#7f8c8d', points: xy((p) => p.shed) },
      ],
    }),
  ].join('\n');
}

export function renderRunHtml(r: RunReport): string {
  const s = r.stats;
  const body = [
    `<h1>Load test ${escapeHtml(r.name)}: ${badge(r.verdict.ready, 'READY', 'NOT READY').html}</h1>`,
    `<p class="meta">${metaLines(r)
      .map((l) => escapeHtml(l.replace(/\*\*/g, '')))
      .join('<br>')}</p>`,
    '<h2>Summary</h2>',
    htmlTable(SUMMARY_HEAD, [summaryRow(s)]),
    '<h2>Readiness verdict</h2>',
    `<p>Thresholds: ${escapeHtml(thresholdText(r.thresholds))}.</p>`,
    htmlTable(
      ['check', 'value', 'limit', 'result'],
      verdictRows(r.verdict).map(([a, b, c, ok]) => [a, b, c, badge(ok)]),
    ),
    '<h2>Over time</h2>',
    `<div class="charts">${runCharts(r)}</div>`,
    '<h2>Endpoints</h2>',
    '<p class="meta">Latency covers every answered request, shed and failed ones included; socket errors have no latency.</p>',
    htmlTable(ENDPOINT_HEAD, endpointRows(s)),
    '<h2>Response-time percentiles (ms)</h2>',
    htmlTable(PCT_HEAD, percentileRows(s)),
    '<h2>Failures and shed requests</h2>',
    s.breakdown.length === 0
      ? '<p>None.</p>'
      : htmlTable(
          ['endpoint', 'status / error', 'kind', 'count'],
          s.breakdown.map((b) => [b.endpoint, b.cause, b.outcome, String(b.count)]),
        ),
  ];
  if (r.checks.length > 0) {
    body.push(
      '<h2>Artillery checks (ensure)</h2>',
      htmlTable(
        ['expression', 'result'],
        r.checks.map((c) => [c.expression, badge(c.ok, 'ok', 'fail')]),
      ),
    );
  }
  if (r.locust) {
    body.push(
      "<h2>Locust's own statistics (CSV)</h2>",
      '<p class="meta">Locust counts every non-2xx answer as a failure, shed answers included.</p>',
    );
    for (const t of locustTables(r.locust)) body.push(htmlTable(t.head, t.rows));
  }
  if (r.cpu) body.push('<h2>CPU budget</h2>', `<p>${escapeHtml(cpuText(r.cpu))}</p>`, htmlTable(CPU_HEAD, cpuRows(r.cpu)));
  if (r.server && Object.keys(r.server).length > 0)
    body.push("<h2>The service's counters over the run (/metrics)</h2>", htmlTable(['series', 'difference'], serverRows(r.server)));
  body.push(`<h2>${escapeHtml(COST_TITLE)}</h2>`, ...costLines(r.cost).map((l) => `<p>${inlineHtml(l)}</p>`));
  if (r.cost.requests > 0) body.push(htmlTable(COST_HEAD, costRows(r.cost)));
  return page(`Load test ${r.name}`, body.join('\n'));
}

/** Cross-run figures: progression against the reference run, efficiency and the throughput ceiling. */
export interface Comparison {
  reference: RunReport | undefined;
  rows: { run: RunReport; rpsPerUser: number; p50x: number | null; p95x: number | null; p99x: number | null }[];
  ceiling: ReturnType<typeof detectCeiling>;
}

export function compareRuns(runs: readonly RunReport[]): Comparison {
  const sorted = [...runs].sort((a, b) => a.meta.peakUsers - b.meta.peakUsers || a.name.localeCompare(b.name));
  // The latest baseline run if there is one, else the lightest run.
  const reference = [...sorted].reverse().find((r) => r.meta.scenario === 'baseline') ?? sorted[0];
  const ref = reference?.stats.latency;
  const rows = sorted.map((run) => ({
    run,
    rpsPerUser: run.meta.peakUsers > 0 ? run.stats.rps / run.meta.peakUsers : 0,
    p50x: ref ? multiplier(run.stats.latency.median, ref.median) : null,
    p95x: ref ? multiplier(run.stats.latency.p95, ref.p95) : null,
    p99x: ref ? multiplier(run.stats.latency.p99, ref.p99) : null,
  }));
  // Goodput, not RPS: shed answers are cheap and would let a saturated service look like it still scales.
  const points: LoadPoint[] = sorted.map((r) => ({ users: r.meta.peakUsers, rps: r.stats.okRps, p99: r.stats.latency.p99 }));
  return { reference, rows, ceiling: detectCeiling(points) };
}

const COMPARE_HEAD = [
  'run',
  'scenario',
  'users',
  'requests',
  'RPS',
  'ok RPS',
  'goodput images/s',
  'RPS/user',
  'p50 ms',
  'p95 ms',
  'p99 ms',
  'p50 vs ref',
  'p95 vs ref',
  'p99 vs ref',
  'failure rate',
  'shed rate',
];
function compareRows(c: Comparison): string[][] {
  return c.rows.map(({ run, rpsPerUser, p50x, p95x, p99x }) => [
    run.name,
    run.meta.scenario,
    String(run.meta.peakUsers),
    String(run.stats.requests),
    num(run.stats.rps),
    num(run.stats.okRps),
    num(run.stats.goodput),
    num(rpsPerUser, 3),
    ms(run.stats.latency.median),
    ms(run.stats.latency.p95),
    ms(run.stats.latency.p99),
    times(p50x),
    times(p95x),
    times(p99x),
    pct(run.stats.failureRate),
    pct(run.stats.shedRate),
  ]);
}

const VERDICT_HEAD = ['run', 'scenario', 'p50', 'p95', 'p99', 'errors', 'verdict'];
function verdictTableRows(runs: readonly RunReport[], mark: (ok: boolean, text: string) => Cell): Cell[][] {
  return runs.map((r) => [
    r.name,
    r.meta.scenario,
    ...r.verdict.checks.map((c) => mark(c.pass, c.name === 'errors' ? pct(c.value) : `${ms(c.value)} ms`)),
    mark(r.verdict.ready, r.verdict.ready ? 'READY' : 'NOT READY'),
  ]);
}

function ceilingText(c: Comparison): string {
  if (c.rows.length < 2) return 'Throughput ceiling: needs at least two runs with different user counts.';
  return c.ceiling
    ? `Throughput ceiling: successful RPS stops growing with users past ${c.ceiling.users} users, at about ${num(c.ceiling.rps)} ok req/s.`
    : 'Throughput ceiling: not reached; successful RPS still grew with users at the largest run.';
}

export function renderComparisonMarkdown(runs: readonly RunReport[], thresholds: Thresholds = DEFAULT_THRESHOLDS): string {
  const c = compareRuns(runs);
  return [
    '# Load test comparison',
    '',
    `Reference for multipliers: ${c.reference ? `${c.reference.name} (${c.reference.meta.scenario})` : 'none'}. ${ceilingText(c)}`,
    '',
    '## Progression',
    '',
    mdTable(COMPARE_HEAD, compareRows(c)),
    '',
    '## Readiness verdict',
    '',
    `Thresholds: ${thresholdText(thresholds)}.`,
    '',
    mdTable(
      VERDICT_HEAD,
      verdictTableRows(
        c.rows.map((r) => r.run),
        (ok, t) => `${ok ? '✅' : '❌'} ${t}`,
      ) as string[][],
    ),
    '',
  ].join('\n');
}

export function renderComparisonHtml(runs: readonly RunReport[], thresholds: Thresholds = DEFAULT_THRESHOLDS): string {
  const c = compareRuns(runs);
  const pts = (f: (r: RunReport) => number): [number, number][] => c.rows.map(({ run }) => [Math.max(1, run.meta.peakUsers), f(run)]);
  const markers = c.ceiling ? [{ x: c.ceiling.users, label: `ceiling ≈ ${num(c.ceiling.rps)} req/s` }] : [];
  const charts = [
    lineChart({
      title: 'Throughput vs users',
      xLabel: 'users (log2)',
      yLabel: 'req/s',
      logX: true,
      markers,
      series: [
        { name: 'RPS', color: '#2471a3', points: pts((r) => r.stats.rps), dots: true },
        { name: 'ok RPS', color: '#27ae60', points: pts((r) => r.stats.okRps), dots: true },
      ],
    }),
    lineChart({
      title: 'Response time vs users',
      xLabel: 'users (log2)',
      yLabel: 'ms',
      logX: true,
      series: [
        { name: 'p50', color: '#27ae60', points: pts((r) => r.stats.latency.median), dots: true },
        { name: 'p95', color: '#f39c12', points: pts((r) => r.stats.latency.p95), dots: true },
        { name: 'p99', color: '#c0392b', points: pts((r) => r.stats.latency.p99), dots: true },
      ],
    }),
    lineChart({
      title: 'Failure and shed rate vs users',
      xLabel: 'users (log2)',
      yLabel: '%',
      logX: true,
      series: [
        { name: 'failures %', color: '#c0392b', points: pts((r) => r.stats.failureRate * 100), dots: true },
        { name: 'shed %', color: '#7f8c8d', points: pts((r) => r.stats.shedRate * 100), dots: true },
      ],
    }),
    lineChart({
      title: 'Requests per second per user',
      xLabel: 'users (log2)',
      yLabel: 'req/s/user',
      logX: true,
      series: [{ name: 'RPS/user', color: '#8e44ad', points: pts((r) => (r.meta.peakUsers > 0 ? r.stats.rps / r.meta.peakUsers : 0)), dots: true }],
    }),
  ];
  const body = [
    '<h1>Load test comparison</h1>',
    `<p>Reference for multipliers: ${escapeHtml(c.reference ? `${c.reference.name} (${c.reference.meta.scenario})` : 'none')}. ${escapeHtml(ceilingText(c))}</p>`,
    '<h2>Readiness verdict</h2>',
    `<p>Thresholds: ${escapeHtml(thresholdText(thresholds))}.</p>`,
    htmlTable(
      VERDICT_HEAD,
      verdictTableRows(
        c.rows.map((r) => r.run),
        (ok, t) => ({ html: `<span class="${ok ? 'pass' : 'fail'}">${escapeHtml(t)}</span>` }),
      ),
    ),
    '<h2>Progression</h2>',
    htmlTable(COMPARE_HEAD, compareRows(c)),
    `<div class="charts">${charts.join('\n')}</div>`,
    `<p class="meta">Runs: ${c.rows.map(({ run }) => `<a href="${escapeHtml(path.basename(run.dir))}/report.html">${escapeHtml(run.name)}</a>`).join(', ')}</p>`,
  ];
  return page('Load test comparison', body.join('\n'));
}

/** Writes report.md and report.html into a run directory. */
export function writeRunReport(dir: string, thresholds: Thresholds = DEFAULT_THRESHOLDS, memoryMb: number = memoryFromEnv()): RunReport {
  const r = loadRun(dir, thresholds, memoryMb);
  writeFileSync(path.join(dir, 'report.md'), renderRunMarkdown(r));
  writeFileSync(path.join(dir, 'report.html'), renderRunHtml(r));
  return r;
}

/** Top-level run directories (those with a run.json) under a reports folder, oldest first. */
export function findRunDirs(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .map((n) => path.join(root, n))
    .filter((d) => statSync(d).isDirectory() && existsSync(path.join(d, 'run.json')))
    .sort();
}

/** Regenerates each run's report and writes comparison.md/.html into `outDir`. */
export function writeReports(dirs: readonly string[], outDir: string, thresholds: Thresholds = DEFAULT_THRESHOLDS): RunReport[] {
  const runs = dirs.map((d) => writeRunReport(d, thresholds));
  if (runs.length > 0) {
    writeFileSync(path.join(outDir, 'comparison.md'), renderComparisonMarkdown(runs, thresholds));
    writeFileSync(path.join(outDir, 'comparison.html'), renderComparisonHtml(runs, thresholds));
  }
  return runs;
}
