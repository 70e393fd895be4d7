import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type RunResult, runScenario } from '../../src/tools/load/runner';

interface Stack {
  url: string;
  stop(): Promise<void>;
}

/** The stack from the global setup (API_URL), else one of our own from the compiled start script. */
async function stackUnderTest(): Promise<Stack> {
  if (process.env.API_URL) return { url: process.env.API_URL, stop: async () => {} };
  const startJs = path.join(__dirname, '..', '..', 'dist', 'src', 'local', 'start.js');
  if (!existsSync(startJs)) throw new Error(`${startJs} is missing: run \`npm run build\` first`);
  const local = require(startJs) as typeof import('../../src/local/start');
  return local.startLocalStack(local.optionsFromEnv());
}

describe('load: smoke profile', () => {
  let stack: Stack | undefined;
  let out: string;
  let result: RunResult;

  beforeAll(async () => {
    stack = await stackUnderTest();
    out = mkdtempSync(path.join(tmpdir(), 'load-smoke-'));
    // 25 s instead of the profile's 30 keeps the whole file under 45 s with Artillery's start-up.
    result = await runScenario({
      scenario: 'smoke',
      durationS: 25,
      target: stack.url,
      outDir: out,
      runName: 'smoke',
      startStack: false,
      echo: false,
    });
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    rmSync(out, { recursive: true, force: true });
  });

  it('passes its Artillery ensure check: no failure (shed answers allowed)', () => {
    expect(result.report?.checks).toEqual([{ ok: true, expression: 'load.failures == 0' }]);
    expect(result.exitCode).toBe(0);
    expect(result.report?.stats.failures).toBe(0);
  });

  it('exercised every user class of the mix', () => {
    const endpoints = result.report?.stats.endpoints.map((e) => e.endpoint) ?? [];
    expect(endpoints).toEqual(expect.arrayContaining(['POST /predict', 'GET /health', 'GET /metrics', 'POST /predict/batch']));
    expect(result.report?.stats.requests).toBeGreaterThan(20);
  });

  it('wrote the raw Artillery output, the samples and both reports', () => {
    for (const f of ['run.json', 'artillery.json', 'artillery.log', 'report.md', 'report.html'])
      expect(existsSync(path.join(result.dir, f))).toBe(true);
    const md = readFileSync(path.join(result.dir, 'report.md'), 'utf8');
    expect(md).toMatch(/## Response-time percentiles/);
    expect(md).toMatch(/\| POST \/predict \| \d+ \| 0 \|/);
    // processor.js records the in-function duration of /predict answers, so the cost section prices those.
    expect(result.report?.cost.inFunction).toBeGreaterThan(0);
    expect(md).toMatch(/## What this traffic would cost on AWS[\s\S]*`timings\.totalMs`/);
    const html = readFileSync(path.join(result.dir, 'report.html'), 'utf8');
    expect(html.match(/<path class="series"/g)?.length).toBeGreaterThanOrEqual(6);
    // Self-contained: nothing to fetch, nothing to run.
    expect(html).not.toMatch(/<script|<link|<img|(src|href)="https?:/);
  });
});
