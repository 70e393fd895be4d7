// `npm run upload -- <folder|zip> [--model m] [--top-k k] [--api url] [--api-key k] [--out dir]`: a batch uploader's client.
// Creates a job, uploads every image (or the zip) with its presigned POST form, waits, writes results.jsonl / results.csv.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { clientApiKey } from '../../local/dev-key';
import { exitCodeOf, parseFlags, UsageError } from './args';

const IMAGE = /\.(jpe?g|png|webp|gif|tiff?|avif)$/i;

function bar(done: number, total: number, label: string): void {
  const width = 30;
  const filled = total === 0 ? width : Math.round((done / total) * width);
  process.stderr.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}   `);
}

/** An upload form of POST /jobs. */
export interface UploadForm {
  url: string;
  fields: Record<string, string>;
}

/**
 * Uploads `body` with a form of POST /jobs, as a browser would: every field, then the file last (S3 reads no field
 * after it). A form that presets no Content-Type (a count-only job's, which takes any image/*) gets `contentType`.
 */
export async function postUpload(form: UploadForm, body: Uint8Array, filename: string, contentType: string): Promise<Response> {
  const data = new FormData();
  for (const [name, value] of Object.entries(form.fields)) data.append(name, value);
  if (!Object.keys(form.fields).some((name) => name.toLowerCase() === 'content-type')) data.append('Content-Type', contentType);
  data.append('file', new Blob([body], { type: contentType }), filename);
  return fetch(form.url, { method: 'POST', body: data });
}

async function json<T>(res: Response): Promise<T> {
  const text = await res.text();
  if (!res.ok) throw new Error(`${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

const USAGE = 'usage: npm run upload -- <folder|zip> [--model m] [--top-k k] [--api url] [--api-key k] [--out dir]';

/** What one upload run does: its images, the job's model and top-k (the API checks them), where to and where to write. */
export interface UploadCommand {
  target: string;
  api: string;
  out: string;
  apiKey: string | undefined;
  model: string | undefined;
  topK: string | undefined;
}

/**
 * Parses argv (after the script name): the command, or `help` for --help; a line it cannot run is a UsageError.
 * The API defaults to API_URL, else the local stack; the key to --api-key, else API_KEY, else npm start's development key.
 */
export function parseUploadArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): UploadCommand | 'help' {
  const { values, positionals } = parseFlags(
    {
      args: argv,
      options: {
        model: { type: 'string' },
        'top-k': { type: 'string' },
        api: { type: 'string' },
        'api-key': { type: 'string' },
        out: { type: 'string', default: '.' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
    },
    USAGE,
  );
  if (values.help) return 'help';
  const [target, ...extra] = positionals;
  if (!target || extra.length > 0) throw new UsageError(USAGE);
  const api = (values.api ?? env.API_URL ?? 'http://127.0.0.1:3000').replace(/\/$/, '');
  // Never sent with the upload forms.
  const apiKey = clientApiKey(values['api-key'], api, env);
  return { target, api, out: path.resolve(values.out), apiKey, model: values.model, topK: values['top-k'] };
}

export async function upload(c: UploadCommand): Promise<void> {
  const { target, api, out, apiKey } = c;
  const keyed: Record<string, string> = apiKey ? { 'x-api-key': apiKey } : {};
  const files = statSync(target).isDirectory()
    ? readdirSync(target)
        .filter((f) => IMAGE.test(f))
        .sort()
        .map((f) => path.join(target, f))
    : [target];
  if (files.length === 0) throw new Error(`no images in ${target}`);
  const created = await json<{ jobId: string; uploads: Array<UploadForm & { key: string }> }>(
    await fetch(`${api}/jobs`, {
      method: 'POST',
      headers: { ...keyed, 'Content-Type': 'application/json' },
      body: JSON.stringify({ names: files.map((f) => path.basename(f)), model: c.model, topK: c.topK }),
    }),
  );
  console.error(`job ${created.jobId}: uploading ${files.length} file(s) to ${api}`);
  let sent = 0;
  const queue = created.uploads.map((u, i) => ({ ...u, file: files[i] as string }));
  await Promise.all(
    Array.from({ length: 6 }, async () => {
      for (let u = queue.shift(); u; u = queue.shift()) {
        const res = await postUpload(u, new Uint8Array(readFileSync(u.file)), path.basename(u.file), 'application/octet-stream');
        // S3's answer names the refusal (EntityTooLarge: over the size limit; AccessDenied: the wrong type or an expired form).
        if (!res.ok) throw new Error(`upload of ${u.file} failed: ${res.status} ${/<Code>([^<]+)<\/Code>/.exec(await res.text())?.[1] ?? ''}`.trim());
        bar(++sent, files.length, 'upload ');
      }
    }),
  );
  process.stderr.write('\n');
  for (;;) {
    const job = await json<{ status: string; counts: { expected: number; done: number; failed: number } }>(
      await fetch(`${api}/jobs/${created.jobId}`, { headers: keyed }),
    );
    bar(job.counts.done + job.counts.failed, job.counts.expected, 'classify');
    if (job.status === 'done' || job.status === 'failed') break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  process.stderr.write('\n');
  for (const format of ['jsonl', 'csv'] as const) {
    const res = await fetch(`${api}/jobs/${created.jobId}/results?format=${format}`, { headers: keyed });
    if (!res.ok) throw new Error(`results (${format}): ${res.status}`);
    writeFileSync(path.join(out, `results.${format}`), await res.text());
  }
  console.error(`wrote ${path.join(out, 'results.jsonl')} and results.csv`);
}

/** Runs one upload; returns the exit code (2 and the usage on `err` for a bad line). */
export function main(argv: string[], env: NodeJS.ProcessEnv = process.env, err: (line: string) => void = console.error): Promise<number> {
  return exitCodeOf(async () => {
    const command = parseUploadArgs(argv, env);
    if (command === 'help') {
      console.log(USAGE);
      return 0;
    }
    await upload(command);
    return 0;
  }, err);
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      console.error(`\nupload failed: ${e instanceof Error ? e.message : String(e)}`);
      process.exit(1);
    },
  );
}
