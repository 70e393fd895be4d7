// `npm run bench:coldstart [-- --cold 5 --warm 50 --share --only predict,getJob]`: each packaged function in the Lambda sandbox (src/tools/deploy/sandbox.ts):
// a fresh process → handler loaded (init) → first response, repeated --cold times; then --warm invocations of one
// container, p50/p99. The predict photo is a ~500 KB JPEG made from a shared test photo. Without --share a container
// has this machine's cores; with it, Lambda's share: N MB buys N/1769 vCPU.
import { randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import { flagsOrExit } from '../cli/args';
import { apiEvent, multipartBody, s3Event, sqsEvent } from '../deploy/events';
import { vcpusAt } from '../deploy/pricing';
import { LambdaSandbox, type PackagedFunction, readPackage } from '../deploy/sandbox';
import { ROLE_CREDENTIALS, startSandboxAws } from '../deploy/sandbox-aws';
import { median, percentile } from '../load/stats';
import { loadPhotos } from './photos';

const { values: flags } = flagsOrExit(
  {
    options: {
      cold: { type: 'string', default: '5' },
      warm: { type: 'string', default: '50' },
      only: { type: 'string', default: '' },
      share: { type: 'boolean', default: false },
    },
  },
  'usage: npm run bench:coldstart [-- --cold 5 --warm 50 --share --only predict,getJob]',
);

async function main(): Promise<void> {
  const coldRuns = Number(flags.cold);
  const warmRuns = Number(flags.warm);
  const only = flags.only;
  // --share: each container gets Lambda's CPU share of its memory (1 vCPU per 1,769 MB) and its memory as a limit.
  const lambdaShare = flags.share;
  const { functions } = readPackage();
  const bucket = String(functions[0]?.environment.BUCKET_NAME);
  const aws = await startSandboxAws(bucket);
  const photos = loadPhotos();
  const rocket = photos.find((p) => p.name === 'rocket.jpg')?.bytes ?? photos[0]?.bytes ?? Buffer.alloc(0);
  // ~500 KB, 2600 px wide, sRGB without a profile: a phone photo as an app would send it.
  const big = await sharp(rocket).resize({ width: 2600 }).jpeg({ quality: 92 }).toBuffer();
  const jobId = randomUUID();
  const key = `uploads/${jobId}/rocket.jpg`;
  const s3 = new S3Client({ region: 'us-east-1', endpoint: aws.s3.url, forcePathStyle: true, credentials: ROLE_CREDENTIALS });
  const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: rocket }));
  const item = {
    v: 1,
    jobId,
    itemId: randomUUID().replace(/-/g, ''),
    bucket,
    key,
    etag: put.ETag ?? '',
    model: 'mobilenetv2-int8',
    topK: 5,
    fresh: true,
  };
  const form = multipartBody(photos.slice(0, 5).map((p) => ({ name: 'files', filename: p.name, type: p.contentType, data: p.bytes })));

  // One representative event per function; each warm invocation gets a fresh copy (new request ids).
  const events: Record<string, () => unknown> = {
    predict: () => apiEvent({ method: 'POST', resource: '/predict', headers: { 'Content-Type': 'image/jpeg' }, body: big }),
    predictBatch: () => apiEvent({ method: 'POST', resource: '/predict/batch', headers: { 'Content-Type': form.contentType }, body: form.body }),
    health: () => apiEvent({ method: 'GET', resource: '/health' }),
    models: () => apiEvent({ method: 'GET', resource: '/models' }),
    metrics: () => apiEvent({ method: 'GET', resource: '/metrics' }),
    createJob: () => apiEvent({ method: 'POST', resource: '/jobs', headers: { 'Content-Type': 'application/json' }, body: '{"count": 10}' }),
    getJob: () => apiEvent({ method: 'GET', resource: '/jobs/{jobId}', path: `/jobs/${jobId}`, pathParameters: { jobId } }),
    getJobResults: () => apiEvent({ method: 'GET', resource: '/jobs/{jobId}/results', path: `/jobs/${jobId}/results`, pathParameters: { jobId } }),
    ingest: () => s3Event(bucket, { key, size: rocket.length, eTag: put.ETag ?? '' }),
    // A full batch (serverless.yml batchSize 10): the warm figure divided by 10 is the worker's time per image.
    inferSqs: () =>
      sqsEvent(
        aws.queueArn,
        Array.from({ length: 10 }, () => ({
          MessageId: randomUUID(),
          Body: JSON.stringify({ ...item, itemId: randomUUID().replace(/-/g, '') }),
          Attributes: { ApproximateReceiveCount: '1' },
        })),
      ),
  };

  const rows: string[] = [];
  const run = async (fn: PackagedFunction) => {
    const event = events[fn.name];
    if (!event) throw new Error(`no event for ${fn.name}`);
    const init: number[] = [];
    const first: number[] = [];
    for (let i = 0; i < coldRuns; i++) {
      const sandbox = await LambdaSandbox.start(fn, { ...aws.options, lambdaShare });
      const inv = await sandbox.invoke(event());
      if (inv.error) throw new Error(`${fn.name}: ${JSON.stringify(inv.error)}\n${sandbox.logs()}`);
      init.push(sandbox.initMs);
      first.push(inv.ms);
      await sandbox.stop();
    }
    const sandbox = await LambdaSandbox.start(fn, { ...aws.options, lambdaShare });
    await sandbox.invoke(event());
    const warm: number[] = [];
    for (let i = 0; i < warmRuns; i++) warm.push((await sandbox.invoke(event())).ms);
    await sandbox.stop();
    warm.sort((a, b) => a - b);
    const cold = init.map((x, i) => x + (first[i] ?? 0));
    rows.push(
      `| ${fn.name} | ${fn.memoryMb} | ${(lambdaShare ? Math.min(availableParallelism(), vcpusAt(fn.memoryMb)) : availableParallelism()).toFixed(2)} | ${median(init).toFixed(0)} | ${median(first).toFixed(0)} | **${median(cold).toFixed(0)}** (${Math.min(...cold).toFixed(0)}–${Math.max(...cold).toFixed(0)}) | ${percentile(warm, 50).toFixed(1)} | ${percentile(warm, 99).toFixed(1)} |`,
    );
  };
  try {
    for (const fn of functions.filter((f) => !only || only.split(',').includes(f.name))) await run(fn);
  } finally {
    await aws.close();
  }
  console.log(
    `\nLambda sandbox, Node 22, ${lambdaShare ? "Lambda's CPU share (memory / 1,769 MB vCPU, at most this machine's cores) and memory limit" : "this machine's cores, no memory limit"}, ${coldRuns} cold starts and ${warmRuns} warm invocations per function; predict photo ${(big.length / 1024).toFixed(0)} KB JPEG\n`,
  );
  console.log('| function | memory MB | vCPU | init ms (median) | first invocation ms | cold total ms (min–max) | warm p50 ms | warm p99 ms |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
