// `npm run bench`: the machine's in-process ceiling (decode + infer through the worker pool, no HTTP) beside
// POST /predict through the local stack at rising connection counts, in one run so the figures compare.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { config } from '../config';
import { optionsFromEnv, startLocalStack } from '../local/start';
import { ceiling } from './ceiling';
import { type LoadResult, type RequestSpec, runLoad } from './load';

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? (args[i + 1] as string) : fallback;
};
const connectionsList = flag('connections', '1,4,16,64,256').split(',').map(Number);
const durationS = Number(flag('duration', '15'));
const honorRetryAfter = !args.includes('--no-backoff');
const ceilingS = Number(flag('ceiling-duration', '10'));
const imagesDir = path.resolve(flag('images', process.env.TEST_IMAGES_DIR || path.join(__dirname, '..', '..', '..', '..', 'shared', 'images')));

const mime = (f: string) => (f.endsWith('.png') ? 'image/png' : 'image/jpeg');

const fmt = (n: number, d = 1) => n.toFixed(d);

async function main() {
  const files = readdirSync(imagesDir).filter((f) => /\.(png|jpe?g)$/i.test(f)).sort();
  const photos = files.map((f) => readFileSync(path.join(imagesDir, f)));
  console.log(
    `bench: ${files.length} photos from ${imagesDir}; ${durationS}s per step; model ${config().defaultModel}; clients ${honorRetryAfter ? 'honour Retry-After' : 'ignore Retry-After (--no-backoff)'}`,
  );

  // Both executors, so the limit is the machine's, not one design's.
  const inThread = await ceiling(photos, ceilingS, 'scheduled');
  const workers = await ceiling(photos, ceilingS, 'pool');
  console.log(`in-process ceiling, in-thread executor: ${fmt(inThread.imagesPerS)} images/s; worker pool: ${fmt(workers.imagesPerS)} images/s`);
  const ceil = inThread.imagesPerS >= workers.imagesPerS ? inThread : workers;

  const external = process.env.BENCH_URL;
  const stack = external ? undefined : await startLocalStack(optionsFromEnv());
  const url = external ?? stack?.url ?? '';
  const requests: RequestSpec[] = files.map((f, i) => ({
    method: 'POST',
    path: '/predict',
    headers: { 'Content-Type': mime(f) },
    body: photos[i] as Buffer,
  }));
  // Warm the path (first invocations load handler modules).
  await runLoad({ url, connections: 2, durationS: 2, requests });
  const rows: LoadResult[] = [];
  for (const c of connectionsList) {
    const r = await runLoad({ url, connections: c, durationS, requests, honorRetryAfter });
    rows.push(r);
    console.log(`  ${c} connections: ${fmt(r.okRps)} ok req/s, p99 ${fmt(r.p99)} ms, shed ${r.shed}, errors ${r.httpErrors + r.socketErrors}`);
  }
  await stack?.stop();

  const header = '| connections | ok req/s | % of ceiling | p50 ms | p99 ms | max ms | shed (429/503) | shed p99 ms | shed w/o Retry-After | HTTP errors | socket errors |';
  console.log(
    `\nIn-process ceiling: **${fmt(ceil.imagesPerS)} images/s** (in-thread executor ${fmt(inThread.imagesPerS)}, worker pool ${fmt(workers.imagesPerS)}); HTTP through INFERENCE_MODE=${process.env.INFERENCE_MODE || 'pool'}\n`,
  );
  console.log(header);
  console.log(`|${header.split('|').slice(1, -1).map(() => '---').join('|')}|`);
  for (const r of rows) {
    console.log(
      `| ${r.connections} | ${fmt(r.okRps)} | ${fmt((100 * r.okRps) / ceil.imagesPerS, 0)} % | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.max)} | ${r.shed} | ${fmt(r.shedP99)} | ${r.shedWithoutRetryAfter} | ${r.httpErrors} | ${r.socketErrors} |`,
    );
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
