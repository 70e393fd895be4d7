// `npm run load`, `npm run load:report`, `npm run load:sweep`: see README, "Load testing".
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { reportsDir } from '../../shared/paths';
import { findRunDirs, writeReports } from './report';
import { runScenario, type UploadersMode } from './runner';
import { rebuildSweep, runSweep } from './sweep';
import { DEFAULT_THRESHOLDS, type Thresholds } from './verdict';

const USAGE = `usage:
  npm run load -- <scenario> [--users N] [--duration S] [--spawn-rate R] [--mix default|locust|predict|light|heavy|uploader]
                  [--think-scale F] [--model NAME] [--uploaders auto|on|off] [--target URL] [--api-key KEY] [threshold flags]
  npm run load:report [-- <run dirs...>] [threshold flags]
  npm run load:sweep [-- --steps 1,2,4,8 --step-duration 20 --mix predict --think-scale 1 --api-key KEY]
threshold flags: --p50 MS --p95 MS --p99 MS --errors PERCENT   (defaults 200, 500, 1000, 0.1)`;

const options = {
  users: { type: 'string' },
  duration: { type: 'string' },
  'spawn-rate': { type: 'string' },
  mix: { type: 'string' },
  'think-scale': { type: 'string' },
  model: { type: 'string' },
  uploaders: { type: 'string' },
  target: { type: 'string' },
  'api-key': { type: 'string' },
  steps: { type: 'string' },
  'step-duration': { type: 'string' },
  p50: { type: 'string' },
  p95: { type: 'string' },
  p99: { type: 'string' },
  errors: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function number(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} wants a non-negative number, got "${v}"`);
  return n;
}

export function thresholdsFrom(v: { p50?: string; p95?: string; p99?: string; errors?: string }): Thresholds {
  const errors = number('errors', v.errors);
  return {
    p50Ms: number('p50', v.p50) ?? DEFAULT_THRESHOLDS.p50Ms,
    p95Ms: number('p95', v.p95) ?? DEFAULT_THRESHOLDS.p95Ms,
    p99Ms: number('p99', v.p99) ?? DEFAULT_THRESHOLDS.p99Ms,
    errorRate: errors === undefined ? DEFAULT_THRESHOLDS.errorRate : errors / 100,
  };
}

/** The user mixes artillery/processor.js knows; any other name would run no requests at all. */
export const MIXES = ['default', 'locust', 'predict', 'light', 'heavy', 'uploader'] as const;

export function mixOf(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  const mix = v.toLowerCase();
  if ((MIXES as readonly string[]).includes(mix)) return mix;
  throw new Error(`--mix wants one of ${MIXES.join(', ')}, got "${v}"`);
}

function uploaders(v: string | undefined): UploadersMode | undefined {
  if (v === undefined) return undefined;
  if (v === 'auto' || v === 'on' || v === 'off') return v;
  throw new Error(`--uploaders wants auto, on or off, got "${v}"`);
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const { values, positionals } = parseArgs({ args: rest, options, allowPositionals: true });
  if (values.help || !command) {
    console.log(USAGE);
    return command ? 0 : 2;
  }
  const thresholds = thresholdsFrom(values);
  const mix = mixOf(values.mix);
  switch (command) {
    case 'run': {
      const scenario = positionals[0];
      if (!scenario) throw new Error(`which scenario?\n${USAGE}`);
      const users = number('users', values.users);
      const durationS = number('duration', values.duration);
      const spawnRate = number('spawn-rate', values['spawn-rate']);
      const thinkScale = number('think-scale', values['think-scale']);
      const up = uploaders(values.uploaders);
      const result = await runScenario({
        scenario,
        thresholds,
        ...(users !== undefined ? { users } : {}),
        ...(durationS !== undefined ? { durationS } : {}),
        ...(spawnRate !== undefined ? { spawnRate } : {}),
        ...(thinkScale !== undefined ? { thinkScale } : {}),
        ...(mix ? { mix } : {}),
        ...(values.model ? { model: values.model } : {}),
        ...(values.target ? { target: values.target } : {}),
        ...(values['api-key'] ? { apiKey: values['api-key'] } : {}),
        ...(up ? { uploaders: up } : {}),
      });
      // Artillery's own exit code carries the `ensure` checks (the smoke profile's zero-failure rule).
      return result.exitCode;
    }
    case 'report': {
      const root = reportsDir();
      const dirs = positionals.length > 0 ? positionals.map((p) => path.resolve(p)) : findRunDirs(root);
      const sweeps =
        positionals.length > 0 || !existsSync(root)
          ? []
          : readdirSync(root)
              .map((n) => path.join(root, n))
              .filter((d) => statSync(d).isDirectory() && existsSync(path.join(d, 'sweep.json')));
      for (const s of sweeps) rebuildSweep(s);
      if (dirs.length === 0 && sweeps.length === 0) {
        console.log(`no runs under ${root}; run \`npm run load -- smoke\` first`);
        return 1;
      }
      const runs = writeReports(dirs, root, thresholds);
      for (const r of runs) console.log(`${r.verdict.ready ? 'READY    ' : 'NOT READY'}  ${r.name}  ${path.join(r.dir, 'report.html')}`);
      if (runs.length > 0) console.log(`comparison: ${path.join(root, 'comparison.html')}`);
      for (const s of sweeps) console.log(`sweep: ${path.join(s, 'sweep.html')}`);
      return 0;
    }
    case 'sweep': {
      const stepS = number('step-duration', values['step-duration']);
      const thinkScale = number('think-scale', values['think-scale']);
      const steps = values.steps
        ?.split(',')
        .map((s) => number('steps', s.trim()) ?? 1)
        .filter((n) => n >= 1);
      const up = uploaders(values.uploaders);
      const r = await runSweep({
        ...(steps ? { steps } : {}),
        ...(stepS !== undefined ? { stepS } : {}),
        ...(thinkScale !== undefined ? { thinkScale } : {}),
        ...(mix ? { mix } : {}),
        ...(values.model ? { model: values.model } : {}),
        ...(values.target ? { target: values.target } : {}),
        ...(values['api-key'] ? { apiKey: values['api-key'] } : {}),
        ...(up ? { uploaders: up } : {}),
      });
      console.log(`sweep: ${path.join(r.dir, 'sweep.html')}`);
      return 0;
    }
    default:
      console.error(`unknown command "${command}"\n${USAGE}`);
      return 2;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`load: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  );
}
