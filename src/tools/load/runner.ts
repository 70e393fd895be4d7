import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { clientApiKey } from '../../local/dev-key';
import { artilleryDir, imagesDir, projectRoot, reportsDir } from '../../shared/paths';
import { loadPhotos } from './photo-variants';
import { type Cohort, loadProfiles, type Profile, type ProfileOverrides, peakUsers, phasesFor, planDuration, planFor } from './profiles';
import { type RunMeta, type RunReport, writeRunReport } from './report';
import { DEFAULT_THRESHOLDS, type Thresholds } from './verdict';

export type UploadersMode = 'on' | 'off' | 'auto';

/** What traffic to send and where: shared by a single run and a sweep. */
export interface TrafficOptions {
  /** Defaults to LOAD_TARGET, then API_URL, then http://127.0.0.1:$HTTP_PORT (3000). */
  target?: string;
  /** "default" (6:3:1 + uploaders) or a single class: predict, light, heavy, uploader. */
  mix?: string;
  /** Multiplies every think time; 0 makes a closed loop that saturates the service. */
  thinkScale?: number;
  model?: string;
  uploaders?: UploadersMode;
  /** Parent folder for the run directory; defaults to reports/ (LOAD_REPORTS_DIR). */
  outDir?: string;
  /** Every virtual user's key: else API_KEY, else the key of the stack this run started, else the development key. */
  apiKey?: string;
}

export interface RunOptions extends ProfileOverrides, TrafficOptions {
  scenario: string;
  /** Run directory name; defaults to <timestamp>-<scenario>. */
  runName?: string;
  /** Extra or replacement Artillery `ensure` block. */
  ensure?: unknown;
  thresholds?: Thresholds;
  /** Start the local stack when nothing answers on the target (default true). */
  startStack?: boolean;
  /** Copy Artillery's console output to ours (default true). */
  echo?: boolean;
  report?: boolean;
  /** Use this profile instead of one from artillery/profiles.json. */
  profile?: Profile;
}

export interface RunResult {
  dir: string;
  exitCode: number;
  meta: RunMeta;
  report?: RunReport;
}

export function defaultTarget(env: NodeJS.ProcessEnv = process.env): string {
  return env.LOAD_TARGET || env.API_URL || `http://127.0.0.1:${env.HTTP_PORT || 3000}`;
}

/** Load is only ever sent to this machine. */
export function assertLoopback(target: string): URL {
  const url = new URL(target);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (!(host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host))) {
    throw new Error(`refusing to load ${target}: only loopback targets (127.0.0.0/8, localhost, ::1) are allowed`);
  }
  return url;
}

async function status(url: string, init: RequestInit = {}): Promise<number> {
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(3000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

export const isUp = async (target: string): Promise<boolean> => (await status(`${target}/health`)) === 200;

/** Whether the batch-jobs API exists: a deliberately invalid POST /jobs answers 4xx if it does, 404 if not. */
export async function probeJobs(target: string, apiKey?: string): Promise<{ on: boolean; reason: string }> {
  const code = await status(`${target}/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain', ...(apiKey ? { 'x-api-key': apiKey } : {}) },
    body: 'probe',
  });
  if (code === 404 || code === 405) return { on: false, reason: `POST /jobs answered ${code}` };
  if (code === 0) return { on: false, reason: 'POST /jobs did not answer' };
  return { on: true, reason: `POST /jobs answered ${code}` };
}

export async function resolveUploaders(mode: UploadersMode, target: string, apiKey?: string): Promise<{ on: boolean; reason: string }> {
  const env = process.env.LOAD_BATCH_UPLOADERS;
  const m = mode !== 'auto' ? mode : env === 'on' || env === 'off' ? env : 'auto';
  if (m === 'on') return { on: true, reason: 'forced on' };
  if (m === 'off') return { on: false, reason: 'disabled' };
  return probeJobs(target, apiKey);
}

/** Starts the local stack on the target's port unless something already answers there. */
export async function ensureStack(target: string, allowStart: boolean): Promise<{ apiKey: string; stop(): Promise<void> } | null> {
  if (await isUp(target)) return null;
  if (!allowStart) throw new Error(`nothing answers on ${target}/health`);
  const url = assertLoopback(target);
  // Loaded lazily: it pulls in the model catalog, which a report-only run does not need.
  const local = (await import(path.join(projectRoot(), 'dist', 'src', 'local', 'start.js'))) as typeof import('../../local/start');
  const options = { ...local.optionsFromEnv(), httpPort: Number(url.port || 80) };
  // Load runs measure the service, not its response cache (repeated photos would all be hits): off unless asked.
  process.env.RESPONSE_CACHE ??= 'off';
  console.log(`load: starting the local stack on ${target} …`);
  return local.startLocalStack(options);
}

const stamp = (d: Date) =>
  d
    .toISOString()
    .replace(/[:.]/g, '-')
    .replace(/-\d{3}Z$/, 'Z');

/** Runs Artillery once with a prepared plan, writing everything into `dir`. */
export async function runArtillery(args: {
  dir: string;
  target: string;
  plan: Cohort[];
  env: Record<string, string>;
  ensure?: unknown;
  echo: boolean;
}): Promise<number> {
  const overrides = { config: { target: args.target, phases: phasesFor(args.plan), ...(args.ensure ? { ensure: args.ensure } : {}) } };
  const bin = path.join(path.dirname(require.resolve('artillery/package.json', { paths: [projectRoot()] })), 'bin', 'run');
  const log = createWriteStream(path.join(args.dir, 'artillery.log'));
  const child = spawn(
    process.execPath,
    [
      '-r',
      path.join(artilleryDir(), 'no-telemetry.js'),
      bin,
      'run',
      '--output',
      path.join(args.dir, 'artillery.json'),
      '--overrides',
      JSON.stringify(overrides),
      path.join(artilleryDir(), 'load.yml'),
    ],
    {
      cwd: projectRoot(),
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        // Not sufficient on its own in 2.0.21: see artillery/no-telemetry.js.
        ARTILLERY_DISABLE_TELEMETRY: 'true',
        NO_COLOR: '1',
        ...args.env,
      },
    },
  );
  for (const stream of [child.stdout, child.stderr]) {
    stream.on('data', (chunk: Buffer) => {
      log.write(chunk);
      if (args.echo) process.stdout.write(chunk);
    });
  }
  const code = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (c, signal) => resolve(c ?? (signal ? 128 : 1)));
  });
  await new Promise<void>((r) => log.end(r));
  return code;
}

/** `npm run load -- <scenario>`: one run, its raw output, samples and report under reports/. */
export async function runScenario(o: RunOptions): Promise<RunResult> {
  const profile = o.profile ?? loadProfiles()[o.scenario];
  if (!profile) throw new Error(`unknown scenario "${o.scenario}"; known: ${Object.keys(loadProfiles()).join(', ')}`);
  const target = (o.target ?? defaultTarget()).replace(/\/$/, '');
  assertLoopback(target);
  const plan = planFor(profile, o);

  const stack = await ensureStack(target, o.startStack ?? true);
  try {
    const apiKey = o.apiKey ?? (process.env.API_KEY || stack?.apiKey || clientApiKey(undefined, target));
    // The Locust mix as `npm run load:locust` runs it: its distinct photos, and no uploaders (not in that mix).
    const locustMix = o.mix === 'locust';
    if (locustMix && o.uploaders === 'on') throw new Error("--mix locust has no batch uploaders (it is the Locust run's mix); drop --uploaders on");
    const uploaders = locustMix ? { on: false, reason: 'not in the Locust mix' } : await resolveUploaders(o.uploaders ?? 'auto', target, apiKey);
    const photos = locustMix ? await loadPhotos() : imagesDir();
    const started = new Date();
    const dir = path.join(o.outDir ?? reportsDir(), o.runName ?? `${stamp(started)}-${o.scenario}`);
    mkdirSync(path.join(dir, 'samples'), { recursive: true });
    const meta: RunMeta = {
      scenario: o.scenario,
      description: profile.description,
      users: plan[0]?.users ?? 0,
      peakUsers: peakUsers(plan),
      spawnRate: plan[0]?.spawnRate ?? 0,
      durationS: planDuration(plan),
      plan,
      mix: o.mix ?? 'default',
      thinkScale: o.thinkScale ?? 1,
      ...(o.model ? { model: o.model } : {}),
      batchUploaders: uploaders.on,
      batchUploadersReason: uploaders.reason,
      target,
      startedAt: started.toISOString(),
    };
    writeFileSync(path.join(dir, 'run.json'), `${JSON.stringify(meta, null, 2)}\n`);
    const echo = o.echo ?? true;
    if (echo)
      console.log(
        `load: ${o.scenario}: ${meta.peakUsers} users, ${meta.durationS} s against ${target}; uploaders ${uploaders.on ? 'on' : 'off'} (${uploaders.reason}) → ${dir}`,
      );

    const exitCode = await runArtillery({
      dir,
      target,
      plan,
      echo,
      ensure: o.ensure ?? profile.ensure,
      env: {
        LOAD_PLAN: JSON.stringify(plan),
        LOAD_SAMPLES_DIR: path.join(dir, 'samples'),
        LOAD_MIX: meta.mix,
        LOAD_THINK_SCALE: String(meta.thinkScale),
        LOAD_BATCH_UPLOADERS: uploaders.on ? 'on' : 'off',
        LOAD_MODEL: o.model ?? '',
        TEST_IMAGES_DIR: photos,
        ...(locustMix ? { LOAD_PHOTOS: 'all' } : {}),
        API_KEY: apiKey ?? '',
      },
    });
    meta.endedAt = new Date().toISOString();
    meta.artilleryExitCode = exitCode;
    writeFileSync(path.join(dir, 'run.json'), `${JSON.stringify(meta, null, 2)}\n`);
    const report = o.report === false ? undefined : writeRunReport(dir, o.thresholds ?? DEFAULT_THRESHOLDS);
    if (report && echo) {
      const s = report.stats;
      console.log(
        `load: ${s.requests} requests, ${s.failures} failures, ${s.shed} shed, ${s.rps.toFixed(1)} req/s, p50 ${s.latency.median.toFixed(0)} ms, p95 ${s.latency.p95.toFixed(0)} ms, p99 ${s.latency.p99.toFixed(0)} ms: ${report.verdict.ready ? 'READY' : 'NOT READY'}\nload: report ${path.join(dir, 'report.html')}`,
      );
    }
    return { dir, exitCode, meta, ...(report ? { report } : {}) };
  } finally {
    await stack?.stop();
  }
}
