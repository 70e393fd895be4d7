// `npm run upload -- <folder|zip> [--model m] [--top-k k] [--api url] [--api-key k] [--out dir]`: a batch uploader's client.
// Creates a job, uploads every image (or the zip) with its presigned POST form, waits, writes results.jsonl / results.csv.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { clientApiKey } from '../local/dev-key';

const IMAGE = /\.(jpe?g|png|webp|gif|tiff?|avif)$/i;

function arg(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

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

export async function upload(args: string[]): Promise<void> {
  const target = args.find((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
  if (!target) throw new Error('usage: npm run upload -- <folder|zip> [--model m] [--top-k k] [--api url] [--api-key k] [--out dir]');
  const api = (arg(args, 'api') ?? process.env.API_URL ?? 'http://127.0.0.1:3000').replace(/\/$/, '');
  const out = path.resolve(arg(args, 'out') ?? '.');
  // API_KEY or --api-key; against npm start, its development key. Never sent with the upload forms.
  const apiKey = clientApiKey(arg(args, 'api-key'), api);
  const keyed: Record<string, string> = apiKey ? { 'x-api-key': apiKey } : {};
  const files = statSync(target).isDirectory()
    ? readdirSync(target).filter((f) => IMAGE.test(f)).sort().map((f) => path.join(target, f))
    : [target];
  if (files.length === 0) throw new Error(`no images in ${target}`);
  const created = await json<{ jobId: string; uploads: Array<UploadForm & { key: string }> }>(
    await fetch(`${api}/jobs`, {
      method: 'POST',
      headers: { ...keyed, 'Content-Type': 'application/json' },
      body: JSON.stringify({ names: files.map((f) => path.basename(f)), model: arg(args, 'model'), topK: arg(args, 'top-k') }),
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
    const job = await json<{ status: string; counts: { expected: number; done: number; failed: number } }>(await fetch(`${api}/jobs/${created.jobId}`, { headers: keyed }));
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

if (require.main === module) {
  upload(process.argv.slice(2)).catch((err: unknown) => {
    console.error(`\nupload failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
