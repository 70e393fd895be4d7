// `npm run bench`: the machine's in-process ceiling (decode + infer through the worker pool, no HTTP) beside
// POST /predict through the local stack at rising connection counts, in one run so the figures compare.
import path from 'node:path';
import { config } from '../config';
import { clientApiKey } from '../local/dev-key';
import { optionsFromEnv, startLocalStack } from '../local/start';
import { ceiling } from './ceiling';
import { type LoadResult, type RequestSpec, runLoad } from './load';
import { defaultImagesDir, flag, loadPhotos } from './photos';

const args = process.argv.slice(2);
const connectionsList = flag('connections', '1,4,16,64,256').split(',').map(Number);
const durationS = Number(flag('duration', '15'));
const honorRetryAfter = !args.includes('--no-backoff');
const ceilingS = Number(flag('ceiling-duration', '10'));
const imagesDir = path.resolve(flag('images', defaultImagesDir()));


const fmt = (n: number, d = 1) => n.toFixed(d);

async function main() {
  const all = loadPhotos(imagesDir);
  const files = all.map((p) => p.name);
  const photos = all.map((p) => p.bytes);
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
  const apiKey = stack?.apiKey ?? clientApiKey(flag('api-key', ''), url);
  const requests: RequestSpec[] = all.map((p) => ({ method: 'POST', path: '/predict', headers: { 'Content-Type': p.contentType }, body: p.bytes }));
  // Warm the path (first invocations load handler modules).
  await runLoad({ url, connections: 2, durationS: 2, requests, apiKey });
  const rows: LoadResult[] = [];
  for (const c of connectionsList) {
    const r = await runLoad({ url, connections: c, durationS, requests, honorRetryAfter, apiKey });
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
