import { createJob } from '../../../src/core/jobs/create-job';
import { type IngestDeps, ingestUpload } from '../../../src/core/jobs/ingest';
import { processItems, type WorkerDeps } from '../../../src/core/jobs/process-items';
import { itemIdOf, keys, type ResultRecord, type WorkItem } from '../../../src/core/jobs/records';
import { jobReport } from '../../../src/core/jobs/report';
import { clientOf, FakeEngine, FakeQueue, FakeStore, modelCatalogOf, realManifest } from './fakes';

const limits = { maxImageBytes: 1024 * 1024, maxPresignedUrls: 10, presignExpiresSeconds: 60 };
const jpeg = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]);

/** A victim job with two announced images, one of them answered; and an attacker's own job, both via ingest. */
async function setup() {
  const manifest = realManifest();
  const store = new FakeStore();
  const queue = new FakeQueue();
  const catalog = modelCatalogOf(manifest);
  const engine = new FakeEngine(manifest.output.classes);
  const now = () => new Date('2025-01-01T00:00:00Z');
  const ingest: IngestDeps = {
    store,
    queue,
    catalog,
    unzip: async () => [],
    ingestLimits: { maxZipBytes: 1024, maxManifestBytes: 1024, maxManifestLines: 10 },
    now,
  };
  const worker: WorkerDeps = { store, catalog, engine, limits, now };
  const upload = async (key: string) => {
    await store.put(key, jpeg);
    await ingestUpload(ingest, { key, etag: store.objects.get(key)?.etag ?? '' });
    return queue.sent[queue.sent.length - 1] as WorkItem;
  };
  const victim = (
    await createJob({ store, catalog, limits, ingestLimits: { maxZipBytes: 1024, maxManifestBytes: 1024 }, now }, clientOf('victim'), { count: 2 })
  ).job.jobId;
  const legit = await upload(`uploads/${victim}/a.jpg`);
  expect(await processItems(worker, [legit])).toEqual([undefined]);
  const own = await upload('uploads/attacker/mine.jpg');
  return { store, engine, worker, victim, legit, own, upload };
}

describe('processItems trusts only items ingest queued', () => {
  it('answers an item ingest queued, with one GET of its marker more than before', async () => {
    const { store, worker, upload, victim } = await setup();
    const fresh = await upload(`uploads/${victim}/b.jpg`);
    expect(fresh.fresh).toBe(true);
    store.calls.length = 0;
    expect(await processItems(worker, [fresh])).toEqual([undefined]);
    // fresh: the marker and the image read, the record created (the marker is the one request added).
    expect(store.calls).toEqual([
      { op: 'get', key: keys.item(victim, fresh.itemId) },
      { op: 'get', key: fresh.key },
      { op: 'create', key: keys.result(victim, fresh.itemId) },
    ]);
    store.calls.length = 0;
    // Not fresh (a redelivery): the marker, the result and the failure marker looked up together; the result is there
    // and the failure marker agrees, nothing else.
    expect(await processItems(worker, [{ ...fresh, fresh: false }])).toEqual([undefined]);
    expect(store.calls.map((c) => c.op).sort()).toEqual(['get', 'head', 'head']);
    expect((await jobReport({ store, limits }, victim, clientOf('victim'))).status).toBe('done');
  });

  it.each<[string, (f: { victim: string; legit: WorkItem; own: WorkItem; bucket: string }) => WorkItem, string]>([
    ['another bucket', ({ legit }) => ({ ...legit, bucket: 'other-bucket', itemId: itemIdOf('other-bucket', legit.key) }), 'it names another bucket'],
    ["a key of another job, into the victim's job", ({ victim, own }) => ({ ...own, jobId: victim }), "its key lies outside its job's uploads"],
    ['a key outside uploads/', ({ victim, bucket }) => ({ ...baseItem(victim, bucket, 'library/x.jpg') }), "its key lies outside its job's uploads"],
    ["an item id that is not its key's", ({ victim, legit }) => ({ ...legit, key: `uploads/${victim}/b.jpg` }), "its item id is not its key's"],
    [
      'a key in the job that ingest never registered',
      ({ victim, bucket }) => baseItem(victim, bucket, `uploads/${victim}/b.jpg`),
      'ingest registered no such item',
    ],
    [
      'the same, claiming to be fresh',
      ({ victim, bucket }) => ({ ...baseItem(victim, bucket, `uploads/${victim}/b.jpg`), fresh: true }),
      'ingest registered no such item',
    ],
  ])('drops a forged item with %s: its object never read, nothing written, the job unmoved', async (_, forge, reason) => {
    // Prepare: the victim job is running, one of two images answered.
    const { store, engine, worker, victim, legit, own } = await setup();
    await store.put(`uploads/${victim}/b.jpg`, jpeg);
    const before = await jobReport({ store, limits }, victim, clientOf('victim'));
    expect(before.counts).toEqual({ expected: 2, ingested: 1, done: 1, failed: 0 });
    const forged = forge({ victim, legit, own, bucket: store.bucket });
    const seen = engine.seen.length;
    store.calls.length = 0;
    // Act
    const [outcome] = await processItems(worker, [forged]);
    // Assess
    expect(outcome).toEqual({ dropped: reason });
    // Its marker looked up (and, unless fresh, its result): the object it names never read, nothing written.
    expect(store.calls.filter((c) => !(c.op === 'head' || c.op === 'get') || c.key === forged.key)).toEqual([]);
    expect(engine.seen.length).toBe(seen);
    expect(await jobReport({ store, limits }, victim, clientOf('victim'))).toEqual(before);
  });

  it('drops an item whose marker names another key', async () => {
    const { store, worker, legit } = await setup();
    await store.put(keys.item(legit.jobId, legit.itemId), JSON.stringify({ key: 'uploads/x/y.jpg', etag: 'e' }));
    expect(await processItems(worker, [{ ...legit, fresh: true }])).toEqual([{ dropped: 'its item was registered for another key' }]);
  });

  it('a marker that cannot be read is a transient error, retried, not a verdict', async () => {
    const { store, worker, legit } = await setup();
    store.failing = (op, key) => op === 'get' && key === keys.item(legit.jobId, legit.itemId);
    const [outcome] = await processItems(worker, [legit]);
    expect(outcome).toBeInstanceOf(Error);
    expect((outcome as Error).message).toMatch(/ETIMEDOUT/);
  });
});

function baseItem(jobId: string, bucket: string, key: string): WorkItem {
  return { v: 1, jobId, itemId: itemIdOf(bucket, key), bucket, key, etag: 'e', model: 'mobilenetv2-int8', topK: 5 };
}

describe('processItems classifies as the item marker says', () => {
  const record = (store: FakeStore, item: WorkItem) =>
    JSON.parse(Buffer.from(store.objects.get(keys.result(item.jobId, item.itemId))?.body ?? []).toString()) as ResultRecord;
  /** A job created with `topK`, and an image of it uploaded and ingested. */
  async function imageOf(f: Awaited<ReturnType<typeof setup>>, topK: number, name = 'a.jpg') {
    const created = await createJob(
      { store: f.store, catalog: f.worker.catalog, limits, ingestLimits: { maxZipBytes: 1024, maxManifestBytes: 1024 } },
      clientOf('c'),
      { topK },
    );
    return f.upload(`uploads/${created.job.jobId}/${name}`);
  }

  it('takes the model and topK from the marker, whatever the message says', async () => {
    const f = await setup();
    const item = await imageOf(f, 3);
    expect(item).toMatchObject({ model: 'mobilenetv2-int8', topK: 3 });
    expect(await processItems(f.worker, [{ ...item, model: 'no-such-model', topK: 20 }])).toEqual([undefined]);
    expect(record(f.store, item)).toMatchObject({ ok: true, model: { name: 'mobilenetv2-int8' } });
    expect(record(f.store, item).predictions).toHaveLength(3);
  });

  it('drops a message for other bytes than its marker names (stale or forged); the message of the re-upload answers', async () => {
    // Prepare: an image ingested, then re-uploaded with other bytes and ingested again.
    const f = await setup();
    const first = await imageOf(f, 5);
    await f.store.put(first.key, new Uint8Array([...jpeg, 9]));
    await ingestUpload(
      {
        store: f.store,
        queue: new FakeQueue(),
        catalog: f.worker.catalog,
        unzip: async () => [],
        ingestLimits: { maxZipBytes: 1, maxManifestBytes: 1, maxManifestLines: 1 },
      },
      { key: first.key },
    );
    const marker = JSON.parse(Buffer.from(f.store.objects.get(keys.item(first.jobId, first.itemId))?.body ?? []).toString());
    const second = { ...first, etag: marker.etag as string, fresh: false };
    expect(second.etag).not.toBe(first.etag);
    const seen = f.engine.seen.length;
    f.store.calls.length = 0;
    // Act
    const outcomes = await processItems(f.worker, [first, second]);
    // Assess: the stale one dropped unread; the record is of the bytes there now.
    expect(outcomes).toEqual([{ dropped: 'its item was registered for other bytes (a stale or forged message)' }, undefined]);
    expect(f.engine.seen.length).toBe(seen + 1);
    expect(f.store.calls.filter((c) => c.key === first.key)).toHaveLength(1);
    expect(record(f.store, first)).toMatchObject({ ok: true, etag: second.etag });
  });

  it("a marker of an older version (key and etag only) leaves the message's model and topK, never an out-of-range topK", async () => {
    const f = await setup();
    const a = await imageOf(f, 5, 'a.jpg');
    const b = await imageOf(f, 5, 'b.jpg');
    for (const item of [a, b]) await f.store.put(keys.item(item.jobId, item.itemId), JSON.stringify({ key: item.key, etag: item.etag }));
    // Act: one bad topK must not fail the engine call its neighbour shares.
    expect(
      await processItems(f.worker, [
        { ...a, topK: 2 },
        { ...b, topK: 99 },
      ]),
    ).toEqual([undefined, undefined]);
    // Assess
    expect(record(f.store, a).predictions).toHaveLength(2);
    expect(record(f.store, b).predictions).toHaveLength(5);
  });

  it('images of one model whose jobs ask for different topK share one engine call, and each keeps its own topK', async () => {
    const f = await setup();
    const few = await imageOf(f, 2);
    const more = await imageOf(f, 7);
    const infer = jest.spyOn(f.engine, 'infer');
    expect(await processItems(f.worker, [few, more])).toEqual([undefined, undefined]);
    expect(infer).toHaveBeenCalledTimes(1);
    expect([record(f.store, few).predictions?.length, record(f.store, more).predictions?.length]).toEqual([2, 7]);
  });
});
