import { createHash, randomBytes } from 'node:crypto';
import { crc32, deflateRawSync } from 'node:zlib';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { parse as parseCsv } from 'csv-parse/sync';
import { itemIdOf } from '../../src/core/jobs/records';
import { nextSequencer, objectCreatedEvent } from '../../src/local/s3/event';
import { postUpload, type UploadForm } from '../../src/tools/cli/upload';
import { leakIn } from '../hostile/corpus';
import { type HostileImage, hostileImages } from '../hostile/images';
import { DEFAULT_MODEL, seed, seedTop1 } from '../hostile/seeds';
import { zipBomb, zipOf, zipOfManyLarge } from '../hostile/zips';
import { API, authHeaders, call } from './helpers';

// Issue 11, the batch half of "The corpus, as a test": the same hostile images dropped in the bucket, zip slip, zip
// bombs and hostile manifests. Each bad file gets exactly one error record, each good one its result, every job reaches
// done or failed within a bound, and the service stays healthy throughout.

const bucket = 'image-classifier-local';
// The key the local S3 accepts (it verifies SigV4): the stack's own, as batch uploaders with bucket access use it.
const credentials = { accessKeyId: process.env.AWS_ACCESS_KEY_ID || 'local', secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY || 'local' };
const s3Url = () => `http://127.0.0.1:${process.env.S3_PORT}`;
const s3 = new S3Client({ endpoint: s3Url(), forcePathStyle: true, region: 'us-east-1', credentials });
const sqs = new SQSClient({ endpoint: `http://127.0.0.1:${process.env.SQS_PORT}`, region: 'us-east-1', credentials });
const queueUrl = () => `http://127.0.0.1:${process.env.SQS_PORT}/000000000000/infer-queue`;

/** The codes an archive or one of its entries may be refused with. */
const ARCHIVE_REFUSALS = ['INVALID_ARCHIVE', 'INVALID_ARCHIVE_ENTRY', 'PAYLOAD_TOO_LARGE'];

/** How long any hostile job may take to reach done or failed. */
const SETTLE_MS = 150_000;

const run = Date.now().toString(36);
const job = {
  images: `hostile-images-${run}`,
  slip: `hostile-slip-${run}`,
  names: `hostile-names-${run}`,
  oversized: `hostile-oversized-${run}`,
  bomb: `hostile-bomb-${run}`,
  many: `hostile-many-${run}`,
  subFloor: `hostile-sub-floor-${run}`,
  overTotal: `hostile-over-total-${run}`,
  manifests: `hostile-manifests-${run}`,
  other: `hostile-other-${run}`,
  attacker: `hostile-attacker-${run}`,
  overwritten: `hostile-overwritten-${run}`,
};

interface JobBody {
  status: string;
  counts: { expected: number; ingested: number; done: number; failed: number };
  results?: { download?: { jsonl: string; csv: string } };
}

interface ResultRecord {
  key: string;
  ok: boolean;
  predictions?: Array<{ index: number }>;
  error?: { code: string; message: string };
}

/** `count` entries of the same `data`, deflated once (zipOf would deflate each). */
const zipOfSame = (count: number, data: Buffer, name = (i: number) => `e${String(i).padStart(4, '0')}.jpg`) => {
  const deflated = { bytes: deflateRawSync(data), crc: crc32(data) };
  return zipOf(Array.from({ length: count }, (_, i) => ({ name: name(i), data, deflated })));
};

/** The ingest defaults these cases are built against (README "Batch path"). */
const ZIP_DEFAULTS = { maxTotalBytes: 2 * 1024 ** 3, maxRatio: 100, ratioMinBytes: 64 * 1024 };

const put = (key: string, body: Buffer | string) => s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));

async function listAll(prefix: string): Promise<Array<{ key: string; size: number }>> {
  const out: Array<{ key: string; size: number }> = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) out.push({ key: o.Key ?? '', size: o.Size ?? 0 });
    token = page.NextContinuationToken;
  } while (token);
  return out;
}

/**
 * Polls GET /jobs/<id> until it is done or failed with every expected image answered, and stays so for three polls in a
 * row: a zip's entries arrive one upload at a time, so a job can look finished while its zip is still being expanded.
 * Every answer must be non-5xx.
 */
async function settle(jobId: string, timeoutMs = SETTLE_MS): Promise<JobBody> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  let steady = 0;
  while (Date.now() < deadline) {
    const res = await call('GET', `/jobs/${jobId}`);
    expect(res.status).toBeLessThan(500);
    if (res.status === 200) {
      const body = res.body as unknown as JobBody;
      const c = body.counts;
      const finished = (body.status === 'done' || body.status === 'failed') && c.done + c.failed === c.expected;
      steady = finished && JSON.stringify(body.counts) === JSON.stringify((last as JobBody | undefined)?.counts) ? steady + 1 : finished ? 1 : 0;
      last = body;
      if (steady >= 3) return body;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`job ${jobId} did not reach done or failed within ${timeoutMs} ms: ${JSON.stringify(last)}`);
}

/** Every record of a job, following the results' Link pages. */
async function records(jobId: string): Promise<ResultRecord[]> {
  const out: ResultRecord[] = [];
  let next: string | undefined = `/jobs/${jobId}/results?format=jsonl`;
  while (next !== undefined) {
    const res = await fetch(`${API()}${next}`, { headers: authHeaders() });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(leakIn(text)).toBeUndefined();
    for (const line of text.split('\n').filter(Boolean)) out.push(JSON.parse(line) as ResultRecord);
    const link = res.headers.get('link');
    next = link === null ? undefined : /^<([^>]+)>; rel="next"$/.exec(link)?.[1];
  }
  return out;
}

/** A settled job's records, checked against its counts: one record per expected image, none twice. */
async function settledRecords(jobId: string): Promise<ResultRecord[]> {
  const body = await settle(jobId);
  const recs = await records(jobId);
  expect({ records: recs.length, failed: recs.filter((r) => !r.ok).length }).toEqual({ records: body.counts.expected, failed: body.counts.failed });
  return recs;
}

/** /health, sampled all along: a bomb that stalls the HTTP thread or restarts the process shows here. */
const health = { samples: 0, worstMs: 0, failures: [] as string[], starts: [] as number[] };
let sampling: NodeJS.Timeout | undefined;
function sampleHealth(): void {
  const started = performance.now();
  const sentAt = Date.now();
  call('GET', '/health').then(
    (res) => {
      health.samples++;
      health.worstMs = Math.max(health.worstMs, performance.now() - started);
      if (res.status !== 200) health.failures.push(`status ${res.status}`);
      // When the function process started, as this answer tells it (uptime is rounded to the second).
      else health.starts.push((sentAt + Date.now()) / 2 - (res.body.uptimeSeconds as number) * 1000);
    },
    (err: unknown) => health.failures.push(String(err)),
  );
}

/** The image corpus, with the EXIF twins of two photos only: the sync corpus covers every seed. */
const images: HostileImage[] = hostileImages().filter((i) => !i.name.startsWith('exif/') || /^exif\/(bald_eagle|pelican)/.test(i.name));
const keyOf = (img: HostileImage) => `uploads/${job.images}/${img.file}`;

const slipEntries = {
  bad: ['../evil-parent.jpg', '/evil-absolute.jpg', 'good/../../evil-nested.jpg'],
  dot: './dot/goldfish.jpg',
};
const longName = `${'n'.repeat(1100)}.jpg`;
const manifestLines = {
  good: [`uploads/${job.manifests}/listed/good.jpg`, `uploads/${job.manifests}/listed/with,comma.jpg`],
  otherJob: [`uploads/${job.other}/secret.jpg`, `uploads/${job.other}/secret2.png`],
};

beforeAll(async () => {
  sampling = setInterval(sampleHealth, 300);
  // The other job first: its images exist before any manifest names them.
  await put(`uploads/${job.other}/secret.jpg`, seed('bald_eagle.jpeg'));
  await put(`uploads/${job.other}/secret2.png`, seed('orange.png'));
  await put(`uploads/${job.attacker}/a.jpg`, seed('goldfish.jpg'));
  for (const img of images) await put(keyOf(img), await img.bytes());

  // Zip slip: names that would land outside the job's folder, beside good ones.
  await put(
    `uploads/${job.slip}/slip.zip`,
    zipOf([
      { name: 'good/goldfish.jpg', data: seed('goldfish.jpg') },
      ...slipEntries.bad.map((name) => ({ name, data: seed('bald_eagle.jpeg') })),
      { name: slipEntries.dot, data: seed('goldfish.jpg') },
      { name: 'pelican.jpeg', data: seed('pelican.jpeg') },
    ]),
  );
  // Defect 4: an entry name over S3's 1,024-byte key limit must not stop the entry after it.
  await put(
    `uploads/${job.names}/names.zip`,
    zipOf([
      { name: longName, data: seed('goldfish.jpg') },
      { name: 'after-long.jpg', data: seed('pelican.jpeg') },
    ]),
  );
  // Defect 4: an honest entry over the 4 MiB image limit, beside a good one.
  await put(
    `uploads/${job.oversized}/oversized.zip`,
    zipOf([
      { name: 'big.jpg', data: Buffer.alloc(5_000_000, 7), method: 0 },
      { name: 'small.jpg', data: seed('goldfish.jpg') },
    ]),
  );
  // Defect 2: a zip bomb (1,000 bytes declared, 110 MB inflated) and 280 × 4 MB honest entries (1.1 GB in all).
  await put(`uploads/${job.bomb}/bomb.zip`, zipBomb());
  await put(`uploads/${job.many}/many.zip`, zipOfManyLarge());
  // 2,000 entries of 64 KiB of zeros: none over the ratio floor, so no entry's own ratio is checked; 131 MB from 340 KB.
  await put(`uploads/${job.subFloor}/sub-floor.zip`, zipOfSame(2000, Buffer.alloc(ZIP_DEFAULTS.ratioMinBytes)));
  // 550 entries of 4 MB that deflate ~60:1 (64 KB of noise, then zeros): within every ratio, 2.2 GB declared in all.
  const mostlyZeros = Buffer.concat([randomBytes(64 * 1024), Buffer.alloc(4_000_000 - 64 * 1024)]);
  await put(`uploads/${job.overTotal}/over-total.zip`, zipOfSame(550, mostlyZeros));

  // Defects 4 and 6: hostile manifests. The good keys are this job's own (and get ingested as uploads too).
  await put(manifestLines.good[0] as string, seed('goldfish.jpg'));
  await put(manifestLines.good[1] as string, seed('pelican.jpeg'));
  await put(
    `uploads/${job.manifests}/manifest.jsonl`,
    [
      JSON.stringify({ key: manifestLines.good[0] }),
      'this line is not JSON',
      JSON.stringify({ key: manifestLines.otherJob[0] }),
      JSON.stringify({ key: `uploads/${job.manifests}/${'k'.repeat(2000)}.jpg` }),
      JSON.stringify({ nokey: true }),
      JSON.stringify(manifestLines.good[1]),
    ].join('\n'),
  );
  await put(
    `uploads/${job.manifests}/second.manifest.csv`,
    [
      'key',
      `"${manifestLines.good[1]}"`,
      manifestLines.otherJob[1],
      '"=HYPERLINK(""http://evil.example/"",""open"")"',
      '@SUM(1+1)',
      '+1+1',
      '-1-1',
    ].join('\n'),
  );
}, 180_000);

afterAll(() => {
  if (sampling) clearInterval(sampling);
  s3.destroy();
  sqs.destroy();
});

describe('hostile batch: the image corpus dropped in one job', () => {
  let byKey = new Map<string, ResultRecord>();

  beforeAll(async () => {
    const recs = await settledRecords(job.images);
    expect(recs).toHaveLength(images.length);
    byKey = new Map(recs.map((r) => [r.key, r]));
  }, SETTLE_MS + 30_000);

  it.each(images.map((img) => [img.name, img] as const))('%s', (_name, img) => {
    const rec = byKey.get(keyOf(img));
    expect({ image: img.name, answered: rec !== undefined }).toEqual({ image: img.name, answered: true });
    const good = img.expect.accept.some((o) => o.status === 200);
    if (!good) {
      // The same verdict as the sync path: one error record with the code POST /predict answers with.
      expect({ image: img.name, ok: rec?.ok, code: rec?.error?.code }).toEqual({
        image: img.name,
        ok: false,
        code: img.expect.accept.some((o) => o.code === rec?.error?.code) ? rec?.error?.code : img.expect.accept.map((o) => o.code).join(' or '),
      });
      return;
    }
    expect({ image: img.name, ok: rec?.ok, error: rec?.error }).toEqual({ image: img.name, ok: true, error: undefined });
    const top1 = rec?.predictions?.[0]?.index;
    if (img.expect.top1 !== undefined) expect({ image: img.name, top1 }).toEqual({ image: img.name, top1: img.expect.top1 });
    const twin = images.find((i) => i.name === img.expect.sameTop1As);
    if (twin) expect({ image: img.name, top1 }).toEqual({ image: img.name, top1: byKey.get(keyOf(twin))?.predictions?.[0]?.index });
  });
});

describe('hostile batch: archives', () => {
  it('zip slip: good entries classified, one error record per ../ or absolute entry, a ./ entry never lost, nothing outside the job', async () => {
    const recs = await settledRecords(job.slip);
    const prefix = `uploads/${job.slip}/slip`;
    expect(recs.every((r) => r.key.startsWith(prefix))).toBe(true);
    expect(recs.find((r) => r.key === `${prefix}/good/goldfish.jpg`)?.predictions?.[0]?.index).toBe(seedTop1('goldfish.jpg'));
    expect(recs.find((r) => r.key === `${prefix}/pelican.jpeg`)?.predictions?.[0]?.index).toBe(seedTop1('pelican.jpeg'));
    // The three hostile entries (eagle photos) must not be classified, under any key.
    expect(recs.filter((r) => r.ok && r.predictions?.[0]?.index === seedTop1('bald_eagle.jpeg'))).toEqual([]);
    // Two good, three refused, and the ./ entry answered one way or the other: six records, never fewer.
    expect(recs).toHaveLength(6);
    expect(recs.filter((r) => !r.ok).length).toBeGreaterThanOrEqual(slipEntries.bad.length);
    const outside = (await listAll('')).filter(
      (o) => o.key.includes('evil-') && !o.key.startsWith(`uploads/${job.slip}/`) && !o.key.startsWith(`results/${job.slip}/`),
    );
    expect(outside).toEqual([]);
  });

  it('an entry name over 1,024 bytes gets an error record and the entry after it is still classified', async () => {
    const recs = await settledRecords(job.names);
    expect(recs.find((r) => r.key.endsWith('/after-long.jpg'))?.predictions?.[0]?.index).toBe(seedTop1('pelican.jpeg'));
    expect(recs.filter((r) => !r.ok)).toHaveLength(1);
    expect(recs).toHaveLength(2);
  });

  it('an honest entry over the image limit gets one error record; its good neighbour is classified', async () => {
    const recs = await settledRecords(job.oversized);
    expect(recs.find((r) => r.key.endsWith('/small.jpg'))?.predictions?.[0]?.index).toBe(seedTop1('goldfish.jpg'));
    const bad = recs.filter((r) => !r.ok);
    expect(bad).toHaveLength(1);
    expect(ARCHIVE_REFUSALS).toContain(bad[0]?.error?.code);
  });

  it('a zip bomb (1,000 bytes declared, 110 MB inflated) is one error record, and nothing of it is written out', async () => {
    const recs = await settledRecords(job.bomb);
    expect(recs).toHaveLength(1);
    expect(recs[0]?.ok).toBe(false);
    // The archive refused, or its one entry (as a bomb or as over the image limit): the issue does not say which.
    expect(ARCHIVE_REFUSALS).toContain(recs[0]?.error?.code);
    const written = (await listAll(`uploads/${job.bomb}/`)).filter((o) => o.key !== `uploads/${job.bomb}/bomb.zip`);
    expect(written.reduce((n, o) => n + o.size, 0)).toBeLessThanOrEqual(4 * 1024 * 1024);
  });

  /** A settled job's one record, for its zip as a whole, and the bytes written out of that zip (none, it is hoped). */
  async function refusedWhole(jobId: string, zipName: string) {
    const recs = await settledRecords(jobId);
    const written = (await listAll(`uploads/${jobId}/`)).filter((o) => o.key !== `uploads/${jobId}/${zipName}`);
    return { records: recs.map((r) => ({ key: r.key, ok: r.ok, code: r.error?.code })), message: recs[0]?.error?.message, written: written.length };
  }

  it("280 entries of 4 MB (1.1 GB declared by a 1.1 MB zip) are stopped by the total limit for the zip's size: one record, nothing inflated", async () => {
    const whole = await refusedWhole(job.many, 'many.zip');
    expect(whole).toEqual({
      records: [{ key: `uploads/${job.many}/many.zip`, ok: false, code: 'INVALID_ARCHIVE' }],
      message: expect.stringMatching(
        new RegExp(`^the zip declares ${280 * 4_000_000} bytes of content, over ${ZIP_DEFAULTS.maxRatio} times its own \\d+ bytes$`),
      ),
      written: 0,
    });
  });

  it('2,000 entries each at the ratio floor (131 MB declared by a 340 KB zip) are refused as a whole, not written out', async () => {
    const whole = await refusedWhole(job.subFloor, 'sub-floor.zip');
    expect(whole).toEqual({
      records: [{ key: `uploads/${job.subFloor}/sub-floor.zip`, ok: false, code: 'INVALID_ARCHIVE' }],
      message: expect.stringMatching(
        new RegExp(
          `^the zip declares ${2000 * ZIP_DEFAULTS.ratioMinBytes} bytes of content, over ${ZIP_DEFAULTS.maxRatio} times its own \\d+ bytes$`,
        ),
      ),
      written: 0,
    });
  });

  it('550 entries of 4 MB within every ratio (2.2 GB declared by a 37 MB zip) are stopped by ZIP_MAX_TOTAL_BYTES', async () => {
    const whole = await refusedWhole(job.overTotal, 'over-total.zip');
    expect(whole).toEqual({
      records: [{ key: `uploads/${job.overTotal}/over-total.zip`, ok: false, code: 'INVALID_ARCHIVE' }],
      message: `the zip declares over ${ZIP_DEFAULTS.maxTotalBytes} bytes of content`,
      written: 0,
    });
  });
});

describe('hostile batch: manifests', () => {
  it('one error record per bad line, results for the good keys, another job untouched, no formula in results.csv', async () => {
    const recs = await settledRecords(job.manifests);
    const ok = recs.filter((r) => r.ok);
    // The two listed keys of this job (a comma inside a quoted CSV key included) are classified, once each.
    expect(ok.map((r) => r.key).sort()).toEqual([...manifestLines.good].sort());
    // jsonl: not JSON, another job's key, a 2,000-byte key, no "key"; csv: another job's key and four formula lines.
    // The good keys are listed twice (as uploads and by the manifests) but are one image each: nothing else may fail.
    expect(recs.filter((r) => !r.ok)).toHaveLength(4 + 5);
    expect(recs.filter((r) => manifestLines.otherJob.includes(r.key) && r.ok)).toEqual([]);
    const other = await settle(job.other);
    expect(other.counts).toEqual({ expected: 2, ingested: 2, done: 2, failed: 0 });
    // CSV injection: no cell a spreadsheet would run as a formula, in the page route or the download.
    const done = await call('GET', `/jobs/${job.manifests}`);
    const page = await fetch(`${API()}/jobs/${job.manifests}/results?format=csv`, { headers: authHeaders() });
    const download = await fetch(String(done.body.results?.download?.csv));
    for (const res of [page, download]) {
      expect(res.status).toBe(200);
      const rows = parseCsv(await res.text(), { relax_column_count: true }) as string[][];
      expect(rows.length).toBe(recs.length + 1);
      expect(rows.flat().filter((cell) => /^[=+\-@\t\r]/.test(cell))).toEqual([]);
    }
  });
});

describe('hostile batch: forged work and damaged state', () => {
  it('a forged SQS item naming another job (sent to the queue and straight to the worker) does not flip that job', async () => {
    const created = await call('POST', '/jobs', { body: JSON.stringify({ count: 1 }), headers: { 'Content-Type': 'application/json' } });
    expect(created.status).toBe(201);
    const victim = String(created.body.jobId);
    const key = `uploads/${job.attacker}/a.jpg`;
    const head = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const etag = (head.ETag ?? '').replace(/"/g, '');
    const item = { v: 1, jobId: victim, itemId: itemIdOf(bucket, key), bucket, key, etag, model: DEFAULT_MODEL, topK: 5, fresh: true };
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl(), MessageBody: JSON.stringify(item) }));
    const body = JSON.stringify({ ...item, itemId: createHash('sha256').update(`forged-${run}`).digest('hex').slice(0, 32) });
    const event = {
      Records: [
        {
          messageId: `forged-${run}`,
          receiptHandle: 'forged',
          body,
          attributes: {
            ApproximateReceiveCount: '1',
            SentTimestamp: String(Date.now()),
            SenderId: 'forger',
            ApproximateFirstReceiveTimestamp: String(Date.now()),
          },
          messageAttributes: {},
          md5OfBody: createHash('md5').update(body).digest('hex'),
          eventSource: 'aws:sqs',
          eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:infer-queue',
          awsRegion: 'us-east-1',
        },
      ],
    };
    await fetch(`http://127.0.0.1:${process.env.LAMBDA_PORT}/2015-03-31/functions/image-classifier-local-inferSqs/invocations`, {
      method: 'POST',
      body: JSON.stringify(event),
    }).then(
      (res) => res.text(),
      () => undefined,
    );
    // The worker polls every second or so; give it several rounds.
    await new Promise((r) => setTimeout(r, 12_000));
    const after = await call('GET', `/jobs/${victim}`);
    expect(after.status).toBe(200);
    expect({ status: after.body.status, done: after.body.counts.done, failed: after.body.counts.failed }).toEqual({
      status: 'pending',
      done: 0,
      failed: 0,
    });
  });

  it('a forged S3 event (sent straight to the ingest function) for an image not uploaded yet does not fail that job', async () => {
    // Prepare: a victim's job, waiting for its one image.
    const created = await call('POST', '/jobs', { body: JSON.stringify({ names: ['photo.jpg'] }), headers: { 'Content-Type': 'application/json' } });
    expect(created.status).toBe(201);
    const victim = String(created.body.jobId);
    const upload = (created.body.uploads as Array<UploadForm & { key: string }>)[0];
    if (!upload) throw new Error('POST /jobs gave no upload form');
    const counts = async () => {
      const res = await call('GET', `/jobs/${victim}`);
      return { status: res.body.status, counts: res.body.counts };
    };
    const waiting = { status: 'pending', counts: { expected: 1, ingested: 0, done: 0, failed: 0 } };
    expect(await counts()).toEqual(waiting);
    // Act: an event for its upload key, as the local S3 would send it, invoked the way src/local/start.ts invokes ingest.
    const event = objectCreatedEvent({
      eventName: 'ObjectCreated:Put',
      region: 'us-east-1',
      bucket,
      key: upload.key,
      size: 1234,
      etag: 'd41d8cd98f00b204e9800998ecf8427e',
      sequencer: nextSequencer(),
      requestId: `forged-${run}`,
      hostId: 'forger',
      sourceIp: '127.0.0.1',
      configurationId: 'forged',
    });
    const res = await fetch(`http://127.0.0.1:${process.env.LAMBDA_PORT}/2015-03-31/functions/image-classifier-local-ingest/invocations`, {
      method: 'POST',
      body: JSON.stringify(event),
      headers: { 'Content-Type': 'application/json', 'X-Amz-Invocation-Type': 'RequestResponse' },
    });
    // Delivered and handled (a failed invocation would prove nothing).
    expect({ status: res.status, functionError: res.headers.get('x-amz-function-error') }).toEqual({ status: 200, functionError: null });
    await res.text();
    // Assess: nothing counted (ingest answers synchronously), nor later by the worker; the real upload then completes it.
    expect(await counts()).toEqual(waiting);
    await new Promise((r) => setTimeout(r, 5000));
    expect(await counts()).toEqual(waiting);
    expect((await postUpload(upload, new Uint8Array(seed('goldfish.jpg')), 'photo.jpg', 'image/jpeg')).status).toBe(204);
    const recs = await settledRecords(victim);
    expect(recs.map((r) => ({ key: r.key, top1: r.predictions?.[0]?.index }))).toEqual([{ key: upload.key, top1: seedTop1('goldfish.jpg') }]);
  });

  it('a job whose job.json was overwritten answers without a 5xx, before and after an upload', async () => {
    const created = await call('POST', '/jobs', { body: JSON.stringify({ count: 1 }), headers: { 'Content-Type': 'application/json' } });
    const id = String(created.body.jobId);
    await put(`jobs/${id}/job.json`, 'this is not { a job');
    for (const path of [`/jobs/${id}`, `/jobs/${id}/results`]) {
      const res = await call('GET', path);
      expect({ path, status: res.status < 500, leak: leakIn(JSON.stringify(res.body)) }).toEqual({ path, status: true, leak: undefined });
    }
    await put(`uploads/${id}/a.jpg`, seed('goldfish.jpg'));
    await new Promise((r) => setTimeout(r, 8000));
    const res = await call('GET', `/jobs/${id}`);
    expect({ status: res.status < 500, leak: leakIn(JSON.stringify(res.body)) }).toEqual({ status: true, leak: undefined });
  });

  it('the local S3 refuses unsigned requests, a tampered upload form and a form URL used to DELETE (defect 7)', async () => {
    const created = await call('POST', '/jobs', { body: JSON.stringify({ names: ['a.jpg'] }), headers: { 'Content-Type': 'application/json' } });
    const upload = (created.body.uploads as Array<UploadForm & { key: string }>)[0];
    if (!upload) throw new Error('POST /jobs gave no upload form');
    const photo = new Uint8Array(seed('goldfish.jpg'));
    expect((await postUpload(upload, photo, 'a.jpg', 'image/jpeg')).status).toBe(204);
    const objectUrl = `${s3Url()}/${bucket}/${upload.key}`;
    const tampered = { ...upload, fields: { ...upload.fields, key: upload.key.replace(/a\.jpg$/, 'b.jpg') } };
    const statuses = {
      unsignedGet: (await fetch(objectUrl)).status,
      unsignedPut: (await fetch(`${s3Url()}/${bucket}/uploads/${job.attacker}/unsigned.jpg`, { method: 'PUT', body: photo })).status,
      unsignedList: (await fetch(`${s3Url()}/${bucket}?list-type=2&prefix=uploads/`)).status,
      tamperedPost: (await postUpload(tampered, photo, 'b.jpg', 'image/jpeg')).status,
      deleteWithFormUrl: (await fetch(`${upload.url}/${upload.key}`, { method: 'DELETE' })).status,
    };
    expect(statuses).toEqual({ unsignedGet: 403, unsignedPut: 403, unsignedList: 403, tamperedPost: 403, deleteWithFormUrl: 403 });
    // Nothing those requests attempted happened.
    const keys = (await listAll(`uploads/${String(created.body.jobId)}/`)).map((o) => o.key);
    expect(keys).toEqual([upload.key]);
    expect(await listAll(`uploads/${job.attacker}/unsigned.jpg`)).toEqual([]);
  });
});

describe('hostile batch: afterwards', () => {
  it('the service stayed healthy and in one process throughout, and still classifies', async () => {
    sampleHealth();
    await new Promise((r) => setTimeout(r, 500));
    expect(health.failures).toEqual([]);
    expect(health.samples).toBeGreaterThan(10);
    // The issue measured /health stalled 8 s by a zip bomb; 2 s leaves room for 2 shared cores.
    expect(health.worstMs).toBeLessThan(2000);
    // One process all along: its start time moves by rounding only (±0.5 s plus half a request), a restart by 10 s or more.
    expect(Math.max(...health.starts) - Math.min(...health.starts)).toBeLessThan(3000);
    const res = await call('POST', '/predict', { body: new Uint8Array(seed('pelican.jpeg')), headers: { 'Content-Type': 'image/jpeg' } });
    expect(res.status).toBe(200);
    expect(res.body.predictions[0].index).toBe(seedTop1('pelican.jpeg'));
  });
});
