import fc from 'fast-check';
import { listZip } from '../../../src/adapters/zip';
import { type IngestDeps, ingestUpload } from '../../../src/core/jobs/ingest';
import type { ObjectStore, WorkQueue } from '../../../src/core/jobs/ports';
import { processMessages, type WorkerDeps } from '../../../src/core/jobs/process-items';
import { itemIdOf, jobStatus, keys, type ResultRecord, type WorkItem } from '../../../src/core/jobs/records';
import { jobReport } from '../../../src/core/jobs/report';
import { parseUploadKey } from '../../../src/core/jobs/upload-keys';
import { budget } from '../../hostile/fuzz';
import { buildZip } from '../adapters/zip-builder';
import { type Delivery, FakeStore, FlakyEngine, modelCatalogOf, type Op, operator, RedeliveringQueue, realManifest } from './fakes';

// The batch path's invariant: whatever S3 and SQS deliver, how often, in what order and how many at once, and whatever
// fails on the way, once nothing is left to deliver every uploaded image has exactly one record, for the bytes it
// holds now, every refused zip entry and manifest line has one, and the job's counts are those records; delivering
// everything once more moves nothing (but the record of an image deleted since it was answered, which may turn into
// OBJECT_NOT_FOUND once). The use cases run for real, the zip reader too; only the bucket, the queue and the engine
// are fakes. FUZZ_SEED replays a failing run (fast-check prints seed and path).

const JOB = 'job-1';
const PREFIX = keys.uploadPrefix(JOB);
const IMAGES = 2;
const limits = { maxImageBytes: 1024, maxPresignedUrls: 10, presignExpiresSeconds: 60 };
const zipLimits = { maxEntries: 100, maxTotalBytes: 1 << 20, maxEntryBytes: limits.maxImageBytes, maxRatio: 100, ratioMinBytes: 1024 };
const ingestLimits = { maxZipBytes: 1 << 16, maxManifestBytes: 1 << 12, maxManifestLines: 12, inFlight: 3 };
const imageKey = (i: number) => `${PREFIX}img-${i}.jpg`;
const zipKey = (i: number) => `${PREFIX}z-${i}.zip`;
const MANIFESTS = [`${PREFIX}manifest.csv`, `${PREFIX}list.manifest.jsonl`] as const;
/** An image the engine refuses: its first byte is 0 (see FlakyEngine). */
const isBad = (bytes: Uint8Array) => bytes[0] === 0 || bytes.length > limits.maxImageBytes;

/** Names a zip entry may have: what ingest extracts, refuses (unsafe as a key) or leaves out without a record. */
const ENTRY_NAMES: ReadonlyArray<{ name: string; fate: 'image' | 'unsafe' | 'left out' }> = [
  { name: 'a.jpg', fate: 'image' },
  { name: 'b.png', fate: 'image' },
  { name: 'sub/c.jpg', fate: 'image' },
  { name: '../up.jpg', fate: 'unsafe' },
  { name: 'back\\slash.jpg', fate: 'unsafe' },
  { name: 'notes.txt', fate: 'left out' },
  { name: '__MACOSX/a.jpg', fate: 'left out' },
];

/** Lines a manifest may list, as CSV and as JSONL, and the key each names (undefined: the line is refused). */
const LISTED: ReadonlyArray<{ csv: string; jsonl: string; key?: string }> = [
  { csv: 'img-0.jpg', jsonl: '"img-0.jpg"', key: imageKey(0) },
  { csv: imageKey(1), jsonl: JSON.stringify({ key: imageKey(1) }), key: imageKey(1) },
  { csv: 'z-0/a.jpg', jsonl: '"z-0/a.jpg"', key: `${PREFIX}z-0/a.jpg` },
  { csv: 'z-1/sub/c.jpg', jsonl: '{"key":"z-1/sub/c.jpg"}', key: `${PREFIX}z-1/sub/c.jpg` },
  { csv: 'never-uploaded.jpg', jsonl: '"never-uploaded.jpg"', key: `${PREFIX}never-uploaded.jpg` },
  { csv: 'uploads/job-2/x.jpg', jsonl: '"uploads/job-2/x.jpg"' },
  { csv: '../x.jpg', jsonl: '"../x.jpg"' },
  { csv: 'z-0.zip', jsonl: '{"nokey":"img-0.jpg"}' },
  { csv: ',img-0.jpg', jsonl: 'not json' },
];

/** What goes wrong during one invocation: S3 unreachable for one call, or the process killed at a write, after it landed or before. */
type Fault = { kind: 'store fault'; op: Op; nth: number } | { kind: 'crash'; writes: number; landed: boolean };

/** One invocation of a function: ingest with one pending notification, or the worker with up to `take` waiting messages. */
type Invoke = { kind: 'ingest'; pick: number; fault?: Fault | undefined } | { kind: 'work'; take: number; from: number; fault?: Fault | undefined };

interface EntrySpec {
  name: number;
  bad: boolean;
  /** Its header declares one byte more than it inflates to: the entry cannot be extracted. */
  corrupt: boolean;
}

/** What may happen between two quiet moments of the batch path. */
type Step =
  /** A client uploads image `image`: new bytes (bad ones the engine refuses), or the same bytes once more. */
  | { kind: 'upload'; image: number; bad: boolean; same: boolean }
  /** A client uploads a zip: a readable one of these entries, or bytes that are no zip. */
  | { kind: 'upload zip'; zip: number; readable: boolean; entries: EntrySpec[] }
  /** A client uploads a manifest listing these lines of {@link LISTED}, or one too long to read. */
  | { kind: 'upload manifest'; manifest: number; readable: boolean; lines: number[] }
  /** Someone deletes a client's image (S3 tells nobody: the service has no handler for it). */
  | { kind: 'delete'; image: number }
  /** S3 delivers an event notification it delivered before. */
  | { kind: 'notify again'; pick: number }
  /** One invocation; a throw leaves its event pending (S3 retries), messages it fails come back (visibility timeout). */
  | Invoke
  /** Two or three invocations at once, their S3 calls interleaved by `s`, maybe with a client's upload in the middle. */
  | { kind: 'overlap'; invocations: Invoke[]; dup: boolean; upload?: { image: number; bad: boolean } | undefined; s: fc.Scheduler }
  /** SQS delivers a message it delivered before; `first` as if for the first time. */
  | { kind: 'deliver again'; pick: number; first: boolean }
  /** The next engine call fails as a whole, or on its first image: both transient. */
  | { kind: 'engine fault'; whole: boolean };

const ops: Op[] = ['get', 'head', 'put', 'create', 'list', 'delete'];
const faultArb: fc.Arbitrary<Fault | undefined> = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('crash' as const), writes: fc.integer({ min: 1, max: 6 }), landed: fc.boolean() }), weight: 2 },
  {
    arbitrary: fc.record({ kind: fc.constant('store fault' as const), op: fc.constantFrom(...ops), nth: fc.integer({ min: 1, max: 3 }) }),
    weight: 1,
  },
);
const ingestArb = fc.record({ kind: fc.constant('ingest' as const), pick: fc.nat(), fault: faultArb });
const workArb = fc.record({ kind: fc.constant('work' as const), take: fc.integer({ min: 1, max: 10 }), from: fc.nat(), fault: faultArb });
const entryArb = fc.record({
  name: fc.nat(ENTRY_NAMES.length - 1),
  bad: fc.boolean(),
  corrupt: fc.oneof({ arbitrary: fc.constant(false), weight: 3 }, { arbitrary: fc.constant(true), weight: 1 }),
});
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('upload' as const), image: fc.nat(IMAGES - 1), bad: fc.boolean(), same: fc.boolean() }), weight: 4 },
  {
    arbitrary: fc.record({
      kind: fc.constant('upload zip' as const),
      zip: fc.nat(1),
      readable: fc.oneof({ arbitrary: fc.constant(true), weight: 3 }, { arbitrary: fc.constant(false), weight: 1 }),
      entries: fc.array(entryArb, { maxLength: 5 }),
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('upload manifest' as const),
      manifest: fc.nat(MANIFESTS.length - 1),
      readable: fc.oneof({ arbitrary: fc.constant(true), weight: 3 }, { arbitrary: fc.constant(false), weight: 1 }),
      lines: fc.array(fc.nat(LISTED.length - 1), { maxLength: 8 }),
    }),
    weight: 2,
  },
  { arbitrary: fc.record({ kind: fc.constant('delete' as const), image: fc.nat(IMAGES - 1) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('notify again' as const), pick: fc.nat() }), weight: 1 },
  { arbitrary: ingestArb, weight: 4 },
  { arbitrary: workArb, weight: 4 },
  {
    arbitrary: fc.record({
      kind: fc.constant('overlap' as const),
      invocations: fc.array(fc.oneof(ingestArb, workArb), { minLength: 2, maxLength: 3 }),
      dup: fc.boolean(),
      upload: fc.option(fc.record({ image: fc.nat(IMAGES - 1), bad: fc.boolean() }), { nil: undefined }),
      s: fc.scheduler(),
    }),
    weight: 3,
  },
  { arbitrary: fc.record({ kind: fc.constant('deliver again' as const), pick: fc.nat(), first: fc.boolean() }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('engine fault' as const), whole: fc.boolean() }), weight: 1 },
);

/** The bucket, telling the harness of every object written under uploads/, as S3 would notify ingest of it. */
class NotifyingBucket extends FakeStore {
  constructor(private readonly written: (key: string) => void) {
    super();
  }
  override async put(key: string, body: Uint8Array | string, options?: { metadata?: Record<string, string> }): Promise<void> {
    await super.put(key, body, options);
    if (key.startsWith('uploads/')) this.written(key);
  }
  override async create(key: string, body: Uint8Array | string, options?: { metadata?: Record<string, string> }): Promise<boolean> {
    const created = await super.create(key, body, options);
    if (created && key.startsWith('uploads/')) this.written(key);
    return created;
  }
}

/**
 * One invocation's view of the bucket and the queue. A crash kills the process at its `writes`-th write (an S3 write or
 * an SQS send), after that write landed or before: every later call of the invocation fails, and nothing of it is
 * acknowledged. Under a scheduler, each call waits for its turn, so that two invocations interleave call by call.
 */
class Invocation {
  dead = false;
  private writes = 0;
  private faultsLeft: number;

  constructor(
    private readonly bucket: FakeStore,
    private readonly fault: Fault | undefined,
    private readonly s?: fc.Scheduler,
    private readonly label = '',
  ) {
    this.faultsLeft = fault?.kind === 'store fault' ? fault.nth : 0;
  }

  private async call<T>(op: Op | 'send', key: string, run: () => Promise<T>): Promise<T> {
    if (this.s) await this.s.schedule(Promise.resolve(), `${this.label} ${op} ${key}`);
    if (this.dead) throw new Error('the process was killed');
    const f = this.fault;
    if (f?.kind === 'store fault' && f.op === op && --this.faultsLeft === 0) {
      throw Object.assign(new Error(`S3 ${op} ${key}: connect ETIMEDOUT`), { name: 'TimeoutError' });
    }
    const write = op === 'put' || op === 'create' || op === 'delete' || op === 'send';
    if (f?.kind === 'crash' && write && ++this.writes === f.writes) {
      this.dead = true;
      if (f.landed) await run();
      throw new Error(`killed ${f.landed ? 'after' : 'before'} a write`);
    }
    return run();
  }

  store(): ObjectStore {
    const b = this.bucket;
    return {
      bucket: b.bucket,
      get: (key) => this.call('get', key, () => b.get(key)),
      head: (key) => this.call('head', key, () => b.head(key)),
      put: (key, body, options) => this.call('put', key, () => b.put(key, body, options)),
      create: (key, body, options) => this.call('create', key, () => b.create(key, body, options)),
      list: (prefix) => this.call('list', prefix, () => b.list(prefix)),
      delete: (key) => this.call('delete', key, () => b.delete(key)),
      presignPost: (key, policy) => b.presignPost(key, policy),
      presignGet: (key) => b.presignGet(key),
    };
  }

  queue(queue: WorkQueue): WorkQueue {
    return { send: (items) => this.call('send', `${items.length} items`, () => queue.send(items)) };
  }
}

/** A zip or manifest a client uploaded: its bytes' etag, and what each entry or line of it comes to. */
interface UploadVersion {
  etag: string;
  readable: boolean;
  /** Record keys of the entries or lines it refuses. */
  refused: string[];
  /** For a zip: each extracted key and the bytes of the last entry that extracts to it. For a manifest: the keys it lists. */
  listed: Map<string, Uint8Array | undefined>;
}

/** The batch path on fakes: the bucket, the queue, the engine, and the two functions as their handlers call them. */
function batchPath() {
  const manifest = realManifest();
  /** Events S3 has yet to deliver (it retries a failed invocation), and every event it ever sent. */
  const pending: string[] = [];
  const notified: string[] = [];
  /** Every version each object under uploads/ ever held, whoever wrote it. */
  const history = new Map<string, Array<{ etag: string; bad: boolean }>>();
  const store = new NotifyingBucket((key) => written(key));
  const written = (key: string) => {
    const obj = store.objects.get(key);
    if (!obj) return;
    history.set(key, [...(history.get(key) ?? []), { etag: obj.etag, bad: isBad(obj.body) }]);
    (held ?? pending).push(key);
    notified.push(key);
  };
  /** Where the events of a client's upload during an overlap go, to be delivered after it; see 'overlap'. */
  let held: string[] | undefined;
  const queue = new RedeliveringQueue();
  const engine = new FlakyEngine(manifest.output.classes);
  const catalog = modelCatalogOf(manifest);
  // A clock that moves on every reading, as a rewritten record then differs from the one it replaces.
  let ticks = 0;
  const now = () => new Date(Date.UTC(2025, 0, 1) + ++ticks * 1000);
  const jobs: IngestDeps['jobs'] = new Map();
  const ingestDeps = (inv: Invocation): IngestDeps => ({
    store: inv.store(),
    queue: inv.queue(queue),
    catalog,
    unzip: (zip) => listZip(zip, zipLimits),
    ingestLimits,
    jobs,
    now,
  });
  const workerDeps = (inv: Invocation): WorkerDeps => ({ store: inv.store(), catalog, engine, limits, now });
  /** Each zip and manifest key's versions, oldest first. */
  const versions = new Map<string, UploadVersion[]>();
  const deleted = new Set<string>();
  let version = 0;

  const uploadObject = (key: string, bytes: Uint8Array) => {
    store.upload(key, bytes);
    deleted.delete(key);
    written(key);
    return store.objects.get(key)?.etag ?? '';
  };

  const upload = (image: number, bad: boolean, same: boolean) => {
    const key = imageKey(image);
    const before = store.objects.get(key)?.body;
    uploadObject(key, same && before ? before : new Uint8Array([bad ? 0 : 1, image, version++ & 255, version >> 8]));
  };

  const uploadZip = (zip: number, readable: boolean, entries: readonly EntrySpec[]) => {
    const key = zipKey(zip);
    const v = version++;
    const refused: string[] = [];
    const listed = new Map<string, Uint8Array | undefined>();
    const specs = entries.map((e, i) => {
      const { name, fate } = ENTRY_NAMES[e.name] ?? { name: 'a.jpg', fate: 'image' };
      const data = new Uint8Array([e.bad ? 0 : 1, v & 255, v >> 8, i]);
      const target = `${PREFIX}z-${zip}/${name}`;
      if (fate === 'unsafe' || (fate === 'image' && e.corrupt)) refused.push(`${key}#${name}`);
      else if (fate === 'image') listed.set(target, data);
      else if (!listed.has(target)) listed.set(target, undefined);
      return { name, data, ...(e.corrupt ? { declaredSize: data.length + 1 } : {}) };
    });
    for (const [target, data] of listed) if (data === undefined) listed.delete(target);
    const bytes = readable ? buildZip(specs) : Buffer.from(`no zip, version ${v}`);
    const etag = uploadObject(key, new Uint8Array(bytes));
    versions.set(key, [...(versions.get(key) ?? []), { etag, readable, refused: readable ? refused : [], listed: readable ? listed : new Map() }]);
  };

  const uploadManifest = (which: number, readable: boolean, lines: readonly number[]) => {
    const key = MANIFESTS[which] ?? MANIFESTS[0];
    const jsonl = key.endsWith('.jsonl');
    const v = version++;
    const refused: string[] = [];
    const listed = new Map<string, Uint8Array | undefined>();
    const text = lines.map((l, i) => {
      const line = LISTED[l] ?? LISTED[0];
      if (!line) return '';
      if (line.key === undefined) refused.push(`${key}#line ${i + 1}`);
      else listed.set(line.key, undefined);
      return jsonl ? line.jsonl : line.csv;
    });
    // A comment line last makes each version's bytes its own without moving a line; over the line limit it is unreadable.
    const body = readable ? [...text, `# version ${v}`].join('\n') : `${'#\n'.repeat(ingestLimits.maxManifestLines)}# version ${v}`;
    const etag = uploadObject(key, new Uint8Array(Buffer.from(body)));
    versions.set(key, [...(versions.get(key) ?? []), { etag, readable, refused: readable ? refused : [], listed: readable ? listed : new Map() }]);
  };

  /** The ingest handler: one event; a throw, or a killed process, leaves it pending (S3 retries). */
  const ingest = async (key: string | undefined, inv: Invocation) => {
    if (key === undefined) return;
    try {
      await ingestUpload(ingestDeps(inv), { key });
      if (inv.dead) pending.push(key);
    } catch {
      pending.push(key);
    }
  };
  const takeEvent = (pick: number) => (pending.length === 0 ? undefined : pending.splice(pick % pending.length, 1)[0]);

  /** The worker handler: a micro-batch; what it fails goes back to the queue, all of it if the process was killed. */
  const work = async (deliveries: Delivery[], inv: Invocation) => {
    if (deliveries.length === 0) return;
    const items = deliveries.map((d) => {
      const item = JSON.parse(d.body) as WorkItem;
      // As infer-sqs.ts: only a first delivery stays fresh, and each delivery is settled by its own outcome.
      return { ...item, fresh: item.fresh === true && d.receiveCount === 1 };
    });
    let outcomes: unknown[] = [];
    try {
      outcomes = await processMessages(workerDeps(inv), items);
    } catch {
      inv.dead = true;
    }
    deliveries.forEach((d, i) => {
      if (inv.dead || outcomes[i] instanceof Error) queue.putBack(d);
    });
  };

  /** One invocation; under a scheduler, it takes its event or its messages when its turn comes, as a poller would. */
  const invoke = async (what: Invoke, s?: fc.Scheduler, label = '') => {
    if (s) await s.schedule(Promise.resolve(), `${label} ${what.kind} starts`);
    if (what.kind === 'ingest') {
      const key = takeEvent(what.pick);
      return ingest(key, new Invocation(store, what.fault, s, `${label} ingest ${key}`));
    }
    return work(queue.receive(what.take, what.from), new Invocation(store, what.fault, s, `${label} work`));
  };

  const run = async (step: Step) => {
    switch (step.kind) {
      case 'upload':
        return upload(step.image, step.bad, step.same);
      case 'upload zip':
        return uploadZip(step.zip, step.readable, step.entries);
      case 'upload manifest':
        return uploadManifest(step.manifest, step.readable, step.lines);
      case 'delete': {
        const key = imageKey(step.image);
        if (!store.objects.has(key)) return;
        store.objects.delete(key);
        deleted.add(key);
        return;
      }
      case 'notify again': {
        const key = notified[step.pick % Math.max(1, notified.length)];
        if (key !== undefined) pending.push(key);
        return;
      }
      case 'ingest':
      case 'work':
        return invoke(step);
      case 'overlap': {
        const { s } = step;
        const last = queue.sent[queue.sent.length - 1];
        // The last message twice, so that both workers may well hold the same image.
        if (step.dup && last !== undefined) queue.duplicate(last, 1);
        const client = step.upload;
        const uploading = client
          ? s.schedule(Promise.resolve(), 'client upload').then(() => {
              // CONSTRAINED: the upload's event is held back until the overlap is over. Ingested within it, its
              // message could be answered by one worker while another, holding the old bytes, writes late over that
              // answer: a real race, not fixed (see 'in a race it loses' below), which no redelivery then puts right.
              held = [];
              upload(client.image, client.bad, false);
              later = held;
              held = undefined;
            })
          : undefined;
        let later: string[] = [];
        const running = step.invocations.map((inv, i) => invoke(inv, s, 'ABC'[i]));
        try {
          await s.waitFor(Promise.all([...running, uploading]));
        } finally {
          pending.push(...later);
        }
        return;
      }
      case 'deliver again': {
        const body = queue.sent[step.pick % Math.max(1, queue.sent.length)];
        if (body !== undefined) queue.duplicate(body, step.first ? 0 : 1);
        return;
      }
      case 'engine fault':
        engine.failNext = step.whole ? 'call' : 'image';
        return;
    }
  };

  /** Delivers everything pending, without faults, until nothing is left. */
  const quiesce = async () => {
    engine.failNext = undefined;
    for (let round = 0; round < 50 && (pending.length > 0 || queue.size > 0); round++) {
      while (pending.length > 0) await ingest(pending.shift(), new Invocation(store, undefined));
      while (queue.size > 0) await work(queue.receive(10), new Invocation(store, undefined));
    }
    expect({ pending: pending.length, queued: queue.size }).toEqual({ pending: 0, queued: 0 });
  };

  /** Every event and every message once more, as S3 and SQS may deliver them. */
  const deliverAllAgain = async () => {
    pending.push(...notified);
    for (const body of queue.sent) queue.duplicate(body, 1);
    await quiesce();
  };

  const report = () => jobReport({ store, limits }, JOB, operator);
  /** The bucket as etags by key: what any write would change. */
  const snapshot = () => new Map([...store.objects].map(([k, o]) => [k, o.etag]));

  return { run, quiesce, deliverAllAgain, report, snapshot, store, history, versions, deleted };
}

type BatchPath = ReturnType<typeof batchPath>;

const parseRecord = (body: Uint8Array) => JSON.parse(Buffer.from(body).toString('utf8')) as ResultRecord;

/**
 * What is wrong with the bucket, if anything: every image under uploads/ has one record, for its bytes now; a deleted
 * image that was counted has one, for bytes it once held or OBJECT_NOT_FOUND; the current version of each zip and
 * manifest has a record for each entry or line it refuses, and its own only if unreadable; each record has its item
 * marker and the failure marker its verdict calls for, and no other record exists. Records an older version of a zip
 * or manifest left for an entry or line it refused stay (ingest withdraws only the upload's own record): they are
 * allowed, for that version's etag, and counted like any other.
 */
function problems(path: BatchPath): string[] {
  const { store, history, versions, deleted } = path;
  const out: string[] = [];
  const records = new Map<string, ResultRecord>();
  for (const k of store.keysUnder(keys.results(JOB))) {
    const r = parseRecord(store.objects.get(k)?.body ?? new Uint8Array());
    if (k !== keys.result(JOB, itemIdOf(store.bucket, r.key))) out.push(`${k} holds the record of ${r.key}`);
    records.set(r.key, r);
  }
  const explained = new Set<string>();
  const expectRecord = (key: string, ok: (r: ResultRecord) => boolean, what: string) => {
    explained.add(key);
    const r = records.get(key);
    if (!r || !ok(r)) out.push(`${key}: wants ${what}, has ${r ? JSON.stringify({ etag: r.etag, ok: r.ok, error: r.error?.code }) : 'no record'}`);
  };
  const gone = (r: ResultRecord) => r.etag === 'missing' && !r.ok && r.error?.code === 'OBJECT_NOT_FOUND';
  const once = (key: string) => (r: ResultRecord) => (history.get(key) ?? []).some((v) => v.etag === r.etag && v.bad === !r.ok);
  const isMarked = (key: string) => store.objects.has(keys.item(JOB, itemIdOf(store.bucket, key)));

  for (const [key, obj] of store.objects) {
    if (parseUploadKey(key)?.kind !== 'image') continue;
    const bad = isBad(obj.body);
    expectRecord(key, (r) => r.etag === obj.etag && r.ok === !bad, `a record for ${obj.etag}, ok ${!bad}`);
  }
  for (const key of history.keys()) {
    if (store.objects.has(key) || parseUploadKey(key)?.kind !== 'image') continue;
    // Never counted (deleted before ingest read it): nothing to answer. Counted: answered, for bytes it held or as gone.
    if (isMarked(key) || records.has(key)) expectRecord(key, (r) => gone(r) || once(key)(r), 'OBJECT_NOT_FOUND or a record of bytes it held');
    else explained.add(key);
  }
  for (const [key, all] of versions) {
    const current = all[all.length - 1];
    if (!current) continue;
    const code = key.endsWith('.zip') ? 'INVALID_ARCHIVE' : 'INVALID_MANIFEST';
    if (!current.readable) expectRecord(key, (r) => r.etag === current.etag && !r.ok && r.error?.code === code, `${code} for ${current.etag}`);
    else if (records.has(key) || isMarked(key)) out.push(`${key}: readable, yet still has its error record or item`);
    const refusedBy = (recordKey: string) => (r: ResultRecord) => !r.ok && all.some((v) => v.etag === r.etag && v.refused.includes(recordKey));
    for (const recordKey of current.refused) expectRecord(recordKey, refusedBy(recordKey), 'the record of a refusal');
    for (const v of all) {
      for (const recordKey of v.refused) if (records.has(recordKey)) expectRecord(recordKey, refusedBy(recordKey), 'the record of a refusal');
      // A key an older version listed, not there: answered as gone then, if ingest read that version.
      for (const [target, data] of v.listed) {
        if (data === undefined && !store.objects.has(target) && records.has(target))
          expectRecord(target, (r) => gone(r) || once(target)(r), 'OBJECT_NOT_FOUND');
      }
    }
    for (const [target, data] of current.listed) {
      if (data === undefined) {
        // A listed key: an image (checked above), or none, answered as such.
        if (!store.objects.has(target)) expectRecord(target, (r) => gone(r) || once(target)(r), 'OBJECT_NOT_FOUND');
        continue;
      }
      if (deleted.has(target)) continue;
      // The last entry of that name wins, within a version: that of the version ingest read last (a stale one may land last).
      const obj = store.objects.get(target);
      const lastOf = all.map((v) => v.listed.get(target)).filter((d): d is Uint8Array => d !== undefined);
      if (!obj || !lastOf.some((d) => Buffer.from(d).equals(Buffer.from(obj.body))))
        out.push(`${target}: not the bytes of the last entry of its name`);
    }
  }
  for (const key of records.keys()) if (!explained.has(key)) out.push(`${key}: a record nothing calls for`);
  for (const [key, r] of records) {
    const itemId = itemIdOf(store.bucket, key);
    if (!store.objects.has(keys.item(JOB, itemId))) out.push(`${key}: a record without its item marker`);
    if (store.objects.has(keys.failedMarker(JOB, itemId)) !== !r.ok) out.push(`${key}: ok ${r.ok}, failure marker ${!r.ok ? 'missing' : 'left'}`);
  }
  for (const k of store.keysUnder(keys.items(JOB))) {
    const { key } = JSON.parse(Buffer.from(store.objects.get(k)?.body ?? new Uint8Array()).toString('utf8')) as { key: string };
    if (!records.has(key) && !orphanable(path, key)) out.push(`${key}: an item marker without a record`);
  }
  const answeredIds = new Set([...records.keys()].map((key) => itemIdOf(store.bucket, key)));
  const orphanIds = new Set(
    store
      .keysUnder(keys.items(JOB))
      .map((k) => (JSON.parse(Buffer.from(store.objects.get(k)?.body ?? new Uint8Array()).toString('utf8')) as { key: string }).key)
      .filter((key) => !records.has(key))
      .map((key) => itemIdOf(store.bucket, key)),
  );
  for (const k of store.keysUnder(keys.failed(JOB))) {
    const id = k.slice(keys.failed(JOB).length);
    if (!answeredIds.has(id) && !orphanIds.has(id)) out.push(`${k}: a failure marker without a record`);
  }
  return out;
}

/**
 * KNOWN GAP, allowed here and nowhere else: a key counted (its item marker written) by an attempt at a zip or manifest
 * that died before its record, the zip or manifest replaced before S3's retry, which reads the new one. A refused
 * entry or line of the old version, or a key only it listed that has no object, then keeps its marker and never gets a
 * record: the job stays running. Found by this property (the example 'a manifest replaced before its retry' replays
 * it); closing it needs ingest to remember what an upload's earlier version counted, so it is reported rather than
 * fixed. Every other marker must have its record.
 */
function orphanable(path: BatchPath, key: string): boolean {
  const { store, versions } = path;
  const current = (k: string) => versions.get(k)?.at(-1);
  return [...versions].some(
    ([upload, all]) =>
      all.length > 1 &&
      all.slice(0, -1).some((v) => v.refused.includes(key) || (v.listed.has(key) && !store.objects.has(key))) &&
      !current(upload)?.refused.includes(key) &&
      !current(upload)?.listed.has(key),
  );
}

/** The invariant, and the job's counts are its records. */
async function assertAnswered(path: BatchPath): Promise<void> {
  expect(problems(path)).toEqual([]);
  const all = path.store.keysUnder(keys.results(JOB)).map((k) => parseRecord(path.store.objects.get(k)?.body ?? new Uint8Array()));
  const items = path.store.keysUnder(keys.items(JOB)).length;
  if (items === 0) return;
  // Failure markers are the records' failures, and those of the known gap's orphans (see orphanable).
  const failed = path.store.keysUnder(keys.failed(JOB)).length;
  const { counts, status } = await path.report();
  const expected = { expected: items, ingested: items, done: Math.max(0, all.length - failed), failed };
  expect(counts).toEqual(expected);
  expect(status).toBe(jobStatus(expected));
}

/**
 * What delivering everything again changed: nothing, but for images deleted since they were answered, whose record
 * may become OBJECT_NOT_FOUND (the event or manifest read again finds them gone).
 */
function moved(path: BatchPath, before: Map<string, string>): string[] {
  const after = path.snapshot();
  const gone = new Set(
    [...path.history.keys()]
      .filter((k) => !path.store.objects.has(k))
      .flatMap((k) => {
        const id = itemIdOf(path.store.bucket, k);
        return [keys.item(JOB, id), keys.result(JOB, id), keys.failedMarker(JOB, id)];
      }),
  );
  return [...new Set([...before.keys(), ...after.keys()])].filter((k) => before.get(k) !== after.get(k) && !gone.has(k));
}

/** Runs `steps`, lets the batch path go quiet, and checks the invariant, then that duplicates move nothing. */
async function check(steps: readonly Step[]): Promise<void> {
  const path = batchPath();
  for (const step of steps) await path.run(step);
  await path.quiesce();
  await assertAnswered(path);
  const first = path.snapshot();
  await path.deliverAllAgain();
  expect(moved(path, first)).toEqual([]);
  await assertAnswered(path);
  // Once the deleted images are answered as gone, nothing moves at all.
  const second = { bucket: path.snapshot(), report: await path.report().catch(() => undefined) };
  await path.deliverAllAgain();
  expect({ bucket: path.snapshot(), report: await path.report().catch(() => undefined) }).toEqual(second);
}

describe('the batch path: every uploaded image ends with exactly one record, and duplicates move nothing', () => {
  it('holds over random interleavings of uploads, zips, manifests, deletes, duplicates, overlaps, failures and crashes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 40, size: 'max' }), (steps) => check(steps)),
      budget(1000, { perRunMs: 5_000, budgetMs: 12_000 }),
    );
  }, 60_000);
});

describe('the batch path, in the schedules that once broke it', () => {
  // Found by the property: a success stored over a failure whose marker a crash had left behind kept the marker, and
  // the image counted as failed for good, its record saying otherwise (a redelivery took the record as the answer).
  it('a success replacing a failure, crashed before its failure marker went: answered again on redelivery', async () => {
    await check([
      { kind: 'upload', image: 0, bad: true, same: false },
      { kind: 'ingest', pick: 0 },
      { kind: 'work', take: 10, from: 0 },
      { kind: 'upload', image: 0, bad: false, same: false },
      { kind: 'ingest', pick: 0 },
      { kind: 'work', take: 10, from: 0, fault: { kind: 'crash', writes: 2, landed: false } },
    ]);
  });

  it('a failure crashed between its marker and its record, then the image re-uploaded and answered: no marker left', async () => {
    await check([
      { kind: 'upload', image: 0, bad: true, same: false },
      { kind: 'ingest', pick: 0 },
      { kind: 'work', take: 1, from: 0, fault: { kind: 'crash', writes: 2, landed: false } },
      { kind: 'upload', image: 0, bad: false, same: false },
      { kind: 'engine fault', whole: false },
    ]);
  });
});

describe('the batch path, deleted images', () => {
  // Found by the property: ingest died between an image's item marker and its message, the image was deleted before
  // S3's retry, and the retry, finding no object, ignored it: counted, never answered, the job running for good.
  it('a counted image deleted before the retry of its ingest: answered OBJECT_NOT_FOUND', async () => {
    await check([
      { kind: 'upload', image: 0, bad: false, same: false },
      { kind: 'ingest', pick: 0, fault: { kind: 'crash', writes: 3, landed: false } },
      { kind: 'delete', image: 0 },
    ]);
  });

  // Found by the property: the worker compared a record stamped 'missing' with the marker's etag, so every
  // redelivery for a deleted image rewrote its record and moved the job's revision.
  it('a message delivered again for a deleted image leaves its OBJECT_NOT_FOUND record be', async () => {
    const manifest = realManifest();
    const store = new FakeStore();
    const queue = new RedeliveringQueue();
    const catalog = modelCatalogOf(manifest);
    let ticks = 0;
    const now = () => new Date(Date.UTC(2025, 0, 1) + ++ticks * 1000);
    const deps: WorkerDeps = { store, catalog, engine: new FlakyEngine(manifest.output.classes), limits, now };
    const key = imageKey(0);
    store.upload(key, new Uint8Array([1, 1]));
    await ingestUpload({ store, queue, catalog, unzip: async () => [], ingestLimits, jobs: new Map(), now }, { key });
    store.objects.delete(key);
    const [message] = queue.receive(1).map((d) => ({ ...(JSON.parse(d.body) as WorkItem), fresh: false }));
    if (!message) throw new Error('nothing queued');
    await processMessages(deps, [message]);
    const result = keys.result(JOB, itemIdOf(store.bucket, key));
    const first = store.objects.get(result);
    expect(first && parseRecord(first.body)).toMatchObject({ etag: 'missing', ok: false, error: { code: 'OBJECT_NOT_FOUND' } });
    await processMessages(deps, [message]);
    expect(store.objects.get(result)?.etag).toBe(first?.etag);
  });
});

describe('the batch path, a gap it leaves (known, not fixed)', () => {
  // See orphanable. Should ingest come to remember what an upload's earlier version counted, this fails: then drop
  // the allowance there, and make this example a plain check().
  it('a manifest replaced before its retry: a key only the old one listed stays counted without a record', async () => {
    const path = batchPath();
    const steps: Step[] = [
      { kind: 'upload manifest', manifest: 0, readable: true, lines: [4] },
      // Its 2nd put (the listed key's failure marker, after the job record) fails: the ingest throws, S3 retries.
      { kind: 'ingest', pick: 0, fault: { kind: 'store fault', op: 'put', nth: 2 } },
      { kind: 'upload manifest', manifest: 0, readable: false, lines: [] },
    ];
    for (const step of steps) await path.run(step);
    await path.quiesce();
    await assertAnswered(path);
    const orphan = `${PREFIX}never-uploaded.jpg`;
    const id = itemIdOf(path.store.bucket, orphan);
    expect({ marker: path.store.objects.has(keys.item(JOB, id)), record: path.store.objects.has(keys.result(JOB, id)) }).toEqual({
      marker: true,
      record: false,
    });
    expect((await path.report()).status).toBe('running');
  });
});

describe('the batch path, in a race it loses (known, not fixed)', () => {
  // Two workers answering one image at once, for other bytes: A read the old bytes (refused), the client uploaded new
  // ones, ingest queued them and B answered them (a success) before A's write landed. A's create finds B's record and
  // replaces it, the old verdict over the new bytes, and its failure marker goes in too; every message is acknowledged,
  // so nothing puts it right until one is delivered again. Real S3 and SQS allow it (a slow write lands late); closing
  // it needs the record written conditionally on what A read (an If-Match write the store port lacks).
  it.failing("a stale worker's late write does not replace the answer for the image's new bytes", async () => {
    const manifest = realManifest();
    const store = new FakeStore();
    const queue = new RedeliveringQueue();
    const catalog = modelCatalogOf(manifest);
    const engine = new FlakyEngine(manifest.output.classes);
    const now = () => new Date(Date.UTC(2025, 0, 1));
    const ingestDeps: IngestDeps = { store, queue, catalog, unzip: async () => [], ingestLimits, jobs: new Map(), now };
    const key = imageKey(0);
    const messages = () => {
      const taken = queue.receive(10).map((d) => JSON.parse(d.body) as WorkItem);
      return taken.map((item) => ({ ...item, fresh: false }));
    };
    store.upload(key, new Uint8Array([0, 1]));
    await ingestUpload(ingestDeps, { key });
    // A holds its first write until B is done.
    let release = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    const slow: ObjectStore = Object.assign(Object.create(store) as FakeStore, {
      put: async (k: string, body: Uint8Array | string, options?: { metadata?: Record<string, string> }) => {
        await held;
        return store.put(k, body, options);
      },
    });
    const a = processMessages({ store: slow, catalog, engine, limits, now }, messages());
    await new Promise((r) => setImmediate(r));
    store.upload(key, new Uint8Array([1, 1]));
    await ingestUpload(ingestDeps, { key });
    await processMessages({ store, catalog, engine, limits, now }, messages());
    release();
    await a;
    const record = parseRecord(store.objects.get(keys.result(JOB, itemIdOf(store.bucket, key)))?.body ?? new Uint8Array());
    expect({ etag: record.etag, ok: record.ok }).toEqual({ etag: store.objects.get(key)?.etag, ok: true });
  });
});
