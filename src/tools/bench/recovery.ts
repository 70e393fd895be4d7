// `npm run bench:recovery`: a 10 s flood (256 connections that ignore Retry-After), then single requests for 12 s:
// how long until latency is back to its pre-flood level.

import { clientApiKey } from '../../local/dev-key';
import { optionsFromEnv, startLocalStack } from '../../local/start';
import { flagsOrExit } from '../cli/args';
import { median } from '../load/stats';
import { runLoad } from './load';
import { loadPhotos } from './photos';

const { values: flags } = flagsOrExit({ options: { 'api-key': { type: 'string' } } }, 'usage: npm run bench:recovery [-- --api-key KEY]');

async function main() {
  const photos = loadPhotos();
  const requests = photos.map((p) => ({ method: 'POST', path: '/predict', headers: { 'Content-Type': p.contentType }, body: p.bytes }));
  const probe = photos.find((p) => p.name === 'goldfish.jpg')?.bytes ?? (photos[0]?.bytes as Buffer);
  const stack = process.env.BENCH_URL ? undefined : await startLocalStack(optionsFromEnv());
  const url = process.env.BENCH_URL ?? stack?.url ?? '';
  const apiKey = stack?.apiKey ?? clientApiKey(flags['api-key'], url);
  const keyed: Record<string, string> = apiKey ? { 'x-api-key': apiKey } : {};
  const one = async (): Promise<[number, number]> => {
    const t = performance.now();
    const r = await fetch(`${url}/predict`, { method: 'POST', headers: { ...keyed, 'Content-Type': 'image/jpeg' }, body: new Uint8Array(probe) });
    await r.text();
    return [r.status, performance.now() - t];
  };
  const base: number[] = [];
  for (let i = 0; i < 20; i++) base.push((await one())[1]);
  const baseMs = median(base);
  const flood = await runLoad({ url, connections: 256, durationS: 10, requests, honorRetryAfter: false, apiKey });
  const t0 = performance.now();
  const series: Array<[number, number, number]> = [];
  while (performance.now() - t0 < 12_000) {
    const [status, ms] = await one();
    series.push([(performance.now() - t0) / 1000, status, ms]);
  }
  await stack?.stop();
  console.log(`baseline: one request at a time, median ${baseMs.toFixed(1)} ms`);
  console.log(
    `flood (256 connections, no backoff, 10 s): ${flood.ok} served, ${flood.shed} shed, ${flood.socketErrors} socket errors, ${flood.httpErrors} HTTP errors`,
  );
  console.log('| after flood | requests | statuses | median ms |\n|---|---|---|---|');
  for (const s of [0, 0.5, 1, 2, 3, 5, 8, 11]) {
    const w = series.filter((x) => x[0] >= s && x[0] < s + 0.5);
    if (w.length)
      console.log(`| t+${s} s | ${w.length} | ${[...new Set(w.map((x) => x[1]))].join(', ')} | ${median(w.map((x) => x[2])).toFixed(1)} |`);
  }
  const back = series.find((x) => x[1] === 200 && x[2] < 2 * baseMs);
  console.log(`back within 2× baseline latency: ${back ? `t+${back[0].toFixed(2)} s` : 'not within 12 s'}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
