// `npm run bench:batch [-- --images 1000]`: a drop of N distinct images end to end (first upload → job done)
// through presigned PUTs, the local S3, ingest, SQS and the workers, beside the in-process ceiling.
import path from 'node:path';
import sharp from 'sharp';
import { optionsFromEnv, startLocalStack } from '../local/start';
import { ceiling } from './ceiling';
import { defaultImagesDir, flag, loadPhotos } from './photos';

const count = Number(flag('images', '1000'));
const imagesDir = path.resolve(flag('images-dir', defaultImagesDir()));

async function main() {
  const photos = loadPhotos(imagesDir).map((p) => p.bytes);
  // Distinct objects of realistic size: each photo re-encoded at varying widths and qualities.
  const images: Buffer[] = [];
  for (let v = 0; images.length < count; v++) {
    const src = photos[v % photos.length] as Buffer;
    images.push(await sharp(src).resize({ width: 300 + ((v * 37) % 340) }).jpeg({ quality: 70 + (v % 25) }).toBuffer());
  }
  const ceil = await ceiling(photos, 8, 'pool');
  const stack = process.env.BENCH_URL ? undefined : await startLocalStack(optionsFromEnv());
  const api = process.env.BENCH_URL ?? stack?.url ?? '';
  const created = (await (
    await fetch(`${api}/jobs`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ count }) })
  ).json()) as { jobId: string; uploads: Array<{ url: string }> };
  const started = performance.now();
  const queue = created.uploads.map((u, i) => ({ url: u.url, body: images[i] as Buffer }));
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let u = queue.shift(); u; u = queue.shift()) {
        const res = await fetch(u.url, { method: 'PUT', body: new Uint8Array(u.body) });
        if (!res.ok) throw new Error(`PUT ${res.status}`);
      }
    }),
  );
  const uploadedS = (performance.now() - started) / 1000;
  let job: { status: string; counts: { done: number; failed: number; expected: number } };
  for (;;) {
    job = (await (await fetch(`${api}/jobs/${created.jobId}`)).json()) as typeof job;
    if (job.status === 'done' || job.status === 'failed') break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const totalS = (performance.now() - started) / 1000;
  await stack?.stop();
  const rate = count / totalS;
  console.log(`\n| images | upload s | first upload → done s | images/s end to end | in-process ceiling images/s | % of ceiling | done | failed |`);
  console.log('|---|---|---|---|---|---|---|---|');
  console.log(
    `| ${count} | ${uploadedS.toFixed(1)} | ${totalS.toFixed(1)} | ${rate.toFixed(1)} | ${ceil.imagesPerS.toFixed(1)} | ${((100 * rate) / ceil.imagesPerS).toFixed(0)} % | ${job.counts.done} | ${job.counts.failed} |`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
