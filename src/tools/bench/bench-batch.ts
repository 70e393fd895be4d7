// `npm run bench:batch [-- --images 1000]`: a drop of N distinct images through presigned POST forms, the local S3,
// ingest, SQS and the workers, beside the in-process ceiling measured on the same images. Two runs:
//  - end to end: workers on while the images upload (first upload → job done);
//  - workers alone: the event source mapping disabled until every image is queued, then enabled, and
//    the drain timed (the workers' own images/s, with nothing else competing for the 2 cores).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { clientApiKey } from '../../local/dev-key';
import { type LocalStack, optionsFromEnv, startLocalStack } from '../../local/start';
import { imagesDir as testImagesDir } from '../../shared/paths';
import { flagsOrExit } from '../cli/args';
import { postUpload, type UploadForm } from '../cli/upload';
import { ceiling } from './ceiling';
import { loadPhotos } from './photos';

const { values: flags } = flagsOrExit(
  {
    options: {
      images: { type: 'string', default: '1000' },
      only: { type: 'string', default: 'both' },
      'images-dir': { type: 'string' },
      'api-key': { type: 'string' },
    },
  },
  'usage: npm run bench:batch [-- --images 1000 --only e2e|workers --images-dir DIR --api-key KEY]',
);
const count = Number(flags.images);
/** `--only e2e` or `--only workers` runs one of the two. */
const only = flags.only;
const imagesDir = path.resolve(flags['images-dir'] ?? testImagesDir());
/** How often the bench asks for the job's status: a client polling faster would tax the stack it measures. */
const POLL_MS = 1000;

type Counts = { done: number; failed: number; expected: number; ingested: number };
interface Drop {
  uploadS: number;
  ingestedS: number;
  doneS: number;
  /** With the workers held: from turning them on to the job's end. */
  drainS?: number;
  final: Counts;
}

/**
 * Uploads `images` as one job and waits for it to finish. With `hold`, the workers are off during the upload:
 * once every image is queued, `hold.enable()` turns them on and the drain is timed on its own.
 */
async function drop(api: string, keyed: Record<string, string>, images: Buffer[], hold?: { enable: () => void }): Promise<Drop> {
  const created = (await (
    await fetch(`${api}/jobs`, {
      method: 'POST',
      headers: { ...keyed, 'Content-Type': 'application/json' },
      body: JSON.stringify({ count: images.length }),
    })
  ).json()) as { jobId: string; uploads: UploadForm[] };
  const started = performance.now();
  const elapsedS = () => (performance.now() - started) / 1000;
  let ingestedS: number | undefined;
  let job: { status: string; counts: Counts } | undefined;
  const poll = async (until: (j: { status: string; counts: Counts }) => boolean, everyMs: number) => {
    for (;;) {
      job = (await (await fetch(`${api}/jobs/${created.jobId}`, { headers: keyed })).json()) as { status: string; counts: Counts };
      if (ingestedS === undefined && job.counts.ingested >= images.length) ingestedS = elapsedS();
      if (until(job)) return;
      await new Promise((r) => setTimeout(r, everyMs));
    }
  };
  const finished = (j: { status: string }) => j.status === 'done' || j.status === 'failed';
  const watching = hold ? undefined : poll(finished, POLL_MS);
  const queue = created.uploads.map((u, i) => ({ form: u, body: images[i] as Buffer }));
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let u = queue.shift(); u; u = queue.shift()) {
        // A count-only job's forms take any image type: these are JPEGs.
        const res = await postUpload(u.form, new Uint8Array(u.body), 'image.jpg', 'image/jpeg');
        if (!res.ok) throw new Error(`upload ${res.status}`);
      }
    }),
  );
  const uploadS = elapsedS();
  let drainS: number | undefined;
  if (hold) {
    await poll((j) => j.counts.ingested >= images.length, 500);
    const enabledAt = performance.now();
    hold.enable();
    await poll(finished, 500);
    drainS = (performance.now() - enabledAt) / 1000;
  } else {
    await watching;
  }
  const final = job?.counts ?? { done: 0, failed: 0, expected: images.length, ingested: 0 };
  return { uploadS, ingestedS: ingestedS ?? elapsedS(), doneS: elapsedS(), final, drainS };
}

async function main() {
  const photos = loadPhotos(imagesDir).map((p) => p.bytes);
  // Distinct objects of realistic size: each photo re-encoded at varying widths and qualities.
  const images: Buffer[] = [];
  for (let v = 0; images.length < count; v++) {
    const src = photos[v % photos.length] as Buffer;
    images.push(
      await sharp(src)
        .resize({ width: 300 + ((v * 37) % 340) })
        .jpeg({ quality: 70 + (v % 25) })
        .toBuffer(),
    );
  }
  // The limit for these very images, not for the shared photos (which decode at a different cost).
  const ceil = await ceiling(images.slice(0, 200), 8, 'pool');
  // An empty bucket and queue each run (unless LOCAL_DATA_DIR says otherwise): what earlier runs left would slow
  // start-up and listings, and the figures would drift from run to run.
  const scratch = process.env.LOCAL_DATA_DIR ? undefined : mkdtempSync(path.join(tmpdir(), 'bench-batch-'));
  const stack: LocalStack | undefined = process.env.BENCH_URL
    ? undefined
    : await startLocalStack({ ...optionsFromEnv(), ...(scratch ? { dataDir: scratch } : {}) });
  const api = process.env.BENCH_URL ?? stack?.url ?? '';
  const apiKey = stack?.apiKey ?? clientApiKey(flags['api-key'], api);
  const keyed: Record<string, string> = apiKey ? { 'x-api-key': apiKey } : {};

  const e2e = only === 'workers' ? undefined : await drop(api, keyed, images);
  let workers: Drop | undefined;
  if (stack && only !== 'e2e') {
    // The same images again, as a new job (new keys), so none is skipped as already answered.
    await stack.workers.disable();
    workers = await drop(api, keyed, images, stack.workers);
  }
  await stack?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });

  const pct = (x: number) => `${((100 * x) / ceil.imagesPerS).toFixed(0)} %`;
  console.log(`\nin-process ceiling on these images (worker pool): ${ceil.imagesPerS.toFixed(1)} images/s`);
  console.log('\n| run | images | upload s | all queued s | first upload → done s | images/s | % of ceiling | done | failed |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  if (e2e) {
    const rate = count / e2e.doneS;
    console.log(
      `| end to end (workers on) | ${count} | ${e2e.uploadS.toFixed(1)} | ${e2e.ingestedS.toFixed(1)} | ${e2e.doneS.toFixed(1)} | ${rate.toFixed(1)} | ${pct(rate)} | ${e2e.final.done} | ${e2e.final.failed} |`,
    );
  }
  if (workers?.drainS) {
    const w = count / workers.drainS;
    console.log(
      `| workers alone (all queued first; drain ${workers.drainS.toFixed(1)} s) | ${count} | ${workers.uploadS.toFixed(1)} | ${workers.ingestedS.toFixed(1)} | – | ${w.toFixed(1)} | ${pct(w)} | ${workers.final.done} | ${workers.final.failed} |`,
    );
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
