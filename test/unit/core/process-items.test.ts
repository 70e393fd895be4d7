import { OverloadedError } from '../../../src/core/errors';
import { type IngestDeps, ingestUpload } from '../../../src/core/jobs/ingest';
import { processItems, processMessages, type WorkerDeps } from '../../../src/core/jobs/process-items';
import { keys, type ResultRecord, type WorkItem } from '../../../src/core/jobs/records';
import { jobReport } from '../../../src/core/jobs/report';
import { FakeQueue, FakeStore, FlakyEngine, modelCatalogOf, operator, realManifest } from './fakes';

const JOB = 'job-1';
const limits = { maxImageBytes: 64, maxPresignedUrls: 10, presignExpiresSeconds: 60 };
const good = (n: number) => new Uint8Array([1, n]);
const bad = new Uint8Array([0, 0]);

/** A job whose images are uploaded and ingested, and a worker over the same bucket. */
function setup() {
  const manifest = realManifest();
  const store = new FakeStore();
  const queue = new FakeQueue();
  const engine = new FlakyEngine(manifest.output.classes);
  const catalog = modelCatalogOf(manifest);
  const now = () => new Date('2025-01-01T00:00:00Z');
  const ingest: IngestDeps = {
    store,
    queue,
    catalog,
    unzip: async () => [],
    ingestLimits: { maxZipBytes: 1, maxManifestBytes: 1, maxManifestLines: 1 },
    now,
  };
  const worker: WorkerDeps = { store, catalog, engine, limits, now };
  const upload = async (name: string, body: Uint8Array): Promise<WorkItem> => {
    const key = `${keys.uploadPrefix(JOB)}${name}`;
    store.upload(key, body);
    await ingestUpload(ingest, { key });
    return queue.sent[queue.sent.length - 1] as WorkItem;
  };
  const record = (item: WorkItem) => {
    const obj = store.objects.get(keys.result(item.jobId, item.itemId));
    return obj ? (JSON.parse(Buffer.from(obj.body).toString('utf8')) as ResultRecord) : undefined;
  };
  const counts = async () => (await jobReport({ store, limits }, JOB, operator)).counts;
  return { store, engine, worker, upload, record, counts, manifest };
}

describe('processItems when things fail', () => {
  it('an engine call refused as a whole is every item of it to retry, and writes nothing', async () => {
    // Prepare
    const f = setup();
    const items = [await f.upload('a.jpg', good(1)), await f.upload('b.jpg', good(2))];
    f.engine.failNext = 'call';
    f.store.calls.length = 0;
    // Act
    const outcomes = await processItems(f.worker, items);
    // Assess
    expect(outcomes).toEqual([expect.any(OverloadedError), expect.any(OverloadedError)]);
    expect(f.store.calls.filter((c) => c.op !== 'get' && c.op !== 'head')).toEqual([]);
    // Retried, they are answered.
    expect(
      await processItems(
        f.worker,
        items.map((i) => ({ ...i, fresh: false })),
      ),
    ).toEqual([undefined, undefined]);
    expect(await f.counts()).toEqual({ expected: 2, ingested: 2, done: 2, failed: 0 });
  });

  it('a transient error of one image is that item to retry; its neighbour is answered', async () => {
    const f = setup();
    const items = [await f.upload('a.jpg', good(1)), await f.upload('b.jpg', good(2))];
    f.engine.failNext = 'image';
    const [first, second] = await processItems(f.worker, items);
    expect(first).toMatchObject({ code: 'OVERLOADED' });
    expect(second).toBeUndefined();
    expect([f.record(items[0] as WorkItem), f.record(items[1] as WorkItem)?.ok]).toEqual([undefined, true]);
  });

  it('an image the engine refuses is answered with an error record and a failure marker', async () => {
    const f = setup();
    const item = await f.upload('a.jpg', bad);
    expect(await processItems(f.worker, [item])).toEqual([undefined]);
    expect(f.record(item)).toEqual({
      jobId: JOB,
      itemId: item.itemId,
      key: item.key,
      etag: item.etag,
      model: { name: f.manifest.name, version: f.manifest.version },
      ok: false,
      error: { code: 'INVALID_IMAGE', message: 'not an image' },
      completedAt: '2025-01-01T00:00:00.000Z',
    });
    expect(await f.counts()).toEqual({ expected: 1, ingested: 1, done: 0, failed: 1 });
  });

  it('an image gone since ingest is OBJECT_NOT_FOUND, stamped missing; one over the limit is PAYLOAD_TOO_LARGE; the engine sees neither', async () => {
    const f = setup();
    const gone = await f.upload('gone.jpg', good(1));
    const big = await f.upload('big.jpg', new Uint8Array(limits.maxImageBytes + 1).fill(1));
    f.store.objects.delete(gone.key);
    expect(await processItems(f.worker, [gone, big])).toEqual([undefined, undefined]);
    expect(f.record(gone)).toMatchObject({ ok: false, etag: 'missing', error: { code: 'OBJECT_NOT_FOUND' } });
    expect(f.record(big)).toMatchObject({ ok: false, etag: big.etag, error: { code: 'PAYLOAD_TOO_LARGE' } });
    expect(f.engine.seen).toEqual([]);
  });

  it('a store failure on one record is that item to retry, and the others are stored', async () => {
    const f = setup();
    const items = [await f.upload('a.jpg', good(1)), await f.upload('b.jpg', good(2))];
    const failing = keys.result(JOB, (items[0] as WorkItem).itemId);
    f.store.failing = (op, key) => op === 'create' && key === failing;
    const [first, second] = await processItems(f.worker, items);
    expect((first as Error).message).toMatch(/ETIMEDOUT/);
    expect(second).toBeUndefined();
    f.store.failing = undefined;
    expect(await processItems(f.worker, [{ ...(items[0] as WorkItem), fresh: false }])).toEqual([undefined]);
    expect(await f.counts()).toEqual({ expected: 2, ingested: 2, done: 2, failed: 0 });
  });

  it('a success over a failure removes its marker; a failure over a success writes its marker first', async () => {
    const f = setup();
    const first = await f.upload('a.jpg', bad);
    await processItems(f.worker, [first]);
    const second = await f.upload('a.jpg', good(1));
    expect(await processItems(f.worker, [second])).toEqual([undefined]);
    expect(await f.counts()).toEqual({ expected: 1, ingested: 1, done: 1, failed: 0 });
    const third = await f.upload('a.jpg', bad);
    f.store.calls.length = 0;
    expect(await processItems(f.worker, [third])).toEqual([undefined]);
    expect(f.store.calls.filter((c) => c.op === 'put').map((c) => c.key)).toEqual([
      keys.failedMarker(JOB, third.itemId),
      keys.result(JOB, third.itemId),
    ]);
    expect(await f.counts()).toEqual({ expected: 1, ingested: 1, done: 0, failed: 1 });
  });

  it('images of two models are two engine calls, one after the other', async () => {
    // Prepare: a second model in the catalog, and an image of each.
    const f = setup();
    const other = { ...f.manifest, name: 'other-model' };
    const catalog = { ...f.worker.catalog, manifest: (n: string) => (n === f.manifest.name ? f.manifest : n === other.name ? other : undefined) };
    const worker = { ...f.worker, catalog };
    const a = await f.upload('a.jpg', good(1));
    const b = await f.upload('b.jpg', good(2));
    await f.store.put(keys.item(JOB, b.itemId), JSON.stringify({ key: b.key, etag: b.etag, model: other.name, topK: 5 }));
    let running = 0;
    const overlaps: number[] = [];
    const infer = f.engine.infer.bind(f.engine);
    const models: string[] = [];
    f.engine.infer = async (model, images) => {
      models.push(model);
      overlaps.push(++running);
      await new Promise((r) => setTimeout(r, 5));
      running -= 1;
      return infer(model, images);
    };
    // Act
    expect(await processItems(worker, [a, b])).toEqual([undefined, undefined]);
    // Assess
    expect(models).toEqual([f.manifest.name, other.name]);
    expect(overlaps).toEqual([1, 1]);
    expect(f.record(b)?.model.name).toBe(other.name);
  });
});

describe('processMessages', () => {
  it('settles each message by its position: a stale message beside the current one for the same image never acknowledges it', async () => {
    // Prepare: a.jpg uploaded, then replaced; both messages arrive in one batch, the current one first.
    const f = setup();
    const stale = await f.upload('a.jpg', good(1));
    const current = await f.upload('a.jpg', good(2));
    expect(current.itemId).toBe(stale.itemId);
    f.engine.failNext = 'call';
    // Act
    const outcomes = await processMessages(f.worker, [current, new Error('not a work item'), stale]);
    // Assess: the current one comes back, the malformed one fails as itself, the stale one is settled.
    expect(outcomes).toEqual([expect.any(OverloadedError), new Error('not a work item'), { dropped: expect.any(String) }]);
    expect(f.record(current)).toBeUndefined();
    // Redelivered, the current one is answered for its own bytes.
    expect(await processMessages(f.worker, [{ ...current, fresh: false }])).toEqual([undefined]);
    expect(f.record(current)).toMatchObject({ ok: true, etag: current.etag });
  });
});
