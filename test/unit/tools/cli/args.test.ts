import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { exitCodeOf, parseFlags, UsageError } from '../../../../src/tools/cli/args';
import { main as dlq, parseArgs as parseDlqArgs } from '../../../../src/tools/cli/dlq';
import { parseUploadArgs, main as upload } from '../../../../src/tools/cli/upload';

const ROOT = path.resolve(__dirname, '..', '..', '..', '..');

/** Lines a CLI printed, by stream. */
function sink() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, toOut: (l: string) => out.push(l), toErr: (l: string) => err.push(l) };
}

describe('parseFlags: node:util parseArgs, strict, refusals as UsageError', () => {
  const options = { max: { type: 'string' }, dry: { type: 'boolean' } } as const;

  it('parses --flag value, --flag=value and booleans', () => {
    expect(parseFlags({ args: ['--max', '3', '--dry'], options }, 'usage: x').values).toEqual({ max: '3', dry: true });
    expect(parseFlags({ args: ['--max=4'], options }, 'usage: x').values).toEqual({ max: '4' });
  });

  it.each([
    ['an unknown flag', ['--force']],
    ['a flag without its value', ['--max']],
    ['a positional where none is allowed', ['extra']],
  ])('refuses %s with the reason and the usage', (_, args) => {
    let thrown: unknown;
    try {
      parseFlags({ args, options }, 'usage: x [--max N] [--dry]');
    } catch (err: unknown) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(UsageError);
    expect((thrown as Error).message).toMatch(/\nusage: x \[--max N\] \[--dry\]$/);
  });
});

describe('exitCodeOf', () => {
  it("is main's own code, 2 with the usage for a UsageError, and lets any other failure through", async () => {
    const s = sink();
    await expect(exitCodeOf(async () => 3, s.toErr)).resolves.toBe(3);
    await expect(
      exitCodeOf(async () => {
        throw new UsageError('usage: x');
      }, s.toErr),
    ).resolves.toBe(2);
    expect(s.err).toEqual(['usage: x']);
    await expect(
      exitCodeOf(async () => {
        throw new Error('S3 unreachable');
      }, s.toErr),
    ).rejects.toThrow('S3 unreachable');
  });
});

describe('npm run dlq: its command line', () => {
  it('reads --queue, --to and --max in either form', () => {
    expect(parseDlqArgs(['redrive', '--queue', 'http://q/dlq', '--to=http://q/src', '--max', '5'], {})).toEqual({
      action: 'redrive',
      queueUrl: 'http://q/dlq',
      toUrl: 'http://q/src',
      max: 5,
    });
    expect(parseDlqArgs(['list'], { DLQ_URL: 'http://env/dlq', QUEUE_URL: 'http://env/src' })).toMatchObject({
      queueUrl: 'http://env/dlq',
      toUrl: 'http://env/src',
    });
  });

  it.each([
    ['an unknown flag', ['list', '--force']],
    ['an unknown command', ['purge']],
    ['no command', []],
    ['a second command', ['list', 'redrive']],
    ['--max without its value', ['list', '--max']],
    ['a --max that is not a positive integer', ['list', '--max', '0']],
  ])('answers %s with the usage on stderr and exit code 2, before any queue is asked', async (_, argv) => {
    const s = sink();
    await expect(dlq(argv, {}, s.toOut, s.toErr)).resolves.toBe(2);
    expect(s.out).toEqual([]);
    expect(s.err.join('\n')).toMatch(/usage: npm run dlq -- list\|redrive/);
  });

  it('prints the usage for --help and exits 0', async () => {
    const s = sink();
    await expect(dlq(['--help'], {}, s.toOut, s.toErr)).resolves.toBe(0);
    expect(s.out.join('\n')).toMatch(/^usage: npm run dlq/);
  });
});

describe('npm run upload: its command line', () => {
  it('reads the folder and every flag; the API URL loses its trailing slash, --out is made absolute', () => {
    const argv = ['photos', '--model', 'm', '--top-k', '3', '--api', 'http://api.example/', '--api-key', 'k1', '--out', 'results'];
    expect(parseUploadArgs(argv, {})).toEqual({
      target: 'photos',
      api: 'http://api.example',
      out: path.resolve('results'),
      apiKey: 'k1',
      model: 'm',
      topK: '3',
    });
    expect(parseUploadArgs(['photos.zip'], { API_URL: 'http://env.example', API_KEY: 'k2' })).toMatchObject({
      api: 'http://env.example',
      apiKey: 'k2',
      out: path.resolve('.'),
    });
  });

  it.each([
    ['an unknown flag', ['photos', '--topk', '3']],
    ['no folder or zip', ['--model', 'm']],
    ['two of them', ['a', 'b']],
    ['a flag without its value', ['photos', '--api']],
  ])('answers %s with the usage on stderr and exit code 2, before any request', async (_, argv) => {
    const s = sink();
    await expect(upload(argv, {}, s.toErr)).resolves.toBe(2);
    expect(s.err.join('\n')).toMatch(/usage: npm run upload -- <folder\|zip>/);
  });
});

describe('the benches: their command lines', () => {
  it('a bench refuses a flag it does not know: usage on stderr, exit code 2, before it loads a model', () => {
    // The benches read their flags as they load, so this one runs as a program (tsx, from src).
    const r = spawnSync(
      process.execPath,
      [path.join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), path.join(ROOT, 'src', 'tools', 'bench', 'accuracy.ts'), '--trails', '5'],
      {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    expect({ status: r.status, stdout: r.stdout }).toEqual({ status: 2, stdout: '' });
    expect(r.stderr).toMatch(/Unknown option '--trails'/);
    expect(r.stderr).toMatch(/usage: npm run accuracy \[-- --trials 20 --fraction 0\.001\]/);
  }, 40_000);
});
