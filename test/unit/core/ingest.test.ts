import { zipSync } from 'fflate';
import { unzip } from '../../../src/adapters/zip';
import { type IngestDeps, ingestUpload, itemIdOf, jobReport } from '../../../src/core/batch';
import { keys, type ResultRecord } from '../../../src/core/jobs';
import { FakeQueue, FakeStore, fakeCatalog } from './fakes';

const jobId = 'job-1';
const limits = { maxImageBytes: 1024 * 1024, maxPresignedUrls: 10, presignExpiresSeconds: 60 };

function setup(reader: IngestDeps['unzip'] = (zip) => unzip(zip, limits.maxImageBytes)) {
  const store = new FakeStore();
  const queue = new FakeQueue();
  const deps: IngestDeps = { store, queue, catalog: fakeCatalog, unzip: reader, now: () => new Date('2025-01-01T00:00:00Z') };
  /** Uploads `body` and delivers its notification, as S3 would. */
  const drop = async (name: string, body: Uint8Array | string) => {
    const key = `${keys.uploadPrefix(jobId)}${name}`;
    await store.put(key, body);
    return { key, deliver: () => ingestUpload(deps, { key, etag: store.objects.get(key)?.etag ?? '' }) };
  };
  const records = () =>
    store.keysUnder(keys.results(jobId)).map((k) => JSON.parse(Buffer.from(store.objects.get(k)?.body ?? []).toString('utf8')) as ResultRecord);
  return { store, queue, deps, drop, records };
}

const jpeg = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]);

describe('ingestUpload of malformed uploads', () => {
  it('a corrupt zip ends as one INVALID_ARCHIVE record for its own key, and the job finishes failed', async () => {
    const { deps, drop, records, queue } = setup();
    const zip = await drop('photos.zip', 'PK\u0003\u0004 this is not really a zip');
    await expect(zip.deliver()).resolves.toMatchObject({ kind: 'zip', queued: 0, rejected: 'INVALID_ARCHIVE' });
    const recs = records();
    expect(recs).toHaveLength(1);
    expect(recs[0]).toMatchObject({ key: zip.key, itemId: itemIdOf('test-bucket', zip.key), ok: false, error: { code: 'INVALID_ARCHIVE' } });
    expect(recs[0]?.error?.message).toMatch(/not a zip archive/);
    expect(queue.sent).toEqual([]);
    const report = await jobReport({ ...deps, limits }, jobId);
    expect(report.counts).toEqual({ expected: 1, ingested: 1, done: 0, failed: 1 });
    expect(report.status).toBe('failed');
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
    expect(rec?.error?.message).toBe('corrupt zip archive (truncated or inconsistent offsets)');
  });

  it('a manifest whose content cannot be parsed ends as one INVALID_MANIFEST record', async () => {
    const { deps, drop, records, queue } = setup();
    const manifest = await drop('manifest.jsonl', '{"key":"library/a.jpg"}\n{not json\n');
    await expect(manifest.deliver()).resolves.toMatchObject({ kind: 'manifest', queued: 0, rejected: 'INVALID_MANIFEST' });
    expect(records()).toEqual([
      expect.objectContaining({ key: manifest.key, ok: false, error: { code: 'INVALID_MANIFEST', message: 'manifest line 2 is not JSON' } }),
    ]);
    // Nothing it lists is queued: a half-read manifest is not a partial job.
    expect(queue.sent).toEqual([]);
    expect((await jobReport({ ...deps, limits }, jobId)).counts).toEqual({ expected: 1, ingested: 1, done: 0, failed: 1 });
  });

  it('a second delivery of the same notification leaves the one record as it was', async () => {
    const { store, deps, drop, records } = setup();
    const zip = await drop('photos.zip', 'garbage');
    await zip.deliver();
    const resultKey = keys.result(jobId, itemIdOf(store.bucket, zip.key));
    const first = store.objects.get(resultKey);
    const revision = (await jobReport({ ...deps, limits }, jobId)).revision;
    deps.now = () => new Date('2025-01-01T00:05:00Z');
    await expect(zip.deliver()).resolves.toMatchObject({ rejected: 'INVALID_ARCHIVE' });
    expect(records()).toHaveLength(1);
    expect(store.objects.get(resultKey)).toBe(first);
    const report = await jobReport({ ...deps, limits }, jobId);
    expect(report.counts).toEqual({ expected: 1, ingested: 1, done: 0, failed: 1 });
    expect(report.revision).toBe(revision);
  });

  it('S3 failures and reader bugs still throw, so S3 retries; the retry then records the upload once', async () => {
    const broken = new TypeError("Cannot read properties of undefined (reading 'length')");
    let buggy = true;
    const { store, drop, records } = setup((zip) => {
      if (buggy) throw broken;
      return unzip(zip);
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
    expect((await jobReport({ ...deps, limits }, jobId)).counts).toEqual({ expected: 0, ingested: 0, done: 0, failed: 0 });
    expect(store.keysUnder(keys.uploadPrefix(jobId))).toEqual(['uploads/job-1/photos.zip', 'uploads/job-1/photos/a.jpg']);
  });
});
