import { zipSync } from 'fflate';
import { listZip, type ZipLimits } from '../../../src/adapters/zip';
import type { IngestLimits } from '../../../src/core/jobs/deps';
import { type IngestDeps, ingestUpload } from '../../../src/core/jobs/ingest';
import { itemIdOf, keys, type ResultRecord } from '../../../src/core/jobs/records';
import { jobReport } from '../../../src/core/jobs/report';
import { buildZip, deflated } from '../adapters/zip-builder';
import { FakeQueue, FakeStore, fakeCatalog, operator, SlowStore } from './fakes';

const jobId = 'job-1';
const limits = { maxImageBytes: 1024 * 1024, maxPresignedUrls: 10, presignExpiresSeconds: 60 };
const zipLimits: ZipLimits = {
  maxEntries: 100,
  maxTotalBytes: 64 * 1024 * 1024,
  maxEntryBytes: limits.maxImageBytes,
  maxRatio: 100,
  ratioMinBytes: 64 * 1024,
};
const ingestLimits: IngestLimits = { maxZipBytes: 8 * 1024 * 1024, maxManifestBytes: 64 * 1024, maxManifestLines: 50 };

function setup(reader: IngestDeps['unzip'] = (zip) => listZip(zip, zipLimits)) {
  const store = new FakeStore();
  const queue = new FakeQueue();
  const deps: IngestDeps = { store, queue, catalog: fakeCatalog, unzip: reader, ingestLimits, now: () => new Date('2025-01-01T00:00:00Z') };
  /** Uploads `body` and delivers its notification, as S3 would. */
  const drop = async (name: string, body: Uint8Array | string, job = jobId) => {
    const key = `${keys.uploadPrefix(job)}${name}`;
    await store.put(key, body);
    return { key, deliver: () => ingestUpload(deps, { key, etag: store.objects.get(key)?.etag ?? '' }) };
  };
  const records = (job = jobId) =>
    store.keysUnder(keys.results(job)).map((k) => JSON.parse(Buffer.from(store.objects.get(k)?.body ?? []).toString('utf8')) as ResultRecord);
  const report = (job = jobId) => jobReport({ store, limits }, job, operator);
  return { store, queue, deps, drop, records, report };
}

const jpeg = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]);

describe('ingestUpload of malformed uploads', () => {
  it('a corrupt zip ends as one INVALID_ARCHIVE record for its own key, and the job finishes failed', async () => {
    const { store, deps, drop, records, queue } = setup();
    const zip = await drop('photos.zip', 'PK\u0003\u0004 this is not really a zip');
    await expect(zip.deliver()).resolves.toMatchObject({ kind: 'zip', queued: 0, rejected: 'INVALID_ARCHIVE' });
    const recs = records();
    expect(recs).toHaveLength(1);
    expect(recs[0]).toMatchObject({ key: zip.key, itemId: itemIdOf('test-bucket', zip.key), ok: false, error: { code: 'INVALID_ARCHIVE' } });
    expect(recs[0]?.error?.message).toMatch(/not a zip archive/);
    expect(queue.sent).toEqual([]);
    const report = await jobReport({ ...deps, limits }, jobId, operator);
    expect(report.counts).toEqual({ expected: 1, ingested: 1, done: 0, failed: 1 });
    expect(report.status).toBe('failed');
    // Refused from its bytes alone: nothing was extracted.
    expect(store.keysUnder(keys.uploadPrefix(jobId))).toEqual([zip.key]);
  });

  it('a zip whose offsets point past its end is INVALID_ARCHIVE too, with no internal detail in the message', async () => {
    const { drop, records } = setup();
    const good = Buffer.from(zipSync({ 'a.jpg': jpeg }));
    // The end-of-central-directory record's offset of the central directory, pointed far past the end.
    good.writeUInt32LE(0x7fffffff, good.length - 22 + 16);
    await (await drop('broken.zip', good)).deliver();
    const [rec, ...others] = records();
    expect(others).toEqual([]);
    expect(rec?.error?.code).toBe('INVALID_ARCHIVE');
    expect(rec?.error?.message).toBe('corrupt zip central directory (truncated or inconsistent offsets)');
  });

  it('a manifest whose content cannot be parsed ends as one INVALID_MANIFEST record', async () => {
    const { deps, drop, records, queue } = setup();
    const manifest = await drop('manifest.csv', 'a.jpg\n"never closed,1\nb.jpg\n');
    await expect(manifest.deliver()).resolves.toMatchObject({ kind: 'manifest', queued: 0, rejected: 'INVALID_MANIFEST' });
    expect(records()).toEqual([
      expect.objectContaining({
        key: manifest.key,
        ok: false,
        error: { code: 'INVALID_MANIFEST', message: 'the manifest is not valid CSV: a quote is never closed' },
      }),
    ]);
    // Nothing it lists is queued: a half-read manifest is not a partial job.
    expect(queue.sent).toEqual([]);
    expect((await jobReport({ ...deps, limits }, jobId, operator)).counts).toEqual({ expected: 1, ingested: 1, done: 0, failed: 1 });
  });

  it('a second delivery of the same notification leaves the one record as it was', async () => {
    const { store, deps, drop, records } = setup();
    const zip = await drop('photos.zip', 'garbage');
    await zip.deliver();
    const resultKey = keys.result(jobId, itemIdOf(store.bucket, zip.key));
    const first = store.objects.get(resultKey);
    const revision = (await jobReport({ ...deps, limits }, jobId, operator)).revision;
    deps.now = () => new Date('2025-01-01T00:05:00Z');
    await expect(zip.deliver()).resolves.toMatchObject({ rejected: 'INVALID_ARCHIVE' });
    expect(records()).toHaveLength(1);
    expect(store.objects.get(resultKey)).toBe(first);
    const report = await jobReport({ ...deps, limits }, jobId, operator);
    expect(report.counts).toEqual({ expected: 1, ingested: 1, done: 0, failed: 1 });
    expect(report.revision).toBe(revision);
  });

  it('S3 failures and reader bugs still throw, so S3 retries; the retry then records the upload once', async () => {
    const broken = new TypeError("Cannot read properties of undefined (reading 'length')");
    let buggy = true;
    const { store, drop, records } = setup((zip) => {
      if (buggy) throw broken;
      return listZip(zip, zipLimits);
    });
    const zip = await drop('photos.zip', 'garbage');
    // A fault of the reader is not the upload's: it must not be recorded as if the archive were bad.
    await expect(zip.deliver()).rejects.toBe(broken);
    buggy = false;
    store.failing = (op, key) => op === 'get' && key === zip.key;
    await expect(zip.deliver()).rejects.toThrow(/ETIMEDOUT/);
    store.failing = (op, key) => op === 'put' && key.startsWith(keys.failed(jobId));
    await expect(zip.deliver()).rejects.toThrow(/ETIMEDOUT/);
    expect(records()).toEqual([]);
    store.failing = undefined;
    await expect(zip.deliver()).resolves.toMatchObject({ rejected: 'INVALID_ARCHIVE' });
    expect(records()).toHaveLength(1);
    expect(store.keysUnder(keys.failed(jobId))).toHaveLength(1);
  });

  it('a readable zip uploaded over a corrupt one withdraws its error record and fans out', async () => {
    const { store, deps, drop, records } = setup();
    await (await drop('photos.zip', 'garbage')).deliver();
    expect(records()).toHaveLength(1);
    await (await drop('photos.zip', zipSync({ 'a.jpg': jpeg, 'notes.txt': new Uint8Array([1]) }))).deliver();
    expect(records()).toEqual([]);
    expect((await jobReport({ ...deps, limits }, jobId, operator)).counts).toEqual({ expected: 0, ingested: 0, done: 0, failed: 0 });
    expect(store.keysUnder(keys.uploadPrefix(jobId))).toEqual(['uploads/job-1/photos.zip', 'uploads/job-1/photos/a.jpg']);
  });

  it.each([1, 2])('a withdrawal cut short after %i of its deletes is finished when S3 retries the event', async (deletes) => {
    // Prepare: a corrupt manifest answered, then a readable one over it; the bucket fails the withdrawal part way.
    const { store, deps, drop, records } = setup();
    await (await drop('manifest.csv', '"never closed')).deliver();
    expect(records()).toHaveLength(1);
    const good = await drop('manifest.csv', 'missing.jpg\n');
    let left = deletes;
    store.failing = (op) => op === 'delete' && --left < 0;
    await expect(good.deliver()).rejects.toThrow(/ETIMEDOUT/);
    store.failing = undefined;
    // Act: S3 retries the invocation.
    await expect(good.deliver()).resolves.toEqual({ kind: 'manifest', queued: 0, refused: 0 });
    // Assess: the manifest's own record, failure marker and item are gone; the key it lists is the job's one image.
    const listed = `${keys.uploadPrefix(jobId)}missing.jpg`;
    expect(records().map((r) => r.key)).toEqual([listed]);
    expect(store.keysUnder(keys.items(jobId))).toEqual([keys.item(jobId, itemIdOf(store.bucket, listed))]);
    expect((await jobReport({ ...deps, limits }, jobId, operator)).counts).toEqual({ expected: 1, ingested: 1, done: 0, failed: 1 });
  });
});

/** Photo-like bytes: they do not compress. */
const noise = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 2654435761) >>> 24);

describe('ingestUpload of hostile zips', () => {
  it('an honest zip with one oversized entry: the others are extracted, the big one gets a record of its own', async () => {
    const { store, drop, records, report } = setup();
    const zip = await drop('photos.zip', zipSync({ 'a.jpg': jpeg, 'big.jpg': [noise(limits.maxImageBytes + 1), { level: 0 }], 'sub/b.png': jpeg }));
    await expect(zip.deliver()).resolves.toEqual({ kind: 'zip', queued: 0, extracted: 2, refused: 1 });
    expect(store.keysUnder(keys.uploadPrefix(jobId))).toEqual([zip.key, 'uploads/job-1/photos/a.jpg', 'uploads/job-1/photos/sub/b.png']);
    expect(records()).toEqual([
      expect.objectContaining({
        key: `${zip.key}#big.jpg`,
        ok: false,
        error: {
          code: 'PAYLOAD_TOO_LARGE',
          message: `the entry is ${limits.maxImageBytes + 1} bytes, over the image limit of ${limits.maxImageBytes}`,
        },
      }),
    ]);
    // Counted as an image of the job, and answered: with the two extracted images, the job waits for those alone.
    expect((await report()).counts).toEqual({ expected: 1, ingested: 1, done: 0, failed: 1 });
  });

  it('unsafe and over-long names each get a record, and the entries after them are still extracted', async () => {
    const { store, drop, records } = setup();
    const long = `${'n'.repeat(2000)}.jpg`;
    const zip = await drop(
      'photos.zip',
      buildZip([
        { name: '../evil.jpg', data: jpeg },
        { name: 'x/./y.jpg', data: jpeg },
        { name: '/abs.jpg', data: jpeg },
        { name: 'a\\b.jpg', data: jpeg },
        { name: long, data: jpeg },
        { name: `${'m'.repeat(1000)}.jpg`, data: jpeg },
        { name: '../notes.txt', data: jpeg },
        { name: 'ok.jpg', data: jpeg },
      ]),
    );
    await expect(zip.deliver()).resolves.toEqual({ kind: 'zip', queued: 0, extracted: 1, refused: 7 });
    // Nothing lands outside the zip's own folder.
    expect(store.keysUnder('uploads/')).toEqual([zip.key, 'uploads/job-1/photos/ok.jpg']);
    const byKey = new Map(records().map((r) => [r.key, r.error]));
    expect(byKey.get(`${zip.key}#../evil.jpg`)).toEqual({
      code: 'INVALID_ARCHIVE_ENTRY',
      message: 'the entry\'s name cannot be a key: it has a ".." segment',
    });
    expect(byKey.get(`${zip.key}#x/./y.jpg`)?.message).toBe('the entry\'s name cannot be a key: it has a "." or ".." segment');
    expect(byKey.get(`${zip.key}#/abs.jpg`)?.message).toBe("the entry's name cannot be a key: it has an absolute path");
    expect(byKey.get(`${zip.key}#a\\b.jpg`)?.message).toBe("the entry's name cannot be a key: it has a backslash");
    const mKey = [...byKey.keys()].find((k) => k.startsWith(`${zip.key}#mmm`)) ?? '';
    expect(byKey.get(mKey)?.message).toBe("the entry's name makes a key over 1024 bytes");
    expect(byKey.get(`${zip.key}#../notes.txt`)?.code).toBe('INVALID_ARCHIVE_ENTRY');
    // The 2,000-byte name: its record's key is shortened, and told apart by a hash of the whole name.
    const longKey = [...byKey.keys()].find((k) => k.startsWith(`${zip.key}#nnn`));
    expect(longKey).toMatch(new RegExp(`^${zip.key}#n{200}… \\([0-9a-f]{8}\\)$`));
    expect(byKey.get(longKey ?? '')?.message).toBe("the entry's name cannot be a key: it is over 1024 bytes");
  });

  it('a bomb (1,000 bytes declared, 100 MB inflated) is refused while inflating; its job finishes failed', async () => {
    const { drop, records, report } = setup();
    const bomb = buildZip([{ name: 'bomb.jpg', raw: { ...deflated(new Uint8Array(100 * 1000 * 1000)), size: 1000 } }]);
    const zip = await drop('bomb.zip', bomb);
    await expect(zip.deliver()).resolves.toEqual({ kind: 'zip', queued: 0, extracted: 0, refused: 1 });
    expect(records()).toEqual([
      expect.objectContaining({
        key: `${zip.key}#bomb.jpg`,
        error: { code: 'INVALID_ARCHIVE_ENTRY', message: 'the entry inflates to more than the 1000 bytes its header declares' },
      }),
    ]);
    expect(await report()).toMatchObject({ status: 'failed', counts: { expected: 1, ingested: 1, done: 0, failed: 1 } });
  });

  it('a zip with too many entries is one INVALID_ARCHIVE record, and nothing of it is extracted', async () => {
    const { store, drop, records } = setup();
    const zip = await drop('many.zip', buildZip(Array.from({ length: zipLimits.maxEntries + 1 }, (_, i) => ({ name: `${i}.jpg`, data: jpeg }))));
    await expect(zip.deliver()).resolves.toEqual({ kind: 'zip', queued: 0, rejected: 'INVALID_ARCHIVE' });
    expect(records().map((r) => [r.key, r.error?.message])).toEqual([
      [zip.key, `the zip has ${zipLimits.maxEntries + 1} entries, over the limit of ${zipLimits.maxEntries}`],
    ]);
    expect(store.keysUnder(keys.uploadPrefix(jobId))).toEqual([zip.key]);
  });

  it('a zip over the size limit is refused before it is downloaded', async () => {
    const { store, drop, records } = setup();
    const zip = await drop('huge.zip', zipSync({ 'a.jpg': [noise(ingestLimits.maxZipBytes), { level: 0 }] }));
    await expect(zip.deliver()).resolves.toMatchObject({ rejected: 'INVALID_ARCHIVE' });
    expect(records()[0]?.error?.message).toMatch(new RegExp(`^the zip is \\d+ bytes, over the limit of ${ingestLimits.maxZipBytes}$`));
    expect(store.calls.filter((c) => c.op === 'get' && c.key === zip.key)).toEqual([]);
  });

  it('leaves out directories, __MACOSX, dot-files and non-images, with no record', async () => {
    const { store, drop, records } = setup();
    const zip = await drop(
      'photos.zip',
      zipSync({
        'dir/': new Uint8Array(),
        '__MACOSX/._a.jpg': jpeg,
        '.hidden/b.jpg': jpeg,
        'sub/.c.jpg': jpeg,
        'notes.txt': jpeg,
        'dir/d.JPG': jpeg,
      }),
    );
    await expect(zip.deliver()).resolves.toEqual({ kind: 'zip', queued: 0, extracted: 1, refused: 0 });
    expect(store.keysUnder(keys.uploadPrefix(jobId))).toEqual([zip.key, 'uploads/job-1/photos/dir/d.JPG']);
    expect(records()).toEqual([]);
  });

  it('a repeated notification of a zip with bad entries leaves their records as they were', async () => {
    const { store, deps, drop, records, report } = setup();
    const zip = await drop(
      'photos.zip',
      buildZip([
        { name: '../x.jpg', data: jpeg },
        { name: 'ok.jpg', data: jpeg },
      ]),
    );
    await zip.deliver();
    const before = store.keysUnder(keys.results(jobId)).map((k) => store.objects.get(k));
    const revision = (await report()).revision;
    deps.now = () => new Date('2025-01-01T00:05:00Z');
    await zip.deliver();
    expect(store.keysUnder(keys.results(jobId)).map((k) => store.objects.get(k))).toEqual(before);
    expect(records()).toHaveLength(1);
    expect((await report()).revision).toBe(revision);
  });
});

describe('ingestUpload of manifests', () => {
  it('CSV: quoted keys, a BOM, relative keys; each bad line gets a record and another job is never read', async () => {
    // Prepare
    const { store, queue, drop, records } = setup();
    await drop('a,b.jpg', jpeg);
    await drop('c.jpg', jpeg);
    const secret = await drop('secret.jpg', jpeg, 'other-job');
    const lines = [
      'key,note',
      '"uploads/job-1/a,b.jpg",x',
      'c.jpg',
      'uploads/other-job/secret.jpg',
      'uploads/job-1/../other-job/secret.jpg',
      `${'k'.repeat(1100)}.jpg`,
      'photos.zip',
      ',empty',
      'missing.jpg',
    ];
    const manifest = await drop('manifest.csv', `\ufeff${lines.join('\r\n')}\r\n`);
    store.calls.length = 0;
    // Act
    await expect(manifest.deliver()).resolves.toEqual({ kind: 'manifest', queued: 2, refused: 5 });
    // Assess
    expect(queue.sent.map((i) => i.key)).toEqual(['uploads/job-1/a,b.jpg', 'uploads/job-1/c.jpg']);
    const byKey = new Map(records().map((r) => [r.key, r.error]));
    expect(byKey.get(`${manifest.key}#line 4`)).toEqual({
      code: 'KEY_OUTSIDE_JOB',
      message: '"uploads/other-job/secret.jpg" lies outside this job\'s uploads (uploads/job-1/)',
    });
    expect(byKey.get(`${manifest.key}#line 5`)?.message).toBe(
      '"uploads/job-1/../other-job/secret.jpg" is no usable key: it has a "." or ".." segment',
    );
    expect(byKey.get(`${manifest.key}#line 6`)?.message).toMatch(/is no usable key: it is over 1024 bytes$/);
    expect(byKey.get(`${manifest.key}#line 7`)).toEqual({
      code: 'INVALID_MANIFEST_LINE',
      message: '"photos.zip" is no image key (ingest ignores it, or reads it as a zip or a manifest)',
    });
    expect(byKey.get(`${manifest.key}#line 8`)).toEqual({ code: 'INVALID_MANIFEST_LINE', message: 'line 8 lists no key: its first column is empty' });
    expect(byKey.get('uploads/job-1/missing.jpg')?.code).toBe('OBJECT_NOT_FOUND');
    expect(byKey.size).toBe(6);
    // The other job's object was never even looked at, and its job has nothing new.
    expect(store.calls.filter((c) => c.key.includes('other-job'))).toEqual([]);
    expect([...store.keysUnder('jobs/other-job/'), ...store.keysUnder(keys.results('other-job'))]).toEqual([]);
    expect(store.objects.has(secret.key)).toBe(true);
  });

  it('JSONL with bad lines: the good lines are queued, each bad one recorded by its line number', async () => {
    const { drop, queue, records, report } = setup();
    await drop('a.jpg', jpeg);
    await drop('b.jpg', jpeg);
    const manifest = await drop('manifest.jsonl', '{"key":"uploads/job-1/a.jpg"}\n\n{not json\n"b.jpg"\n{"nokey":1}\n');
    await expect(manifest.deliver()).resolves.toEqual({ kind: 'manifest', queued: 2, refused: 2 });
    expect(queue.sent.map((i) => i.key)).toEqual(['uploads/job-1/a.jpg', 'uploads/job-1/b.jpg']);
    expect(records().map((r) => [r.key, r.error?.code, r.error?.message])).toEqual(
      expect.arrayContaining([
        [`${manifest.key}#line 3`, 'INVALID_MANIFEST_LINE', 'line 3 lists no key: it is not JSON'],
        [`${manifest.key}#line 5`, 'INVALID_MANIFEST_LINE', 'line 5 lists no key: it has no "key"'],
      ]),
    );
    // Two images queued and two lines answered: the job is running, not stuck pending.
    expect(await report()).toMatchObject({ status: 'running', counts: { expected: 4, ingested: 4, done: 0, failed: 2 } });
  });

  it('a manifest over the line limit, or over the byte limit (before download), is one INVALID_MANIFEST record', async () => {
    const { store, drop, records, queue } = setup();
    const lines = await drop('manifest.csv', Array.from({ length: ingestLimits.maxManifestLines + 1 }, (_, i) => `${i}.jpg`).join('\n'));
    await expect(lines.deliver()).resolves.toMatchObject({ rejected: 'INVALID_MANIFEST' });
    const bytes = await drop('big.manifest.jsonl', `${'"a.jpg"\n'.repeat(ingestLimits.maxManifestBytes / 8)}x`);
    await expect(bytes.deliver()).resolves.toMatchObject({ rejected: 'INVALID_MANIFEST' });
    expect(
      records()
        .map((r) => r.error?.message)
        .sort(),
    ).toEqual([
      `the manifest is ${ingestLimits.maxManifestBytes + 1} bytes, over the limit of ${ingestLimits.maxManifestBytes}`,
      `the manifest is over ${ingestLimits.maxManifestLines} lines`,
    ]);
    expect(store.calls.filter((c) => c.op === 'get' && c.key === bytes.key)).toEqual([]);
    expect(queue.sent).toEqual([]);
  });
});

describe('an overwritten job.json', () => {
  it.each([
    ['not JSON', 'garbage', 'not JSON'],
    ['the wrong shape', JSON.stringify({ jobId, model: 5 }), 'bad or missing "model"'],
    [
      "another job's record",
      JSON.stringify({ jobId: 'job-2', model: 'm', topK: 5, createdAt: '2025-01-01T00:00:00Z', announced: 0, explicit: true }),
      'bad or missing "jobId"',
    ],
  ])('%s: an upload is answered with JOB_UNREADABLE instead of failing forever, and reading the job is a 409', async (_, body, reason) => {
    const { store, drop, records, queue, report } = setup();
    await store.put(keys.job(jobId), body);
    const image = await drop('a.jpg', jpeg);
    await expect(image.deliver()).resolves.toEqual({ kind: 'image', queued: 0, rejected: 'JOB_UNREADABLE' });
    // Again, as S3 may deliver it: no throw, the same one record.
    await expect(image.deliver()).resolves.toMatchObject({ rejected: 'JOB_UNREADABLE' });
    expect(records()).toEqual([
      expect.objectContaining({
        key: image.key,
        error: { code: 'JOB_UNREADABLE', message: `the record of job "${jobId}" is unreadable (${reason})` },
      }),
    ]);
    expect(queue.sent).toEqual([]);
    await expect(report()).rejects.toMatchObject({ code: 'JOB_UNREADABLE', statusCode: 409, expose: true });
    // The record is left as it was, for an operator to repair.
    expect(Buffer.from(store.objects.get(keys.job(jobId))?.body ?? []).toString()).toBe(body);
  });
});

describe('ingestUpload trusts the bucket, not the event', () => {
  it('an event for an image that was never uploaded is ignored: nothing registered, queued or answered', async () => {
    // Prepare: a job announcing one image, not uploaded yet; a forged event names it (the local Lambda port is open).
    const { store, deps, queue, report } = setup();
    const victim = 'victim-job';
    await store.put(
      keys.job(victim),
      JSON.stringify({ jobId: victim, model: 'test-model', topK: 5, createdAt: '2025-01-01T00:00:00Z', announced: 1, explicit: true }),
    );
    const before = await report(victim);
    store.calls.length = 0;
    // Act
    const outcome = await ingestUpload(deps, { key: `uploads/${victim}/image-00000.jpg`, etag: 'forged' });
    // Assess: a HEAD of the object and of its item marker (never counted: nothing to answer), nothing written, and the
    // victim's job reads as before (not failed by an OBJECT_NOT_FOUND).
    expect(outcome).toEqual({ kind: 'missing', queued: 0 });
    expect(store.calls).toEqual([
      { op: 'head', key: `uploads/${victim}/image-00000.jpg` },
      { op: 'head', key: keys.item(victim, itemIdOf(store.bucket, `uploads/${victim}/image-00000.jpg`)) },
    ]);
    expect(queue.sent).toEqual([]);
    expect(await report(victim)).toEqual(before);
    // Nor does an event for a job that does not exist create one.
    await expect(ingestUpload(deps, { key: 'uploads/no-such-job/a.jpg', etag: 'x' })).resolves.toEqual({ kind: 'missing', queued: 0 });
    expect(store.keysUnder('jobs/no-such-job/')).toEqual([]);
  });

  it("registers and queues an image with its object's ETag, not the event's, and its job's model and topK in the marker", async () => {
    const { store, deps, queue, drop } = setup();
    await store.put(
      keys.job(jobId),
      JSON.stringify({ jobId, model: 'test-model', topK: 3, createdAt: '2025-01-01T00:00:00Z', announced: 0, explicit: true }),
    );
    const image = await drop('a.jpg', jpeg);
    const etag = store.objects.get(image.key)?.etag;
    await expect(ingestUpload(deps, { key: image.key, etag: 'stale-or-forged' })).resolves.toEqual({ kind: 'image', queued: 1 });
    expect(queue.sent).toEqual([expect.objectContaining({ key: image.key, etag, model: 'test-model', topK: 3 })]);
    const marker = JSON.parse(Buffer.from(store.objects.get(keys.item(jobId, itemIdOf(store.bucket, image.key)))?.body ?? []).toString());
    expect(marker).toEqual({ key: image.key, etag, model: 'test-model', topK: 3 });
  });
});

/** A manifest of `n` keys of the job, each uploaded; and the bucket as it was before ingest read it. */
async function bigManifest(store: FakeStore, n: number) {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    await FakeStore.prototype.put.call(store, `${keys.uploadPrefix(jobId)}img-${i}.jpg`, new Uint8Array([0xff, 0xd8, i & 255, i >> 8]));
    lines.push(`img-${i}.jpg`);
  }
  lines.push('missing.jpg', 'uploads/other-job/x.jpg', 'img-0.jpg');
  const key = `${keys.uploadPrefix(jobId)}manifest.csv`;
  await FakeStore.prototype.put.call(store, key, lines.join('\n'));
  return key;
}

/** What ingest left in the bucket, without the timestamps: the same whatever the order it went in. */
const state = (store: FakeStore) =>
  store.keysUnder('').map((k) => {
    const body = Buffer.from(store.objects.get(k)?.body ?? []).toString();
    return [k, k.startsWith('results/') ? { ...JSON.parse(body), completedAt: undefined } : body];
  });

describe('ingestUpload of large uploads, several S3 calls at a time', () => {
  const many = { ...ingestLimits, maxManifestBytes: 1024 * 1024, maxManifestLines: 10_000 };

  it('a 2,000-line manifest: at most 16 calls in flight, and the same records and queue as one call at a time', async () => {
    // Prepare: every call takes 5 ms; one at a time, the 4,000 calls of 2,000 lines would take 20 s at least.
    const run = async (inFlight?: number) => {
      // One at a time, the bucket answers at once: it is the reference for what ends in it, not for time.
      const store = inFlight === 1 ? new FakeStore() : new SlowStore(5);
      const queue = new FakeQueue();
      const key = await bigManifest(store, 2000);
      const deps: IngestDeps = {
        store,
        queue,
        catalog: fakeCatalog,
        unzip: async () => [],
        ingestLimits: { ...many, ...(inFlight ? { inFlight } : {}) },
        now: () => new Date(0),
      };
      const started = performance.now();
      const outcome = await ingestUpload(deps, { key });
      return { store, queue, outcome, ms: performance.now() - started };
    };
    // Act
    const bounded = await run();
    const serial = await run(1);
    // Assess: 16 at most, and 16 indeed; the same outcome, bucket and queue (order included) either way.
    expect((bounded.store as SlowStore).maxInFlight).toBe(16);
    expect(bounded.outcome).toEqual({ kind: 'manifest', queued: 2000, refused: 1 });
    expect(bounded.outcome).toEqual(serial.outcome);
    expect(state(bounded.store)).toEqual(state(serial.store));
    expect(bounded.queue.sent).toEqual(serial.queue.sent);
    // A key listed twice is one image, queued once.
    expect(new Set(bounded.queue.sent.map((i) => i.key)).size).toBe(2000);
    expect(bounded.ms).toBeLessThan(10_000);
  }, 30_000);

  it('a zip of 300 entries: at most 16 PUTs in flight and at most 16 entries inflated and not yet written', async () => {
    // Prepare
    const store = new SlowStore(5);
    const queue = new FakeQueue();
    let held = 0;
    let maxHeld = 0;
    const reader: IngestDeps['unzip'] = async (zip) =>
      (await listZip(zip, { ...zipLimits, maxEntries: 1000 })).map((e) => ({
        ...e,
        read: async () => {
          const data = await e.read();
          held += 1;
          maxHeld = Math.max(maxHeld, held);
          return data;
        },
      }));
    const put = store.put.bind(store);
    store.put = async (key, body, options) => {
      await put(key, body, options);
      if (key.startsWith(`${keys.uploadPrefix(jobId)}photos/`)) held -= 1;
    };
    const files = Object.fromEntries(
      Array.from({ length: 300 }, (_, i) => [`p${i}.jpg`, [noise(1000 + i), { level: 0 }] as [Uint8Array, { level: 0 }]]),
    );
    const key = `${keys.uploadPrefix(jobId)}photos.zip`;
    await FakeStore.prototype.put.call(store, key, zipSync(files));
    const deps: IngestDeps = { store, queue, catalog: fakeCatalog, unzip: reader, ingestLimits: many, now: () => new Date(0) };
    // Act
    await expect(ingestUpload(deps, { key })).resolves.toEqual({ kind: 'zip', queued: 0, extracted: 300, refused: 0 });
    // Assess
    expect(store.maxInFlight).toBe(16);
    expect(maxHeld).toBeLessThanOrEqual(16);
    expect(store.keysUnder(`${keys.uploadPrefix(jobId)}photos/`)).toHaveLength(300);
  });

  it('entries of the same name are written in zip order, the last one winning, as one at a time', async () => {
    const { store, drop } = setup();
    const zip = await drop(
      'photos.zip',
      buildZip([
        { name: 'a.jpg', data: noise(50) },
        ...Array.from({ length: 40 }, (_, i) => ({ name: `x${i}.jpg`, data: jpeg })),
        { name: 'a.jpg', data: jpeg },
      ]),
    );
    await expect(zip.deliver()).resolves.toEqual({ kind: 'zip', queued: 0, extracted: 42, refused: 0 });
    expect(store.objects.get('uploads/job-1/photos/a.jpg')?.body).toEqual(jpeg);
  });

  it('a failing S3 call fails the upload (S3 retries it), and no call starts after', async () => {
    const store = new SlowStore(1);
    const key = await bigManifest(store, 200);
    let creates = 0;
    store.failing = (op) => op === 'create' && ++creates === 50;
    const deps: IngestDeps = { store, queue: new FakeQueue(), catalog: fakeCatalog, unzip: async () => [], ingestLimits: many };
    await expect(ingestUpload(deps, { key })).rejects.toThrow(/ETIMEDOUT/);
    const calls = store.calls.length;
    expect(store.inFlight).toBe(0);
    await new Promise((r) => setTimeout(r, 50));
    expect(store.calls.length).toBe(calls);
  });
});

describe('ingestUpload of zips that declare far more than their size', () => {
  it('100 entries under the ratio floor (64 KiB of zeros each) are one INVALID_ARCHIVE record, nothing extracted', async () => {
    const { store, drop, records } = setup();
    const sub = deflated(new Uint8Array(zipLimits.ratioMinBytes));
    const zip = await drop('sub-floor.zip', buildZip(Array.from({ length: 100 }, (_, i) => ({ name: `${i}.jpg`, raw: sub }))));
    await expect(zip.deliver()).resolves.toEqual({ kind: 'zip', queued: 0, rejected: 'INVALID_ARCHIVE' });
    const size = store.objects.get(zip.key)?.body.length;
    expect(records().map((r) => [r.key, r.error?.message])).toEqual([
      [zip.key, `the zip declares ${100 * 64 * 1024} bytes of content, over 100 times its own ${size} bytes`],
    ]);
    expect(store.keysUnder(keys.uploadPrefix(jobId))).toEqual([zip.key]);
  });
});
