// `npm run bench`: the machine's in-process ceiling (decode + infer through the worker pool, no HTTP) beside
// POST /predict through the local stack at rising connection counts, in one run so the figures compare.
import path from 'node:path';
import { config } from '../../config';
import { clientApiKey } from '../../local/dev-key';
import { optionsFromEnv, startLocalStack } from '../../local/start';
import { imagesDir as testImagesDir } from '../../shared/paths';
import { flagsOrExit } from '../cli/args';
import { ceiling } from './ceiling';
import { type LoadResult, type RequestSpec, runLoad } from './load';
import { loadPhotos } from './photos';

const { values: flags } = flagsOrExit(
  {
    options: {
      connections: { type: 'string', default: '1,4,16,64,256' },
      duration: { type: 'string', default: '15' },
      'no-backoff': { type: 'boolean', default: false },
      'ceiling-duration': { type: 'string', default: '10' },
      images: { type: 'string' },
      'api-key': { type: 'string' },
    },
  },
  'usage: npm run bench [-- --connections 1,4,16,64,256 --duration 15 --ceiling-duration 10 --no-backoff --images DIR --api-key KEY]',
);
const connectionsList = flags.connections.split(',').map(Number);
const durationS = Number(flags.duration);
const honorRetryAfter = !flags['no-backoff'];
const ceilingS = Number(flags['ceiling-duration']);
const imagesDir = path.resolve(flags.images ?? testImagesDir());

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
  const apiKey = stack?.apiKey ?? clientApiKey(flags['api-key'], url);
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

  const header =
    '| connections | ok req/s | % of ceiling | p50 ms | p99 ms | max ms | shed (429/503) | shed p99 ms | shed w/o Retry-After | HTTP errors | socket errors |';
  console.log(
    `\nIn-process ceiling: **${fmt(ceil.imagesPerS)} images/s** (in-thread executor ${fmt(inThread.imagesPerS)}, worker pool ${fmt(workers.imagesPerS)}); HTTP through INFERENCE_MODE=${process.env.INFERENCE_MODE || 'pool'}\n`,
  );
  console.log(header);
  console.log(
    `|${header
      .split('|')
      .slice(1, -1)
      .map(() => '---')
      .join('|')}|`,
  );
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
