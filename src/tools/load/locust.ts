// `npm run load:locust -- --users N [--duration S]`: Locust, the load tool of the classic ML-API reports, as a second
// driver beside Artillery (README "Load testing"). Needs Locust (Debian: `apt-get install python3-locust`).
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { clientApiKey } from '../../local/dev-key';
import { artilleryDir, projectRoot, reportsDir } from '../../shared/paths';
import { findOfflinePid, startCpuBudget } from './cpu';
import { loadPhotos } from './photo-variants';
import { type RunMeta, writeRunReport } from './report';
import { assertLoopback, defaultTarget, ensureStack } from './runner';
import { DEFAULT_THRESHOLDS, type Thresholds } from './verdict';

const USAGE = `usage: npm run load:locust -- --users N [--duration S] [--spawn-rate R] [--url URL] [--api-key KEY]
                                 [--photos N] [--cache on|off] [--model NAME] [--name RUN]
Runs artillery/locustfile.py headless (predict 3 : light 1 : heavy 1) against URL (default: LOAD_TARGET, API_URL or
http://127.0.0.1:3000), starting the local stack there if nothing answers (with RESPONSE_CACHE=off unless --cache on).
Writes reports/<run>/: Locust's CSVs, samples/, cpu.json, report.md and report.html. Needs Locust on PATH (LOCUST_BIN).`;

export interface LocustOptions {
  users: number;
  durationS: number;
  spawnRate?: number;
  target?: string;
  apiKey?: string;
  photos?: number;
  /** Whether a stack this run starts keeps its response cache (default off: benchmarks report cache-off figures). */
  cache?: boolean;
  model?: string;
  runName?: string;
  outDir?: string;
  thresholds?: Thresholds;
  echo?: boolean;
}

/** 5–10 users per second, as the classic reports spawn them. */
export const defaultSpawnRate = (users: number): number => Math.min(10, Math.max(5, Math.ceil(users / 10)));

const stamp = (d: Date) =>
  d
    .toISOString()
    .replace(/[:.]/g, '-')
    .replace(/-\d{3}Z$/, 'Z');

/** Counters of the service's /metrics worth a before/after difference, summed over their labels. */
const SERVER_SERIES = [
  'image_decode_duration_seconds_sum',
  'model_inference_duration_seconds_sum',
  'inference_queue_wait_seconds_sum',
  'images_classified_total',
  'requests_shed_total',
  'requests_shed_early_total',
  'inference_expired_requests_total',
  'response_cache_hits_total',
  'response_cache_misses_total',
];
/** Counters kept per label set, e.g. `admission_shed_total{lane="batch",reason="deadline"}`. */
const SERVER_SERIES_BY_LABEL = ['admission_shed_total'];

async function scrape(target: string, apiKey: string | undefined): Promise<Record<string, number>> {
  try {
    const res = await fetch(`${target}/metrics`, { headers: apiKey ? { 'x-api-key': apiKey } : {}, signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    const out: Record<string, number> = {};
    for (const line of text.split('\n')) {
      const m = /^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
      if (!m?.[1] || !m[3]) continue;
      if (SERVER_SERIES.includes(m[1])) out[m[1]] = (out[m[1]] ?? 0) + Number(m[3]);
      else if (SERVER_SERIES_BY_LABEL.includes(m[1])) out[`${m[1]}${m[2] ?? ''}`] = Number(m[3]);
    }
    return out;
  } catch {
    return {};
  }
}

export async function runLocust(o: LocustOptions): Promise<{ dir: string; exitCode: number }> {
  const target = (o.target ?? defaultTarget()).replace(/\/$/, '');
  const url = assertLoopback(target);
  const echo = o.echo ?? true;
  // Only a stack this run starts takes the setting (ensureStack's default is off); a running one keeps its own, and the
  // report counts the X-Cache hits it saw.
  if (o.cache) process.env.RESPONSE_CACHE ??= 'on';
  const stack = await ensureStack(target, true);
  try {
    const apiKey = o.apiKey ?? (process.env.API_KEY || stack?.apiKey || clientApiKey(undefined, target));
    const photos = await loadPhotos(o.photos);
    const spawnRate = o.spawnRate ?? defaultSpawnRate(o.users);
    const started = new Date();
    const dir = path.join(o.outDir ?? reportsDir(), o.runName ?? `${stamp(started)}-locust-${o.users}u`);
    mkdirSync(path.join(dir, 'samples'), { recursive: true });
    const meta: RunMeta = {
      scenario: 'locust',
      description: 'Locust: predict 3 : light 1 : heavy 1, distinct photos',
      driver: 'locust',
      users: o.users,
      peakUsers: o.users,
      spawnRate,
      durationS: o.durationS,
      plan: [{ users: o.users, spawnRate, startS: 0, endS: o.durationS }],
      mix: 'locust 3:1:1',
      thinkScale: 1,
      ...(o.model ? { model: o.model } : {}),
      batchUploaders: false,
      batchUploadersReason: 'not in the Locust mix',
      target,
      startedAt: started.toISOString(),
    };
    writeFileSync(path.join(dir, 'run.json'), `${JSON.stringify(meta, null, 2)}\n`);
    if (echo) console.log(`load:locust: ${o.users} users (spawn ${spawnRate}/s), ${o.durationS} s against ${target}, photos ${photos} → ${dir}`);

    const before = await scrape(target, apiKey);
    const args = [
      '-f',
      path.join(artilleryDir(), 'locustfile.py'),
      '--headless',
      '-u',
      String(o.users),
      '-r',
      String(spawnRate),
      '-t',
      `${o.durationS}s`,
      '-H',
      target,
      '--csv',
      path.join(dir, 'locust'),
      '--csv-full-history',
      '--only-summary',
      '--stop-timeout',
      '0',
      '--loglevel',
      'WARNING',
    ];
    const child = spawn(process.env.LOCUST_BIN || 'locust', args, {
      cwd: projectRoot(),
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        LOCUST_PHOTOS_DIR: photos,
        LOAD_SAMPLES_DIR: path.join(dir, 'samples'),
        API_KEY: apiKey ?? '',
        LOAD_MODEL: o.model ?? '',
        PYTHONUNBUFFERED: '1',
      },
    });
    const offlinePid = findOfflinePid(Number(url.port || 80));
    const cpu = startCpuBudget(
      () => [
        { label: 'serverless-offline (HTTP, handlers, inference pool)', pid: offlinePid },
        { label: 'Locust', pid: child.pid },
        { label: stack ? 'this driver + local S3/SQS' : 'this driver', pid: process.pid },
      ],
      availableParallelism(),
    );
    const log = createWriteStream(path.join(dir, 'locust.log'));
    for (const stream of [child.stdout, child.stderr]) {
      stream.on('data', (chunk: Buffer) => {
        log.write(chunk);
        if (echo) process.stdout.write(chunk);
      });
    }
    const exitCode = await new Promise<number>((resolve, reject) => {
      child.once('error', (err: NodeJS.ErrnoException) =>
        reject(err.code === 'ENOENT' ? new Error('locust not found: apt-get install python3-locust (or set LOCUST_BIN)') : err),
      );
      child.once('exit', (c, signal) => resolve(c ?? (signal ? 128 : 1)));
    });
    await new Promise<void>((r) => log.end(r));
    const budget = cpu?.stop();
    if (budget) writeFileSync(path.join(dir, 'cpu.json'), `${JSON.stringify(budget, null, 2)}\n`);
    const after = await scrape(target, apiKey);
    const server = Object.fromEntries(Object.keys(after).map((k) => [k, (after[k] ?? 0) - (before[k] ?? 0)]));
    writeFileSync(path.join(dir, 'server.json'), `${JSON.stringify(server, null, 2)}\n`);
    meta.endedAt = new Date().toISOString();
    meta.exitCode = exitCode;
    writeFileSync(path.join(dir, 'run.json'), `${JSON.stringify(meta, null, 2)}\n`);
    const report = writeRunReport(dir, o.thresholds ?? DEFAULT_THRESHOLDS);
    if (echo) {
      const s = report.stats;
      console.log(
        `load:locust: ${s.requests} requests, ${s.failures} failures, ${s.shed} shed, goodput ${s.goodput.toFixed(1)} images/s, p99 ${s.latency.p99.toFixed(0)} ms: ${report.verdict.ready ? 'READY' : 'NOT READY'}\nload:locust: report ${path.join(dir, 'report.html')}`,
      );
    }
    return { dir, exitCode };
  } finally {
    await stack?.stop();
  }
}

function positive(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} wants a positive number, got "${v}"`);
  return n;
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      users: { type: 'string' },
      duration: { type: 'string' },
      'spawn-rate': { type: 'string' },
      url: { type: 'string' },
      'api-key': { type: 'string' },
      photos: { type: 'string' },
      cache: { type: 'string' },
      model: { type: 'string' },
      name: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const users = positive('users', values.users);
  if (values.help || users === undefined) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  if (values.cache !== undefined && values.cache !== 'on' && values.cache !== 'off')
    throw new Error(`--cache wants on or off, got "${values.cache}"`);
  const spawnRate = positive('spawn-rate', values['spawn-rate']);
  const photos = positive('photos', values.photos);
  await runLocust({
    users: Math.round(users),
    durationS: positive('duration', values.duration) ?? 60,
    ...(spawnRate !== undefined ? { spawnRate } : {}),
    ...(values.url ? { target: values.url } : {}),
    ...(values['api-key'] ? { apiKey: values['api-key'] } : {}),
    ...(photos !== undefined ? { photos: Math.round(photos) } : {}),
    cache: values.cache === 'on',
    ...(values.model ? { model: values.model } : {}),
    ...(values.name ? { runName: values.name } : {}),
  });
  // Locust exits 1 on any failed request; the report's verdict says what that means.
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`load:locust: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  );
}
