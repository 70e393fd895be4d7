import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import sharp from 'sharp';
import { itemIdOf } from '../../src/core/jobs/records';
import { localCredentials } from '../../src/handlers/deps/local-credentials';
import { EXPECTED_TOP5 } from '../../src/tools/bench/reference-top5';
import { postUpload, type UploadForm } from '../../src/tools/cli/upload';
import { photoNames } from '../fixtures/paths';
import { buildZip, deflated } from '../unit/adapters/zip-builder';
import { API, authHeaders, call, mimeOf, photo, waitForJob } from './helpers';

// Real traffic: the local S3 and SQS started by the global setup (ports from its environment).
const bucket = 'image-classifier-local';
const { credentials } = localCredentials();
const s3 = new S3Client({ endpoint: `http://127.0.0.1:${process.env.S3_PORT}`, forcePathStyle: true, region: 'us-east-1', credentials });
const sqs = new SQSClient({ endpoint: `http://127.0.0.1:${process.env.SQS_PORT}`, region: 'us-east-1', credentials });
const queueUrl = (name: string) => `http://127.0.0.1:${process.env.SQS_PORT}/000000000000/${name}`;

afterAll(() => {
  s3.destroy();
  sqs.destroy();
});

async function results(
  jobId: string,
): Promise<Array<{ key: string; ok: boolean; predictions?: Array<{ index: number }>; error?: { code: string } }>> {
  const res = await fetch(`${API()}/jobs/${jobId}/results?format=jsonl`, { headers: authHeaders() });
  expect(res.status).toBe(200);
  // Read as text: a one-record JSONL body is also a JSON document.
  return (await res.text())
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

const put = (key: string, body: Buffer) => s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));

/** A stored (uncompressed) zip, enough to exercise the zip fan-out. */
function zipOf(files: Array<{ name: string; data: Buffer }>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const f of files) {
    const name = Buffer.from(f.name);
    const crc = crc32(f.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(f.data.length, 18);
    local.writeUInt32LE(f.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(f.data.length, 20);
    central.writeUInt32LE(f.data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, f.data);
    centrals.push(central, name);
    offset += 30 + name.length + f.data.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

describe('batch path: bucket drop → SQS → workers → stored results', () => {
  it('200 photos uploaded with presigned POST forms end as 200 results, correct top-1 for the originals, none lost', async () => {
    // Prepare: the shared photos plus re-encoded and resized variants, 200 distinct objects.
    const names = photoNames();
    const images: Array<{ name: string; data: Buffer; original?: string }> = names.map((n) => ({ name: n, data: photo(n), original: n }));
    for (let v = 0; images.length < 200; v++) {
      const n = names[v % names.length] as string;
      const width = 160 + ((v * 37) % 400);
      const data = await sharp(photo(n))
        .resize({ width })
        .jpeg({ quality: 60 + (v % 35) })
        .toBuffer();
      images.push({ name: `v${v}-${n}.jpg`, data });
    }
    expect(new Set(images.map((i) => createHash('sha256').update(i.data).digest('hex'))).size).toBe(200);
    const created = await call('POST', '/jobs', {
      body: JSON.stringify({ names: images.map((i) => i.name), topK: 3 }),
      headers: { 'Content-Type': 'application/json' },
    });
    expect(created.status).toBe(201);
    const jobId = created.body.jobId as string;
    const uploads = created.body.uploads as Array<UploadForm & { key: string; method: string }>;
    expect(uploads).toHaveLength(200);
    expect(new Set(uploads.map((u) => u.method))).toEqual(new Set(['POST']));
    // Act: upload like a browser or mobile client, straight to the bucket, 8 at a time.
    for (let i = 0; i < uploads.length; i += 8) {
      await Promise.all(
        uploads.slice(i, i + 8).map(async (u, j) => {
          const image = images[i + j];
          const res = await postUpload(u, new Uint8Array(image?.data ?? Buffer.alloc(0)), image?.name ?? 'x.jpg', mimeOf(image?.name ?? ''));
          expect(res.status).toBe(204);
        }),
      );
    }
    const job = await waitForJob(jobId, (b) => b.status === 'done');
    // Assess
    expect(job.counts).toEqual({ expected: 200, ingested: 200, done: 200, failed: 0 });
    const recs = await results(jobId);
    expect(recs).toHaveLength(200);
    expect(new Set(recs.map((r) => r.key)).size).toBe(200);
    for (const img of images.filter((i) => i.original)) {
      const rec = recs.find((r) => r.key.endsWith(`/${img.name}`));
      expect({ name: img.name, top1: rec?.predictions?.[0]?.index }).toEqual({
        name: img.name,
        top1: EXPECTED_TOP5['mobilenetv2-int8']?.[img.original ?? '']?.[0]?.index,
      });
    }
    const done = await call('GET', `/jobs/${jobId}`);
    const csv = await fetch(done.body.results.download.csv as string);
    expect(csv.status).toBe(200);
    expect((await csv.text()).trim().split('\n')).toHaveLength(201);
  });

  it('presigned POST forms: the storage itself refuses another content type and an over-size image, and the job counts neither', async () => {
    // Prepare: a job of three named images, and one of a generated (extension-less) name, which takes any image type.
    const created = await call('POST', '/jobs', {
      body: JSON.stringify({ names: ['good.jpg', 'big.jpg', 'typed.jpg'] }),
      headers: { 'Content-Type': 'application/json' },
    });
    expect(created.status).toBe(201);
    const jobId = String(created.body.jobId);
    const [good, big, typed] = created.body.uploads as Array<UploadForm & { key: string }>;
    if (!good || !big || !typed) throw new Error('POST /jobs gave fewer forms than names');
    expect(good.fields['Content-Type']).toBe('image/jpeg');
    const countOnly = (await call('POST', '/jobs', { body: JSON.stringify({ count: 1 }), headers: { 'Content-Type': 'application/json' } })).body
      .uploads[0] as UploadForm & { key: string };
    const maxImageBytes = 4 * 1024 * 1024;
    // Act
    const accepted = await postUpload(good, new Uint8Array(photo('goldfish.jpg')), 'good.jpg', 'image/jpeg');
    const tooLarge = await postUpload(big, new Uint8Array(maxImageBytes + 1), 'big.jpg', 'image/jpeg');
    const html = await postUpload(
      { ...typed, fields: { ...typed.fields, 'Content-Type': 'text/html' } },
      new Uint8Array(Buffer.from('<script>alert(1)</script>')),
      'typed.jpg',
      'text/html',
    );
    const zipForImage = await postUpload(countOnly, new Uint8Array(Buffer.from('PK not an image')), 'x.zip', 'application/zip');
    // Assess: S3's own refusals, and nothing stored or counted but the good photo.
    const code = async (res: Response) => /<Code>([^<]+)<\/Code>/.exec(await res.text())?.[1];
    expect(accepted.status).toBe(204);
    expect({ status: tooLarge.status, code: await code(tooLarge) }).toEqual({ status: 400, code: 'EntityTooLarge' });
    expect({ status: html.status, code: await code(html) }).toEqual({ status: 403, code: 'AccessDenied' });
    expect({ status: zipForImage.status, code: await code(zipForImage) }).toEqual({ status: 403, code: 'AccessDenied' });
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `uploads/${jobId}/` }));
    expect((listed.Contents ?? []).map((o) => o.Key)).toEqual([good.key]);
    const uploadedCountOnly = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: countOnly.key }));
    expect(uploadedCountOnly.KeyCount).toBe(0);
    const job = await waitForJob(jobId, (b) => b.counts.done === 1);
    await new Promise((r) => setTimeout(r, 1000));
    expect((await waitForJob(jobId, () => true)).counts).toEqual({ expected: 3, ingested: 1, done: 1, failed: 0 });
    expect(job.status).toBe('running');
  });

  it('a corrupt image among good ones gets an error record and never blocks its batch', async () => {
    const jobId = `corrupt-${Date.now()}`;
    await put(`uploads/${jobId}/good-1.jpg`, photo('goldfish.jpg'));
    await put(`uploads/${jobId}/broken.jpg`, Buffer.from('this is not a jpeg'));
    await put(`uploads/${jobId}/good-2.png`, photo('orange.png'));
    const job = await waitForJob(jobId, (b) => b.counts.done + b.counts.failed === 3);
    expect(job).toMatchObject({ status: 'done', counts: { expected: 3, done: 2, failed: 1 } });
    const recs = await results(jobId);
    expect(recs.find((r) => r.key.endsWith('broken.jpg'))?.error?.code).toBe('INVALID_IMAGE');
  });

  it('a corrected image uploaded over a failed one is counted done and no longer failed', async () => {
    const jobId = `reupload-${Date.now()}`;
    const key = `uploads/${jobId}/photo.jpg`;
    await put(key, Buffer.from('this is not a jpeg'));
    // Finished once: this GET also assembles the downloadable results, with the error record in them.
    const first = await waitForJob(jobId, (b) => b.counts.failed === 1);
    expect(first.status).toBe('failed');
    await put(key, photo('goldfish.jpg'));
    // Short of the default: a stale failure marker would leave done at 0 for good.
    const job = await waitForJob(jobId, (b) => b.counts.done === 1, 30_000);
    expect(job).toMatchObject({ status: 'done', counts: { expected: 1, ingested: 1, done: 1, failed: 0 } });
    const recs = await results(jobId);
    expect(recs).toHaveLength(1);
    expect(recs[0]?.predictions?.[0]?.index).toBe(1);
    // The download links serve the answer as it is now, not as it was when the job first finished.
    const downloaded = (await (await fetch(String(job.results?.download?.jsonl))).text()).trim().split('\n');
    expect(downloaded.map((l) => JSON.parse(l).ok)).toEqual([true]);
  });

  it('a first delivery that finds a failure already recorded for its key replaces it', async () => {
    // The interleaving a standard queue allows: another message for the same key stored a failure before this
    // message's first delivery, which skips the lookup. A dot-file keeps ingest out of the way, so the test
    // registers the item itself, as ingest does before it sends (the worker trusts no message without it).
    const created = await call('POST', '/jobs', { body: JSON.stringify({ count: 1 }), headers: { 'Content-Type': 'application/json' } });
    const jobId = String(created.body.jobId);
    const key = `uploads/${jobId}/.late.jpg`;
    const deliver = async (bytes: Buffer) => {
      const etag = ((await put(key, bytes)).ETag ?? '').replace(/"/g, '');
      const item = { v: 1, jobId, itemId: itemIdOf(bucket, key), bucket, key, etag, model: 'mobilenetv2-int8', topK: 5, fresh: true };
      await put(`jobs/${jobId}/items/${item.itemId}`, Buffer.from(JSON.stringify({ key, etag })));
      await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl('infer-queue'), MessageBody: JSON.stringify(item) }));
    };
    await deliver(Buffer.from('this is not a jpeg'));
    await waitForJob(jobId, (b) => b.counts.failed === 1);
    await deliver(photo('goldfish.jpg'));
    const job = await waitForJob(jobId, (b) => b.counts.done === 1, 30_000);
    expect(job.counts).toEqual({ expected: 1, ingested: 1, done: 1, failed: 0 });
  });

  it('duplicate S3 notifications and duplicate SQS deliveries yield exactly one result per image', async () => {
    const jobId = `dup-${Date.now()}`;
    const key = `uploads/${jobId}/pelican.jpeg`;
    await put(key, photo('pelican.jpeg'));
    await waitForJob(jobId, (b) => b.counts.done === 1);
    // Replay the notification (as S3 may) through the ingest function, and re-send the work item (as SQS may).
    const head = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const etag = (head.ETag ?? '').replace(/"/g, '');
    const event = {
      Records: [{ eventSource: 'aws:s3', eventName: 'ObjectCreated:Put', s3: { bucket: { name: bucket }, object: { key, eTag: etag, size: 1 } } }],
    };
    const invoke = await fetch(`http://127.0.0.1:${process.env.LAMBDA_PORT}/2015-03-31/functions/image-classifier-local-ingest/invocations`, {
      method: 'POST',
      body: JSON.stringify(event),
    });
    expect(invoke.status).toBe(200);
    const items = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `jobs/${jobId}/items/` }));
    const itemId = (items.Contents?.[0]?.Key ?? '').split('/').pop();
    const message = JSON.stringify({ v: 1, jobId, itemId, bucket, key, etag, model: 'mobilenetv2-int8', topK: 5 });
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl('infer-queue'), MessageBody: message }));
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl('infer-queue'), MessageBody: message }));
    await new Promise((r) => setTimeout(r, 4000));
    const job = await waitForJob(jobId, (b) => b.status === 'done');
    expect(job.counts).toEqual({ expected: 1, ingested: 1, done: 1, failed: 0 });
    const stored = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `results/${jobId}/` }));
    expect(stored.KeyCount).toBe(1);
  });

  it('the worker classifies with the model and topK of the item marker, and drops a message for other bytes', async () => {
    // As above, the test registers the item itself (a dot-file keeps ingest out of the way), with a marker of this
    // version: the key, its ETag, and the job's model and topK.
    const created = await call('POST', '/jobs', { body: JSON.stringify({ count: 1, topK: 2 }), headers: { 'Content-Type': 'application/json' } });
    const jobId = String(created.body.jobId);
    const key = `uploads/${jobId}/.registered.jpg`;
    const etag = ((await put(key, photo('goldfish.jpg'))).ETag ?? '').replace(/"/g, '');
    const itemId = itemIdOf(bucket, key);
    await put(`jobs/${jobId}/items/${itemId}`, Buffer.from(JSON.stringify({ key, etag, model: 'mobilenetv2-int8', topK: 2 })));
    const item = { v: 1, jobId, itemId, bucket, key, etag, fresh: true };
    // A stale message (other bytes, as before a re-upload) first, then one whose model and topK are not the job's.
    for (const message of [
      { ...item, etag: 'stale', model: 'mobilenetv2-int8', topK: 5 },
      { ...item, model: 'no-such-model', topK: 20 },
    ]) {
      await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl('infer-queue'), MessageBody: JSON.stringify(message) }));
    }
    const job = await waitForJob(jobId, (b) => b.counts.done + b.counts.failed === 1, 30_000);
    expect(job.counts).toEqual({ expected: 1, ingested: 1, done: 1, failed: 0 });
    const [rec, ...others] = (await results(jobId)) as unknown as Array<{
      etag: string;
      model: { name: string };
      predictions?: Array<{ index: number }>;
    }>;
    expect(others).toEqual([]);
    expect({
      etag: rec?.etag,
      model: rec?.model.name,
      top: rec?.predictions?.map((p) => p.index).length,
      top1: rec?.predictions?.[0]?.index,
    }).toEqual({
      etag,
      model: 'mobilenetv2-int8',
      top: 2,
      top1: 1,
    });
  });

  it('a manifest of 300 keys that do not exist (some listed twice) ends as one OBJECT_NOT_FOUND record each', async () => {
    // Ingest answers these 16 at a time: each must be counted and answered once, with the real S3's conditional writes.
    const jobId = `missing-${Date.now()}`;
    const lines = Array.from({ length: 300 }, (_, i) => `gone/${i}.jpg`);
    await put(`uploads/${jobId}/manifest.csv`, Buffer.from([...lines, ...lines.slice(0, 20)].join('\n')));
    const job = await waitForJob(jobId, (b) => b.counts.failed === 300, 60_000);
    expect(job).toMatchObject({ status: 'failed', counts: { expected: 300, ingested: 300, done: 0, failed: 300 } });
    const recs = await results(jobId);
    expect(recs.map((r) => r.key).sort()).toEqual(lines.map((l) => `uploads/${jobId}/${l}`).sort());
    expect(new Set(recs.map((r) => r.error?.code))).toEqual(new Set(['OBJECT_NOT_FOUND']));
  });

  it('a zip of images and a manifest of existing keys fan out per image', async () => {
    const jobId = `fanout-${Date.now()}`;
    await put(`uploads/${jobId}/library/a.jpg`, photo('bald_eagle.jpeg'));
    await put(`uploads/${jobId}/library/b.png`, photo('chelsea.png'));
    await put(
      `uploads/${jobId}/photos.zip`,
      zipOf([
        { name: 'one/goldfish.jpg', data: photo('goldfish.jpg') },
        { name: 'pelican.jpeg', data: photo('pelican.jpeg') },
        { name: 'readme.txt', data: Buffer.from('ignored') },
      ]),
    );
    // Relative keys, resolved in the job's uploads; images there were ingested already, and count once.
    await put(`uploads/${jobId}/manifest.csv`, Buffer.from('key\nlibrary/a.jpg\nlibrary/b.png\nlibrary/missing.jpg\n'));
    const job = await waitForJob(jobId, (b) => b.counts.done + b.counts.failed === 5);
    expect(job.counts).toEqual({ expected: 5, ingested: 5, done: 4, failed: 1 });
    const recs = await results(jobId);
    expect(recs.find((r) => r.key.endsWith('one/goldfish.jpg'))?.predictions?.[0]?.index).toBe(1);
    expect(recs.find((r) => r.key.endsWith('a.jpg'))?.predictions?.[0]?.index).toBe(22);
    expect(recs.find((r) => r.key.endsWith('missing.jpg'))?.error?.code).toBe('OBJECT_NOT_FOUND');
  });

  it('a finished job pages one record at a time, each image once, a corrupt zip among them as its own error record', async () => {
    const jobId = `paged-${Date.now()}`;
    const images = ['goldfish.jpg', 'pelican.jpeg', 'orange.png'];
    for (const n of images) await put(`uploads/${jobId}/${n}`, photo(n));
    await put(`uploads/${jobId}/broken.zip`, Buffer.from('PK this is no zip'));
    const job = await waitForJob(jobId, (b) => b.counts.done + b.counts.failed === 4);
    expect(job).toMatchObject({ status: 'done', counts: { expected: 4, ingested: 4, done: 3, failed: 1 } });
    const seen: Array<{ key: string; ok: boolean; error?: { code: string } }> = [];
    let next: string | undefined = `/jobs/${jobId}/results?limit=1`;
    while (next !== undefined && seen.length < 10) {
      const res = await fetch(`${API()}${next}`, { headers: authHeaders() });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-job-status')).toBe('done');
      const page = (await res.text()).trim().split('\n').filter(Boolean);
      expect(page).toHaveLength(1);
      seen.push(JSON.parse(page[0] ?? '{}'));
      const link = res.headers.get('link');
      const cursor = res.headers.get('x-next-cursor');
      next = link === null ? undefined : /^<([^>]+)>; rel="next"$/.exec(link)?.[1];
      if (link !== null) expect(next).toBe(`/jobs/${jobId}/results?format=jsonl&limit=1&after=${encodeURIComponent(cursor ?? '')}`);
      else expect(cursor).toBeNull();
    }
    expect(seen.map((r) => r.key.split('/').pop()).sort()).toEqual(['broken.zip', ...images].sort());
    expect(seen.find((r) => r.key.endsWith('broken.zip'))).toMatchObject({ ok: false, error: { code: 'INVALID_ARCHIVE' } });
    // CSV pages repeat the header; a cursor from elsewhere is refused.
    const csv = await fetch(`${API()}/jobs/${jobId}/results?format=csv&limit=2`, { headers: authHeaders() });
    expect((await csv.text()).trim().split('\n')).toHaveLength(3);
    expect(csv.headers.get('link')).toMatch(/format=csv&limit=2&after=/);
    expect((await call('GET', `/jobs/${jobId}/results?after=${encodeURIComponent('results/other-job/x.json')}`)).status).toBe(400);
    expect((await call('GET', `/jobs/${jobId}/results?limit=0`)).status).toBe(400);
  });

  it('a poison message goes to the DLQ after maxReceiveCount', async () => {
    const attrs = async (name: string) =>
      Number(
        (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl(name), AttributeNames: ['ApproximateNumberOfMessages'] }))).Attributes
          ?.ApproximateNumberOfMessages ?? 0,
      );
    const before = await attrs('infer-dlq');
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl('infer-queue'), MessageBody: '{"this is": "not a work item"}' }));
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && (await attrs('infer-dlq')) === before) await new Promise((r) => setTimeout(r, 1000));
    expect(await attrs('infer-dlq')).toBe(before + 1);
  });

  it('a worker killed mid-batch: its messages reappear after the visibility timeout and complete', async () => {
    const jobId = `crash-${Date.now()}`;
    const startedBefore = Date.now() - ((await call('GET', '/health')).body.uptimeSeconds as number) * 1000;
    await put(`uploads/${jobId}/a.jpg`, photo('goldfish.jpg'));
    await put(`uploads/${jobId}/crash-me-once.jpg`, photo('pelican.jpeg'));
    await put(`uploads/${jobId}/c.png`, photo('orange.png'));
    const job = await waitForJob(jobId, (b) => b.status === 'done', 120_000);
    expect(job.counts).toEqual({ expected: 3, ingested: 3, done: 3, failed: 0 });
    // The function process really died and was replaced: its uptime restarted after the first one's start.
    const startedAfter = Date.now() - ((await call('GET', '/health')).body.uptimeSeconds as number) * 1000;
    expect(startedAfter - startedBefore).toBeGreaterThan(2000);
  });
});

describe('batch path: hostile uploads end as error records, never as a stuck job or a hurt service', () => {
  const json = { 'Content-Type': 'application/json' };
  const keysUnder = async (prefix: string) =>
    ((await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }))).Contents ?? []).map((o) => o.Key ?? '');
  const record = async (key: string) =>
    JSON.parse(await ((await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body?.transformToString() ?? Promise.resolve('{}')));

  it('a zip with one unsafe entry among good photos: the photos are classified, the entry gets one record, nothing escapes', async () => {
    const jobId = `zipslip-${Date.now()}`;
    const zipKey = `uploads/${jobId}/photos.zip`;
    await put(
      zipKey,
      buildZip([
        { name: 'goldfish.jpg', data: photo('goldfish.jpg'), method: 0 },
        { name: '../escape.jpg', data: photo('pelican.jpeg') },
        { name: 'sub/orange.png', data: photo('orange.png') },
        { name: 'pelican.jpeg', data: photo('pelican.jpeg') },
      ]),
    );
    const job = await waitForJob(jobId, (b) => b.counts.done + b.counts.failed === 4);
    expect(job).toMatchObject({ status: 'done', counts: { expected: 4, ingested: 4, done: 3, failed: 1 } });
    const recs = await results(jobId);
    expect(recs.filter((r) => !r.ok)).toEqual([
      expect.objectContaining({ key: `${zipKey}#../escape.jpg`, error: expect.objectContaining({ code: 'INVALID_ARCHIVE_ENTRY' }) }),
    ]);
    expect(recs.find((r) => r.key.endsWith('photos/goldfish.jpg'))?.predictions?.[0]?.index).toBe(1);
    expect(await keysUnder(`uploads/${jobId}/`)).toEqual([
      zipKey,
      `uploads/${jobId}/photos/goldfish.jpg`,
      `uploads/${jobId}/photos/pelican.jpeg`,
      `uploads/${jobId}/photos/sub/orange.png`,
    ]);
    expect(await keysUnder('uploads/escape.jpg')).toEqual([]);
  });

  it('a zip bomb (1,000 bytes declared, 100 MB inflated) is one record; the good entry beside it is classified; /health stays quick', async () => {
    const jobId = `bomb-${Date.now()}`;
    const zipKey = `uploads/${jobId}/bomb.zip`;
    await put(
      zipKey,
      buildZip([
        { name: 'bomb.jpg', raw: { ...deflated(new Uint8Array(100 * 1000 * 1000)), size: 1000 } },
        { name: 'goldfish.jpg', data: photo('goldfish.jpg') },
      ]),
    );
    const job = await waitForJob(jobId, (b) => b.counts.done + b.counts.failed === 2);
    expect(job).toMatchObject({ status: 'done', counts: { expected: 2, ingested: 2, done: 1, failed: 1 } });
    const recs = await results(jobId);
    expect(recs.find((r) => !r.ok)).toMatchObject({ key: `${zipKey}#bomb.jpg`, error: { code: 'INVALID_ARCHIVE_ENTRY' } });
    const started = Date.now();
    const health = await call('GET', '/health');
    expect(health.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('manifest.csv: a quoted key with a comma is queued; a bad line and a key of another job get a record each; the other job is untouched', async () => {
    // Prepare: another job, finished, whose image a hostile manifest names.
    const other = String((await call('POST', '/jobs', { body: JSON.stringify({ count: 1 }), headers: json })).body.jobId);
    await put(`uploads/${other}/secret.jpg`, photo('pelican.jpeg'));
    const otherBefore = await waitForJob(other, (b) => b.status === 'done');
    const otherReport = await call('GET', `/jobs/${other}`);
    const jobId = `manifest-${Date.now()}`;
    await put(`uploads/${jobId}/a,b.jpg`, photo('goldfish.jpg'));
    const manifestKey = `uploads/${jobId}/manifest.csv`;
    // Act
    await put(
      manifestKey,
      Buffer.from(`key,note\n"uploads/${jobId}/a,b.jpg",commas\nuploads/${other}/secret.jpg,theirs\nuploads/${jobId}/../${other}/secret.jpg,dots\n`),
    );
    // Assess
    const job = await waitForJob(jobId, (b) => b.counts.done + b.counts.failed === 3);
    expect(job).toMatchObject({ status: 'done', counts: { expected: 3, ingested: 3, done: 1, failed: 2 } });
    const recs = await results(jobId);
    expect(recs.map((r) => [r.key, r.ok, r.error?.code]).sort()).toEqual(
      [
        [`uploads/${jobId}/a,b.jpg`, true, undefined],
        [`${manifestKey}#line 3`, false, 'KEY_OUTSIDE_JOB'],
        [`${manifestKey}#line 4`, false, 'INVALID_MANIFEST_LINE'],
      ].sort(),
    );
    const otherAfter = await call('GET', `/jobs/${other}`);
    expect(otherAfter.body.counts).toEqual(otherBefore.counts);
    expect(otherAfter.body.revision).toBe(otherReport.body.revision);
  });

  it('POST /jobs refuses names ingest would ignore or S3 refuse, naming the index', async () => {
    for (const [names, index] of [
      [['a.jpg', ''], 1],
      [['..'], 0],
      [['ok.jpg', '.hidden.jpg'], 1],
      [['x'.repeat(2000)], 0],
      [['a b.jpg', 'a_b.jpg'], 1],
    ] as const) {
      const res = await call('POST', '/jobs', { body: JSON.stringify({ names }), headers: json });
      expect({ names, status: res.status, code: res.body.code, index: res.body.details?.index }).toEqual({
        names,
        status: 400,
        code: 'BAD_REQUEST',
        index,
      });
      expect(res.body.message).toMatch(new RegExp(`^names\\[${index}\\] `));
    }
  });

  it('an overwritten job.json: GET answers 409 JOB_UNREADABLE, and an upload is answered with a record rather than retried forever', async () => {
    const created = await call('POST', '/jobs', { body: JSON.stringify({ count: 1 }), headers: json });
    const jobId = String(created.body.jobId);
    const jobKey = `jobs/${jobId}/job.json`;
    const original = await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: jobKey }))).Body?.transformToString();
    await put(jobKey, Buffer.from('{"overwritten": true}'));
    for (const path of [`/jobs/${jobId}`, `/jobs/${jobId}/results`]) {
      const res = await call('GET', path);
      expect({ path, status: res.status, code: res.body.code }).toEqual({ path, status: 409, code: 'JOB_UNREADABLE' });
      expect(res.body.message).toBe(`the record of job "${jobId}" is unreadable (bad or missing "jobId")`);
    }
    const imageKey = `uploads/${jobId}/a.jpg`;
    await put(imageKey, photo('goldfish.jpg'));
    const deadline = Date.now() + 30_000;
    let stored: string[] = [];
    while (Date.now() < deadline && stored.length === 0) {
      stored = await keysUnder(`results/${jobId}/`);
      if (stored.length === 0) await new Promise((r) => setTimeout(r, 500));
    }
    expect(stored).toHaveLength(1);
    expect(await record(stored[0] ?? '')).toMatchObject({ key: imageKey, ok: false, error: { code: 'JOB_UNREADABLE' } });
    // Repaired, the job reads again, its upload answered.
    await put(jobKey, Buffer.from(original ?? ''));
    expect(await waitForJob(jobId, () => true)).toMatchObject({ status: 'failed', counts: { expected: 1, ingested: 1, done: 0, failed: 1 } });
  });

  it("a forged SQS message naming another job's key, or a key ingest never registered, moves no counts", async () => {
    // Prepare: a victim job of two images, one done; the attacker's own upload, and an object dropped in the
    // victim's prefix behind ingest's back (a dot-file, which ingest ignores).
    const victim = String((await call('POST', '/jobs', { body: JSON.stringify({ count: 2 }), headers: json })).body.jobId);
    await put(`uploads/${victim}/a.jpg`, photo('goldfish.jpg'));
    await waitForJob(victim, (b) => b.counts.done === 1);
    const attacker = `attacker-${Date.now()}`;
    const own = `uploads/${attacker}/mine.jpg`;
    await put(own, photo('pelican.jpeg'));
    await waitForJob(attacker, (b) => b.status === 'done');
    const planted = `uploads/${victim}/.planted.jpg`;
    await put(planted, photo('orange.png'));
    // Act: straight to the queue, as anyone with sqs:SendMessage could.
    const forged = [
      { v: 1, jobId: victim, itemId: itemIdOf(bucket, own), bucket, key: own, etag: 'x', model: 'mobilenetv2-int8', topK: 5, fresh: true },
      { v: 1, jobId: victim, itemId: itemIdOf(bucket, planted), bucket, key: planted, etag: 'x', model: 'mobilenetv2-int8', topK: 5, fresh: true },
    ];
    for (const item of forged) await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl('infer-queue'), MessageBody: JSON.stringify(item) }));
    // The victim's real second image, queued after the forged messages: once it is done, they were handled.
    await put(`uploads/${victim}/b.png`, photo('orange.png'));
    const job = await waitForJob(victim, (b) => b.counts.done + b.counts.failed === 2);
    // Assess
    expect(job).toMatchObject({ status: 'done', counts: { expected: 2, ingested: 2, done: 2, failed: 0 } });
    expect((await results(victim)).map((r) => r.key).sort()).toEqual([`uploads/${victim}/a.jpg`, `uploads/${victim}/b.png`]);
    expect(await keysUnder(`results/${victim}/${itemIdOf(bucket, planted)}`)).toEqual([]);
    // Dropped as handled, not failed back to the queue: a retried message would stay invisible for minutes.
    const queued = async () => {
      const res = await sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: queueUrl('infer-queue'),
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        }),
      );
      return Number(res.Attributes?.ApproximateNumberOfMessages ?? 0) + Number(res.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
    };
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && (await queued()) > 0) await new Promise((r) => setTimeout(r, 250));
    expect(await queued()).toBe(0);
  });
});
