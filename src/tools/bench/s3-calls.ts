// `npm run bench:s3`: the CPU one batch-path S3 call costs on this machine, split between the client (the SDK,
// through the same adapter the worker uses) and the local S3 (in a child process, so the two are measured apart).
// Per image the worker makes one GET of the photo and one PUT of its record: this is the floor under the plumbing
// that shares the cores with inference when everything runs on one machine.
import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { S3ObjectStore, s3ChecksumSettings } from '../../adapters/s3-object-store';
import { startS3Server } from '../../local/s3/server';
import { flagsOrExit } from '../cli/args';
import { loadPhotos } from './photos';

const BUCKET = 'bench-calls';
/** The local S3 verifies every signature, as S3 does: its cost is part of what is measured. */
const CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };
const CONCURRENCY = 8;

type CpuMs = () => Promise<number>;

/** The child: a local S3 that reports its own CPU time on request. */
async function serve(): Promise<void> {
  const dataDir = process.argv[3] as string;
  const s3 = await startS3Server({ port: 0, dataDir, buckets: [BUCKET], credentials: CREDENTIALS });
  process.on('message', (m) => {
    if (m === 'cpu') {
      const u = process.cpuUsage();
      process.send?.({ cpuMs: (u.user + u.system) / 1000 });
    } else if (m === 'stop') void s3.close().then(() => process.exit(0));
  });
  process.send?.({ url: s3.url });
}

function askCpu(child: ChildProcess): CpuMs {
  return () =>
    new Promise((resolve) => {
      child.once('message', (m: { cpuMs: number }) => resolve(m.cpuMs));
      child.send('cpu');
    });
}

async function measure(name: string, n: number, serverCpu: CpuMs, call: (i: number) => Promise<unknown>): Promise<string> {
  const s0 = await serverCpu();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let i = next++; i < n; i = next++) await call(i);
    }),
  );
  const wallMs = performance.now() - t0;
  const c = process.cpuUsage(c0);
  const clientMs = (c.user + c.system) / 1000 / n;
  const serverMs = ((await serverCpu()) - s0) / n;
  return `| ${name} | ${clientMs.toFixed(2)} | ${serverMs.toFixed(2)} | ${(clientMs + serverMs).toFixed(2)} | ${(n / (wallMs / 1000)).toFixed(0)} |`;
}

async function main(): Promise<void> {
  const n = Number(
    flagsOrExit({ options: { calls: { type: 'string', default: '2000' } } }, 'usage: npm run bench:s3 [-- --calls 2000]').values.calls,
  );
  const photo = loadPhotos().find((p) => p.name === 'rocket.jpg') ?? loadPhotos()[0];
  if (!photo) throw new Error('no photos to upload');
  const dataDir = mkdtempSync(path.join(tmpdir(), 'bench-s3-'));
  const child = fork(__filename, ['--serve', dataDir], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const url = await new Promise<string>((resolve) => child.once('message', (m: { url: string }) => resolve(m.url)));
  const client = new S3Client({
    endpoint: url,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: CREDENTIALS,
    ...s3ChecksumSettings,
  });
  const store = new S3ObjectStore(client, BUCKET);
  const cpu = askCpu(child);
  const record = JSON.stringify({
    jobId: 'j',
    itemId: 'x'.repeat(32),
    ok: true,
    predictions: Array.from({ length: 5 }, (_, i) => ({ index: i, label: 'label', score: 0.1 })),
  });
  const putRecord = (prefix: string) => (i: number) =>
    store.put(`${prefix}/${i}.json`, record, { contentType: 'application/json', metadata: { 'source-etag': 'e', ok: 'true' } });
  try {
    // Unmeasured rounds first: JIT and connection pools warm up on both sides.
    await measure('warm-up', n, cpu, putRecord('warm'));
    await measure('warm-up', n, cpu, (i) => store.get(`warm/${i}.json`));
    const rows = [
      await measure(`PUT ${photo.name} (${Math.round(photo.bytes.length / 1024)} KB)`, n, cpu, (i) => store.put(`photos/${i}.jpg`, photo.bytes)),
      await measure('GET the photo', n, cpu, (i) => store.get(`photos/${i}.jpg`)),
      await measure(`PUT a result record (${record.length} B)`, n, cpu, putRecord('results')),
      await measure('HEAD, found', n, cpu, (i) => store.head(`results/${i}.json`)),
      await measure('HEAD, missing', n, cpu, (i) => store.head(`missing/${i}.json`)),
      await measure('conditional PUT (If-None-Match), new key', n, cpu, (i) => store.create(`items/${i}`, '{}')),
    ];
    console.log(`\n${n} calls each, ${CONCURRENCY} at a time; CPU per call in ms (all threads of each process)\n`);
    console.log('| call | client (SDK) | local S3 | both | calls/s |');
    console.log('|---|---|---|---|---|');
    for (const row of rows) console.log(row);
  } finally {
    client.destroy();
    child.send('stop');
    await new Promise((r) => child.once('exit', r));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--serve') void serve();
else
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
