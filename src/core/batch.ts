import { createHash, randomUUID } from 'node:crypto';
import { classifyImages, DEFAULT_TOP_K, MAX_TOP_K, parseTopK, resolveModel } from './classify';
import type { InferenceEngine, ModelCatalog } from './ports';
import type { Principal } from './principal';
import {
  type AppError,
  BadRequestError,
  type ErrorRecord,
  InvalidArchiveEntryError,
  InvalidArchiveError,
  InvalidManifestError,
  InvalidManifestLineError,
  JobUnreadableError,
  KeyOutsideJobError,
  NotFoundError,
  ObjectNotFoundError,
  PayloadTooLargeError,
  toErrorRecord,
} from './errors';
import {
  errorResult,
  isValidJobId,
  type Job,
  type JobCounts,
  type JobStatus,
  jobStatus,
  keyProblem,
  keys,
  MAX_KEY_BYTES,
  mayRead,
  parseJobRecord,
  parseManifest,
  parseUploadKey,
  type ResultRecord,
  recordOwner,
  resultsCsv,
  resultsJsonl,
  shortLabel,
  uploadContentType,
  type WorkItem,
} from './jobs';

/** An object as the batch path needs it. */
export interface StoredObject {
  body: Uint8Array;
  etag: string;
  metadata: Record<string, string>;
}

/**
 * What a presigned POST lets its holder upload, enforced by S3 itself before any function reads a byte: one
 * content type (or a prefix of one), 1 to `maxBytes` bytes, until `expiresSeconds` from now.
 */
export type UploadPolicy = { maxBytes: number; expiresSeconds: number } & ({ contentType: string } | { contentTypePrefix: string });

/** A browser-style upload form: POST `fields`, then the file last as field `file`, to `url`. */
export interface PresignedPost {
  url: string;
  fields: Record<string, string>;
}

/** What a HEAD tells of an object. */
export interface ObjectHead {
  etag: string;
  size: number;
  metadata: Record<string, string>;
}

/** The bucket (S3 in AWS, the local S3 emulator offline). */
export interface ObjectStore {
  readonly bucket: string;
  get(key: string): Promise<StoredObject | undefined>;
  head(key: string): Promise<ObjectHead | undefined>;
  put(key: string, body: Uint8Array | string, options?: { contentType?: string; metadata?: Record<string, string> }): Promise<void>;
  /** Writes `key` only if it does not exist yet (an S3 conditional write); false when it already did. */
  create(key: string, body: Uint8Array | string, options?: { contentType?: string; metadata?: Record<string, string> }): Promise<boolean>;
  list(prefix: string): Promise<Array<{ key: string; size: number; etag: string }>>;
  delete(key: string): Promise<void>;
  /** A form that uploads exactly `key`, within `policy`. */
  presignPost(key: string, policy: UploadPolicy): Promise<PresignedPost>;
  presignGet(key: string, expiresSeconds: number): Promise<string>;
}

/** The work queue feeding inference workers (SQS). */
export interface WorkQueue {
  send(items: readonly WorkItem[]): Promise<void>;
}

/** One file entry of an uploaded archive, as its directory lists it; its bytes are inflated only when read. */
export interface ArchiveEntry {
  /** Its path inside the archive, decoded (UTF-8 or CP437). */
  name: string;
  /** Set when the name is unsafe as a path (absolute, a `..` segment, a backslash): the entry is never read. */
  unsafeName?: string;
  /**
   * Its bytes. An entry that cannot be extracted (over the image limit, an excessive ratio, bytes that belie its
   * header, corrupt data) rejects with an {@link InvalidArchiveEntryError} or a {@link PayloadTooLargeError}.
   */
  read(): Promise<Uint8Array>;
}

/**
 * Lists the file entries of an uploaded archive (directories left out). An archive it cannot list at all is an
 * {@link InvalidArchiveError}, before any entry is read.
 */
export type ArchiveReader = (zip: Uint8Array) => Promise<readonly ArchiveEntry[]>;

/** What ingest reads of a zip or a manifest at most; bounds the memory of one ingest invocation. */
export interface IngestLimits {
  /** Bytes of a zip object, checked before it is downloaded. */
  maxZipBytes: number;
  maxManifestBytes: number;
  maxManifestLines: number;
  /** S3 calls in flight at once for the keys of one manifest or the entries of one zip; {@link INGEST_IN_FLIGHT} by default. */
  inFlight?: number;
}

/**
 * Ingest's S3 calls in flight at once: one at a time, 100,000 manifest lines or 10,000 zip entries would not fit in
 * its timeout. A zip holds at most this many inflated entries (4 MiB each at most) in memory besides itself.
 */
export const INGEST_IN_FLIGHT = 16;

/**
 * Runs `fn` over `items` with at most `limit` calls pending, and gives their results in the order of `items`. After a
 * failure no further call starts; the first failure is thrown once the calls in flight have settled, so nothing is
 * left running when it returns.
 */
async function mapBounded<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  let failure: { err: unknown } | undefined;
  const lane = async () => {
    while (failure === undefined && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i] as T);
      } catch (err: unknown) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  if (failure) throw failure.err;
  return out;
}

/** Everything the batch use cases may need; each takes only its part (the Pick<> types below). */
export interface BatchDeps {
  store: ObjectStore;
  catalog: ModelCatalog;
  engine: InferenceEngine;
  /**
   * Jobs already read by this container. A job record never changes once written, so ingest reads it once per
   * job rather than once per image.
   */
  jobs?: Map<string, Job>;
  queue: WorkQueue;
  unzip: ArchiveReader;
  ingestLimits: IngestLimits;
  now?: () => Date;
  limits: { maxImageBytes: number; maxPresignedUrls: number; presignExpiresSeconds: number };
}

/** POST /jobs: the ingest limits bound the zips and manifests its forms accept. */
export type CreateJobDeps = Pick<BatchDeps, 'store' | 'catalog' | 'limits' | 'now'> & { ingestLimits: Pick<IngestLimits, 'maxZipBytes' | 'maxManifestBytes'> };
/** S3 ObjectCreated: no engine, no classification. */
export type IngestDeps = Pick<BatchDeps, 'store' | 'catalog' | 'queue' | 'unzip' | 'ingestLimits' | 'jobs' | 'now'>;
/** The SQS worker. */
export type WorkerDeps = Pick<BatchDeps, 'store' | 'catalog' | 'engine' | 'limits' | 'now'>;
/** Reading a job's status and results: the bucket alone. */
export type JobReadDeps = Pick<BatchDeps, 'store' | 'limits'>;

const now = (deps: Pick<BatchDeps, 'now'>) => (deps.now ?? (() => new Date()))();

/** Stable id of one image: the same bucket/key is the same item, whoever reports it and how often. */
export const itemIdOf = (bucket: string, key: string): string => createHash('sha256').update(`${bucket}/${key}`).digest('hex').slice(0, 32);

/** A job's record; one that is there but not in the shape this service writes is a {@link JobUnreadableError}. */
async function readJob(deps: Pick<BatchDeps, 'store'>, jobId: string): Promise<Job | undefined> {
  const obj = await deps.store.get(keys.job(jobId));
  return obj ? parseJobRecord(jobId, obj.body) : undefined;
}

/** Bytes of an upload name: with the job's prefix (at most 73 bytes) it stays far under S3's 1,024 for a key. */
const MAX_NAME_BYTES = 255;

/**
 * The upload names of POST /jobs, sanitised to `[A-Za-z0-9._-]`. A name ingest would ignore (empty, `.`, `..`,
 * a leading dot), one over {@link MAX_NAME_BYTES}, or two that sanitise to the same key (the job would wait forever
 * for an image that is one key) is a 400 naming its index.
 */
function uploadNames(raw: unknown): string[] | undefined {
  if (raw === undefined) return undefined;
  if (!Array.isArray(raw)) throw new BadRequestError('names must be an array of strings');
  const seen = new Map<string, number>();
  return raw.map((n: unknown, i) => {
    const refuse = (why: string): never => {
      throw new BadRequestError(`names[${i}] ${why}`, { details: { index: i } });
    };
    if (typeof n !== 'string') return refuse('is not a string');
    if (Buffer.byteLength(n, 'utf8') > MAX_NAME_BYTES) refuse(`is over ${MAX_NAME_BYTES} bytes`);
    const name = n.replace(/[^A-Za-z0-9._-]/g, '_');
    if (name === '') refuse('is empty');
    if (name.startsWith('.')) refuse(`("${shortLabel(name, 40)}") begins with a dot: ingest ignores hidden files, "." and ".."`);
    const first = seen.get(name);
    if (first !== undefined) refuse(`is the same upload key as names[${first}] once sanitised ("${shortLabel(name, 40)}")`);
    seen.set(name, i);
    return name;
  });
}

/** One upload of POST /jobs: the key it lands under and the form that uploads it. */
export interface JobUpload extends PresignedPost {
  key: string;
  method: 'POST';
}

/** The policy of the form for `key`: its type from its name, and the limit ingest would apply to its kind. */
function uploadPolicy(deps: CreateJobDeps, key: string): UploadPolicy {
  const kind = parseUploadKey(key)?.kind ?? 'image';
  const maxBytes = kind === 'zip' ? deps.ingestLimits.maxZipBytes : kind === 'manifest' ? deps.ingestLimits.maxManifestBytes : deps.limits.maxImageBytes;
  return { ...uploadContentType(key, kind), maxBytes, expiresSeconds: deps.limits.presignExpiresSeconds };
}

/**
 * POST /jobs: a job owned by `owner` and one presigned POST form per upload, each bounded by S3 to its own key, a
 * content type and a size (see {@link uploadPolicy}).
 */
export async function createJob(
  deps: CreateJobDeps,
  owner: Principal,
  input: { count?: unknown; model?: unknown; topK?: unknown; names?: unknown },
): Promise<{ job: Job; uploadPrefix: string; uploads: JobUpload[]; expiresInSeconds: number }> {
  const names = uploadNames(input.names);
  const count = names ? names.length : input.count === undefined ? 0 : Number(input.count);
  if (!Number.isInteger(count) || count < 0) throw new BadRequestError('count must be a non-negative integer');
  if (count > deps.limits.maxPresignedUrls) throw new PayloadTooLargeError(`at most ${deps.limits.maxPresignedUrls} upload URLs per job`);
  const model = resolveModel(deps.catalog, typeof input.model === 'string' ? input.model : undefined);
  const job: Job = {
    jobId: randomUUID(),
    model,
    topK: parseTopK(input.topK),
    createdAt: now(deps).toISOString(),
    announced: count,
    explicit: true,
    owner: owner.id,
  };
  await deps.store.put(keys.job(job.jobId), JSON.stringify(job), { contentType: 'application/json' });
  const prefix = keys.uploadPrefix(job.jobId);
  const uploads = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const name = names?.[i] ?? `image-${String(i).padStart(5, '0')}`;
      const key = `${prefix}${name}`;
      const form = await deps.store.presignPost(key, uploadPolicy(deps, key));
      return { key, method: 'POST' as const, url: form.url, fields: form.fields };
    }),
  );
  return { job, uploadPrefix: prefix, uploads, expiresInSeconds: deps.limits.presignExpiresSeconds };
}

const JOBS_REMEMBERED = 1000;

/** The job of an upload; one created by its first upload gets the default model. */
async function ensureJob(deps: IngestDeps, jobId: string): Promise<Job> {
  const known = deps.jobs?.get(jobId);
  if (known) return known;
  let job = await readJob(deps, jobId);
  if (!job) {
    job = { jobId, model: deps.catalog.defaultModel, topK: 5, createdAt: now(deps).toISOString(), announced: 0, explicit: false };
    await deps.store.put(keys.job(jobId), JSON.stringify(job), { contentType: 'application/json' });
  }
  if (deps.jobs) {
    // Oldest first out: a Map iterates in insertion order.
    if (deps.jobs.size >= JOBS_REMEMBERED) deps.jobs.delete(deps.jobs.keys().next().value as string);
    deps.jobs.set(jobId, job);
  }
  return job;
}

/**
 * What ingest writes for an image it counts, at `jobs/<jobId>/items/<itemId>`, before it queues the image: the worker
 * acts only on a message for the key and the bytes (etag) its marker names, and classifies with the marker's model and
 * topK, whatever the message says. Markers of older versions hold only `key` and `etag`.
 */
interface ItemMarker {
  key: string;
  etag: string;
  model: string;
  topK: number;
}

async function register(deps: Pick<BatchDeps, 'store'>, job: Job, key: string, etag: string): Promise<WorkItem> {
  const itemId = itemIdOf(deps.store.bucket, key);
  const marker = JSON.stringify({ key, etag, model: job.model, topK: job.topK } satisfies ItemMarker);
  // The first write of the marker tells a new image from a re-upload or a repeated event, and spares the
  // worker a lookup per image. Idempotent either way: a repeat rewrites the same marker, so the expected count does not move.
  // Written before the message is sent: the worker trusts no message its marker does not vouch for.
  const fresh = await deps.store.create(keys.item(job.jobId, itemId), marker, { contentType: 'application/json' });
  if (!fresh) await deps.store.put(keys.item(job.jobId, itemId), marker, { contentType: 'application/json' });
  return { v: 1, jobId: job.jobId, itemId, bucket: deps.store.bucket, key, etag, model: job.model, topK: job.topK, fresh };
}

/**
 * Stores an image's record. The record itself counts the image as answered; a failure also leaves a marker,
 * written first so that a failed image is never counted as done, even for a moment. Unless the caller saw an
 * earlier record (`replacing`), the record is only created: if one exists after all (another message for the
 * same key got there first, with other bytes or before an upload was repeated), this is a replacement too.
 */
async function storeResult(deps: Pick<BatchDeps, 'store'>, record: ResultRecord, replacing = false): Promise<void> {
  const failedMarker = keys.failedMarker(record.jobId, record.itemId);
  if (!record.ok) await deps.store.put(failedMarker, '');
  const key = keys.result(record.jobId, record.itemId);
  const body = JSON.stringify(record);
  const options = { contentType: 'application/json', metadata: { 'source-etag': record.etag, ok: String(record.ok) } };
  if (!replacing && (await deps.store.create(key, body, options))) return;
  await deps.store.put(key, body, options);
  // A re-uploaded image that now succeeds must not count as failed too.
  if (record.ok) await deps.store.delete(failedMarker);
}

/**
 * Counts `key` as an image of the job and answers it at once with an error record. A repeated event finds the
 * record it stored for the same bytes and leaves it be, so the job's revision does not move either.
 */
async function answerWithError(deps: IngestDeps, job: Job, key: string, etag: string, error: ErrorRecord): Promise<void> {
  const item = await register(deps, job, key, etag);
  const existing = item.fresh ? undefined : await deps.store.head(keys.result(job.jobId, item.itemId));
  if (existing?.metadata['source-etag'] === etag) return;
  const version = deps.catalog.manifest(job.model)?.version ?? '';
  await storeResult(deps, errorResult(item, { name: job.model, version }, error, now(deps)), existing !== undefined);
}

/**
 * A zip or manifest that parses, uploaded over one that did not: its key is no image, so the error record
 * (and the item it was counted as) goes. The record first, so that nothing is ever counted done that is not.
 */
async function withdrawUploadError(deps: IngestDeps, jobId: string, key: string): Promise<void> {
  const itemId = itemIdOf(deps.store.bucket, key);
  if (!(await deps.store.head(keys.result(jobId, itemId)))) return;
  await deps.store.delete(keys.result(jobId, itemId));
  await deps.store.delete(keys.failedMarker(jobId, itemId));
  await deps.store.delete(keys.item(jobId, itemId));
}

/**
 * Reads and parses a zip's or a manifest's content, refusing one over `maxBytes` before downloading it. Content
 * that cannot be read is answered with one error record for the upload's own key; content that can withdraws
 * any such record an earlier upload of that key left. Anything else the parser throws is no verdict on the
 * bytes, and propagates. Undefined when the object is gone since its HEAD.
 */
async function readUpload<T>(
  deps: IngestDeps,
  job: Job,
  upload: { key: string; head: ObjectHead },
  limit: { maxBytes: number; tooLarge: (bytes: number) => AppError },
  parse: (body: Uint8Array) => T | Promise<T>,
): Promise<{ content: T; etag: string } | { rejected: string } | undefined> {
  const { key, head } = upload;
  let etag = head.etag;
  let content: T;
  try {
    if (head.size > limit.maxBytes) throw limit.tooLarge(head.size);
    const obj = await deps.store.get(key);
    if (!obj) return undefined;
    etag = obj.etag;
    // Replaced since the HEAD by a larger object: still refused, if only after the download.
    if (obj.body.length > limit.maxBytes) throw limit.tooLarge(obj.body.length);
    content = await parse(obj.body);
  } catch (err: unknown) {
    if (!(err instanceof InvalidArchiveError || err instanceof InvalidManifestError)) throw err;
    await answerWithError(deps, job, key, etag, toErrorRecord(err));
    return { rejected: err.code };
  }
  await withdrawUploadError(deps, job.jobId, key);
  return { content, etag };
}

/** What ingest did with one upload: images queued, and for a zip or manifest, the entries or lines it refused. */
export interface IngestOutcome {
  kind: string;
  queued: number;
  /** The code of the one error record the upload itself got. */
  rejected?: string;
  /** Zip entries written back under uploads/. */
  extracted?: number;
  /** Zip entries or manifest lines answered with an error record of their own. */
  refused?: number;
}

/**
 * S3 ObjectCreated under uploads/: registers each image of a job and queues it. A zip is expanded into
 * images under uploads/ (each then arrives here on its own); a manifest queues the keys it lists. A zip or
 * manifest whose content cannot be parsed becomes one error record for its own key (`rejected` says which
 * code) rather than a throw: a retry would read the same bytes. So does any upload of a job whose record is
 * unreadable (JOB_UNREADABLE). A bad zip entry or manifest line gets an error record of its own, and the rest
 * goes ahead. Failures to reach S3 or SQS still throw. The event's `etag` is not trusted: the object's own is used,
 * from a HEAD, and an event for an object that is not there is ignored (kind `missing`).
 */
export async function ingestUpload(deps: IngestDeps, upload: { key: string; etag?: string }): Promise<IngestOutcome> {
  const parsed = parseUploadKey(upload.key);
  if (!parsed) return { kind: 'ignored', queued: 0 };
  // An event is only a claim (a forged one could name an image not uploaded yet, and fail it): what ingests is the
  // object as it is now, with its own ETag. One that is not there was never uploaded or is gone: nothing to count.
  const head = await deps.store.head(upload.key);
  if (!head) return { kind: 'missing', queued: 0 };
  let job: Job;
  try {
    job = await ensureJob(deps, parsed.jobId);
  } catch (err: unknown) {
    if (!(err instanceof JobUnreadableError)) throw err;
    // A retry would read the same record. Answered instead, the upload is counted; GET /jobs/<id> says why.
    const standIn: Job = { jobId: parsed.jobId, model: deps.catalog.defaultModel, topK: 5, createdAt: now(deps).toISOString(), announced: 0, explicit: false };
    await answerWithError(deps, standIn, upload.key, head.etag, toErrorRecord(err));
    return { kind: parsed.kind, queued: 0, rejected: err.code };
  }
  if (parsed.kind === 'image') {
    const item = await register(deps, job, upload.key, head.etag);
    await deps.queue.send([item]);
    return { kind: 'image', queued: 1 };
  }
  const stored = { key: upload.key, head };
  return parsed.kind === 'zip' ? ingestZip(deps, job, stored, parsed.name) : ingestManifest(deps, job, stored, parsed.name);
}

/** Extensions ingest treats as images inside a zip; other entries are left out. */
const IMAGE_EXT = /\.(jpe?g|png|webp|gif|tiff?|avif|heic|bmp)$/i;

/**
 * Where a zip entry is extracted to, or why it cannot be (an error for its record), or undefined for an entry
 * left out without a record: directories, `__MACOSX/` and dot-files (a zip tool's leftovers), non-images.
 * An unsafe name is refused first, whatever its extension: it is never a harmless leftover.
 */
function entryTarget(folder: string, entry: ArchiveEntry): string | AppError | undefined {
  const problem = entry.unsafeName === undefined ? keyProblem(entry.name) : `it has ${entry.unsafeName}`;
  if (problem) return new InvalidArchiveEntryError(`the entry's name cannot be a key: ${problem}`);
  if (entry.name.split('/').some((s) => s === '__MACOSX' || s.startsWith('.')) || !IMAGE_EXT.test(entry.name)) return undefined;
  const key = `${folder}${entry.name}`;
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) return new InvalidArchiveEntryError(`the entry's name makes a key over ${MAX_KEY_BYTES} bytes`);
  return key;
}

/** The record key of a refused zip entry: the zip's key and the entry's name, shortened (and then told apart by a hash). */
function entryRecordKey(zipKey: string, name: string): string {
  const label = shortLabel(name);
  return label === name ? `${zipKey}#${name}` : `${zipKey}#${label} (${createHash('sha256').update(name).digest('hex').slice(0, 8)})`;
}

/** An entry's bytes, or its own fault (the same on every retry); anything else (a reader bug) propagates. */
async function extract(entry: ArchiveEntry): Promise<Uint8Array | AppError> {
  try {
    return await entry.read();
  } catch (err: unknown) {
    if (err instanceof InvalidArchiveEntryError || err instanceof PayloadTooLargeError) return err;
    throw err;
  }
}

/**
 * Expands a zip under `uploads/<jobId>/<zip name>/`, {@link INGEST_IN_FLIGHT} entries at a time: each is inflated,
 * written and let go before its lane takes the next, so memory holds the zip and that many entries. Entries that
 * come to the same key (or, refused, to the same record) share a lane and keep their order in the zip, so the
 * last of them wins as it would one at a time.
 */
async function ingestZip(deps: IngestDeps, job: Job, upload: { key: string; head: ObjectHead }, name: string): Promise<IngestOutcome> {
  const { key } = upload;
  const { maxZipBytes } = deps.ingestLimits;
  const tooLarge = (bytes: number) => new InvalidArchiveError(`the zip is ${bytes} bytes, over the limit of ${maxZipBytes}`);
  const archive = await readUpload(deps, job, upload, { maxBytes: maxZipBytes, tooLarge }, (body) => deps.unzip(body));
  if (!archive) return { kind: 'zip', queued: 0 };
  if ('rejected' in archive) return { kind: 'zip', queued: 0, rejected: archive.rejected };
  const folder = `${keys.uploadPrefix(job.jobId)}${name.replace(/\.zip$/i, '')}/`;
  let extracted = 0;
  let refused = 0;
  const refuse = async (entry: ArchiveEntry, error: AppError) => {
    await answerWithError(deps, job, entryRecordKey(key, entry.name), archive.etag, toErrorRecord(error));
    refused += 1;
  };
  const lanes = new Map<string, Array<{ entry: ArchiveEntry; target: string | AppError }>>();
  for (const entry of archive.content) {
    const target = entryTarget(folder, entry);
    if (target === undefined) continue;
    // An extracted key and a record key never collide: a record key has a '#' after the zip's own name.
    const lane = typeof target === 'string' ? target : entryRecordKey(key, entry.name);
    const same = lanes.get(lane);
    if (same) same.push({ entry, target });
    else lanes.set(lane, [{ entry, target }]);
  }
  await mapBounded([...lanes.values()], deps.ingestLimits.inFlight ?? INGEST_IN_FLIGHT, async (lane) => {
    for (const { entry, target } of lane) {
      if (typeof target !== 'string') {
        await refuse(entry, target);
        continue;
      }
      const data = await extract(entry);
      if (data instanceof Uint8Array) {
        await deps.store.put(target, data);
        extracted += 1;
      } else {
        await refuse(entry, data);
      }
    }
  });
  return { kind: 'zip', queued: 0, extracted, refused };
}

/**
 * The key a manifest lists, confined to its job: a key beginning `uploads/` is a full key and must lie under
 * `uploads/<jobId>/`; any other is relative to that prefix. Only a key ingest would take as an image is listed.
 * Returns the refusal otherwise: a key of another job is refused, never read.
 */
function manifestKey(jobId: string, listed: string): string | AppError {
  const prefix = keys.uploadPrefix(jobId);
  const quoted = `"${shortLabel(listed, 100)}"`;
  const problem = listed.startsWith('/') ? 'it is an absolute path' : keyProblem(listed);
  if (problem) return new InvalidManifestLineError(`${quoted} is no usable key: ${problem}`);
  const key = listed.startsWith('uploads/') ? listed : `${prefix}${listed}`;
  if (!key.startsWith(prefix)) return new KeyOutsideJobError(`${quoted} lies outside this job's uploads (${prefix})`);
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) return new InvalidManifestLineError(`${quoted} makes a key over ${MAX_KEY_BYTES} bytes in ${prefix}`);
  if (parseUploadKey(key)?.kind !== 'image') return new InvalidManifestLineError(`${quoted} is no image key (ingest ignores it, or reads it as a zip or a manifest)`);
  return key;
}

/**
 * Queues the keys a manifest lists, {@link INGEST_IN_FLIGHT} at a time; a key listed twice is one image, queued once.
 * Each line that lists no usable key gets a record `<manifest key>#line <n>`.
 */
async function ingestManifest(deps: IngestDeps, job: Job, upload: { key: string; head: ObjectHead }, name: string): Promise<IngestOutcome> {
  const { key } = upload;
  const { maxManifestBytes, maxManifestLines } = deps.ingestLimits;
  const inFlight = deps.ingestLimits.inFlight ?? INGEST_IN_FLIGHT;
  const format = name.toLowerCase().endsWith('.jsonl') ? 'jsonl' : 'csv';
  const tooLarge = (bytes: number) => new InvalidManifestError(`the manifest is ${bytes} bytes, over the limit of ${maxManifestBytes}`);
  const manifest = await readUpload(deps, job, upload, { maxBytes: maxManifestBytes, tooLarge }, (body) =>
    parseManifest(Buffer.from(body).toString('utf8'), format, maxManifestLines),
  );
  if (!manifest) return { kind: 'manifest', queued: 0 };
  if ('rejected' in manifest) return { kind: 'manifest', queued: 0, rejected: manifest.rejected };
  const steps: Array<() => Promise<WorkItem | undefined>> = [];
  const listed = new Set<string>();
  let refused = 0;
  for (const line of manifest.content) {
    const target = 'key' in line ? manifestKey(job.jobId, line.key) : new InvalidManifestLineError(`line ${line.line} lists no key: ${line.problem}`);
    if (typeof target !== 'string') {
      steps.push(async () => {
        await answerWithError(deps, job, `${key}#line ${line.line}`, manifest.etag, toErrorRecord(target));
        return undefined;
      });
      refused += 1;
      continue;
    }
    if (listed.has(target)) continue;
    listed.add(target);
    steps.push(async () => {
      const head = await deps.store.head(target);
      if (head) return register(deps, job, target, head.etag);
      // Counted and answered at once: a listed key that does not exist is that image's error record.
      await answerWithError(deps, job, target, 'missing', toErrorRecord(new ObjectNotFoundError(`s3://${deps.store.bucket}/${target} does not exist`)));
      return undefined;
    });
  }
  const items = (await mapBounded(steps, inFlight, (step) => step())).filter((i): i is WorkItem => i !== undefined);
  const batches = Array.from({ length: Math.ceil(items.length / 10) }, (_, b) => items.slice(b * 10, b * 10 + 10));
  await mapBounded(batches, inFlight, (batch) => deps.queue.send(batch));
  return { kind: 'manifest', queued: items.length, refused };
}

/** Errors that retrying will not fix: the image itself is bad. */
const permanent = (err: AppError) => err.statusCode >= 400 && err.statusCode < 500;

/** What became of one work item: answered (undefined), dropped as untrusted, or a transient error to retry. */
export type ItemOutcome = undefined | { dropped: string } | Error;

/**
 * Why the worker must not act on an item, if so: a queue message is only a claim, and a forged one could
 * otherwise read any object in the bucket and write a result into any job. Trusted are items of this bucket,
 * whose id is their key's, whose key lies in their job's uploads, and whose item marker (written by ingest
 * before it queues) names that key and etag ({@link registered}). The marker costs one GET per item, in parallel
 * with the result lookup.
 */
function untrustedClaim(deps: Pick<BatchDeps, 'store'>, item: WorkItem): string | undefined {
  if (item.bucket !== deps.store.bucket) return 'it names another bucket';
  if (!isValidJobId(item.jobId) || !item.key.startsWith(keys.uploadPrefix(item.jobId))) return "its key lies outside its job's uploads";
  if (item.itemId !== itemIdOf(item.bucket, item.key)) return "its item id is not its key's";
  return undefined;
}

/**
 * The item as its marker has it (see {@link ItemMarker}): its model and topK are the marker's, not the message's. Or
 * why the message is not acted on: no marker, a marker for another key, or for other bytes than the message claims.
 * A re-upload rewrites its key's marker before it queues a message of its own, so a message for other bytes is stale
 * (or forged), and the message the marker names is the one that answers the image. A marker of an older version
 * (key and etag only) leaves the message's model and topK.
 */
async function registered(deps: Pick<BatchDeps, 'store'>, item: WorkItem): Promise<WorkItem | { dropped: string }> {
  const marker = await deps.store.get(keys.item(item.jobId, item.itemId));
  if (!marker) return { dropped: 'ingest registered no such item' };
  let m: Partial<Record<keyof ItemMarker, unknown>> = {};
  try {
    const raw: unknown = JSON.parse(Buffer.from(marker.body).toString('utf8'));
    if (typeof raw === 'object' && raw !== null) m = raw;
  } catch {
    // Not JSON: a marker that names no key, refused below.
  }
  if (m.key !== item.key) return { dropped: 'its item was registered for another key' };
  if (m.etag !== item.etag) return { dropped: 'its item was registered for other bytes (a stale or forged message)' };
  const model = typeof m.model === 'string' && m.model !== '' ? m.model : item.model;
  // Never out of range: one item's bad topK would fail the engine call of every image of its model in the batch.
  const topK = [m.topK, item.topK].find((k): k is number => typeof k === 'number' && Number.isInteger(k) && k >= 1 && k <= MAX_TOP_K) ?? DEFAULT_TOP_K;
  return { ...item, model, topK };
}

/**
 * The SQS worker's use case: classifies a micro-batch of queued images in one engine call and stores one
 * result or error record per image. Items ingest did not queue are dropped unread (see {@link untrustedClaim}).
 * Already-answered images (same key and etag) are skipped; `fresh` items (see {@link WorkItem}) are known to
 * have no answer yet, which spares the result lookup, never the trust check. Returns each item's {@link ItemOutcome}.
 */
export async function processItems(deps: WorkerDeps, items: readonly WorkItem[]): Promise<ItemOutcome[]> {
  const outcome: ItemOutcome[] = items.map(() => undefined);
  // `etag` is that of the bytes actually read: a newer upload may have replaced the one the message announced.
  const todo: Array<{ i: number; item: WorkItem; etag: string; bytes: Uint8Array; replacing: boolean }> = [];
  await Promise.all(
    items.map(async (claimed, i) => {
      try {
        const claim = untrustedClaim(deps, claimed);
        if (claim) {
          outcome[i] = { dropped: claim };
          return;
        }
        const [vouched, existing] = await Promise.all([
          registered(deps, claimed),
          claimed.fresh ? undefined : deps.store.head(keys.result(claimed.jobId, claimed.itemId)),
        ]);
        if ('dropped' in vouched) {
          outcome[i] = vouched;
          return;
        }
        const item = vouched;
        if (existing?.metadata['source-etag'] === item.etag) return;
        const replacing = existing !== undefined;
        const version = deps.catalog.manifest(item.model)?.version ?? '';
        const obj = await deps.store.get(item.key);
        if (!obj) {
          // Stamped 'missing', so the same bytes uploaded again are not taken as already answered.
          const gone = { ...item, etag: 'missing' };
          const notFound = toErrorRecord(new ObjectNotFoundError(`${item.key} no longer exists`));
          await storeResult(deps, errorResult(gone, { name: item.model, version }, notFound, now(deps)), replacing);
          return;
        }
        if (obj.body.length > deps.limits.maxImageBytes) {
          const tooLarge = toErrorRecord(new PayloadTooLargeError(`${obj.body.length} bytes, over ${deps.limits.maxImageBytes}`));
          await storeResult(deps, errorResult({ ...item, etag: obj.etag }, { name: item.model, version }, tooLarge, now(deps)), replacing);
          return;
        }
        todo.push({ i, item, etag: obj.etag, bytes: obj.body, replacing });
      } catch (err: unknown) {
        outcome[i] = err instanceof Error ? err : new Error(String(err));
      }
    }),
  );
  // One engine call per model: the images of a batch of messages share the pool (and a tensor where the model batches).
  // Their jobs may ask for different topK: the call asks for the largest, and each record keeps its own.
  const byModel = new Map<string, typeof todo>();
  for (const t of todo) byModel.set(t.item.model, [...(byModel.get(t.item.model) ?? []), t]);
  for (const [model, group] of byModel) {
    let results: Awaited<ReturnType<typeof classifyImages>>;
    try {
      const topK = Math.max(...group.map((g) => g.item.topK));
      results = await classifyImages(deps, group.map((g) => g.bytes), { model, topK, priority: 'background' });
    } catch (err: unknown) {
      for (const g of group) outcome[g.i] = err instanceof Error ? err : new Error(String(err));
      continue;
    }
    await Promise.all(
      group.map(async (g, j) => {
        const r = results[j];
        try {
          if (!r) throw new Error('missing classification');
          if (!r.ok && !permanent(r.error)) throw r.error;
          const record: ResultRecord = r.ok
            ? {
                jobId: g.item.jobId,
                itemId: g.item.itemId,
                key: g.item.key,
                etag: g.etag,
                model: r.value.model,
                ok: true,
                predictions: r.value.predictions.slice(0, g.item.topK),
                timings: r.value.timings,
                completedAt: now(deps).toISOString(),
              }
            : errorResult({ ...g.item, etag: g.etag }, { name: model, version: deps.catalog.manifest(model)?.version ?? '' }, toErrorRecord(r.error), now(deps));
          await storeResult(deps, record, g.replacing);
        } catch (err: unknown) {
          outcome[g.i] = err instanceof Error ? err : new Error(String(err));
        }
      }),
    );
  }
  return outcome;
}

export interface JobReport {
  jobId: string;
  status: JobStatus;
  model: string;
  counts: JobCounts;
  createdAt: string;
  explicit: boolean;
  /** Changes whenever an image's answer does (a new, replaced or re-done record): the results' version. */
  revision: string;
}

/**
 * The job `who` may read. Another's job is not found, with the same error and after the same one GET as a job that
 * does not exist: its existence is not told. An unreadable record (JOB_UNREADABLE) is told by the same rule, to the
 * owner it still names or, naming none, to operators; to anyone else it is not found either.
 */
async function readableJob(deps: Pick<BatchDeps, 'store'>, jobId: string, who: Principal): Promise<Job> {
  const notFound = () => new NotFoundError('JOB_NOT_FOUND', `no job "${jobId}"`);
  const obj = await deps.store.get(keys.job(jobId));
  if (!obj) throw notFound();
  let job: Job;
  try {
    job = parseJobRecord(jobId, obj.body);
  } catch (err: unknown) {
    if (err instanceof JobUnreadableError && !mayRead(recordOwner(obj.body), who)) throw notFound();
    throw err;
  }
  if (!mayRead(job.owner, who)) throw notFound();
  return job;
}

/**
 * GET /jobs/{id}: status and counts, from the item markers, the result records and the failure markers, for a
 * principal that may read the job (else JOB_NOT_FOUND). Callers read the job's results only after it answered.
 */
export async function jobReport(deps: JobReadDeps, jobId: string, who: Principal): Promise<JobReport> {
  const job = await readableJob(deps, jobId, who);
  const [items, answered, failed] = await Promise.all([
    deps.store.list(keys.items(jobId)),
    deps.store.list(keys.results(jobId)),
    deps.store.list(keys.failed(jobId)),
  ]);
  // A failure marker is written before its record, so a failed image is never counted as done.
  const done = Math.max(0, answered.length - failed.length);
  const counts: JobCounts = { expected: Math.max(job.announced, items.length), ingested: items.length, done, failed: failed.length };
  // Every rewrite of a record gives it a new ETag (it holds its completion time), so the listing is the version.
  const revision = createHash('sha256').update(answered.map((o) => `${o.key} ${o.etag}`).join('\n')).digest('hex').slice(0, 16);
  return { jobId, status: jobStatus(counts), model: job.model, counts, createdAt: job.createdAt, explicit: job.explicit, revision };
}

/** Every result record of a job, ordered by image key. */
export async function jobResults(deps: Pick<BatchDeps, 'store'>, jobId: string): Promise<ResultRecord[]> {
  const listed = await deps.store.list(keys.results(jobId));
  const records = await Promise.all(
    listed.map(async (o) => {
      const obj = await deps.store.get(o.key);
      return obj ? (JSON.parse(Buffer.from(obj.body).toString('utf8')) as ResultRecord) : undefined;
    }),
  );
  return records.filter((r): r is ResultRecord => r !== undefined).sort((a, b) => a.key.localeCompare(b.key));
}

/** Paging of GET /jobs/{id}/results: a page of at most `maxBytes` fits a Lambda response (6 MB) with headroom. */
export const RESULTS_PAGE = { defaultLimit: 1000, maxLimit: 5000, maxBytes: 5_000_000 } as const;

/** Reads a `limit` query parameter: absent is the default, else an integer from 1 to the maximum. */
export function parsePageLimit(raw: string | undefined): number {
  if (raw === undefined) return RESULTS_PAGE.defaultLimit;
  const n = /^\d{1,5}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(n >= 1 && n <= RESULTS_PAGE.maxLimit)) throw new BadRequestError(`limit must be an integer from 1 to ${RESULTS_PAGE.maxLimit}`);
  return n;
}

/** One page of a job's results: its body, the records in it and, unless it is the last, the cursor of the next. */
export interface ResultsPage {
  body: string;
  count: number;
  next?: string;
}

// Bytes of a body as it travels: Lambda sends it JSON-escaped inside its response, and it is that response the
// 6 MB limit applies to, so a body full of quotes must not be measured as if it were not.
const wireBytes = (s: string): number => Buffer.byteLength(JSON.stringify(s), 'utf8') - 2;

/** Gets in flight at once while filling a page: enough to hide S3 latency, few enough not to read far past it. */
const READ_AHEAD = 50;

/**
 * A page of a job's result records, in the S3 listing order of their keys (`results/<jobId>/<itemId>.json`,
 * UTF-8 byte order; by item id, not image key), which is stable across pages. `after` is the cursor of the
 * previous page, the last result key it covered; a page resumes after it as S3's StartAfter does, so a record
 * deleted meanwhile does not break the walk. A page ends at `limit` records (at least 1) or before its body
 * would pass `maxBytes`, but always holds at least one record when any is left. A CSV page repeats the header.
 */
export async function jobResultsPage(
  deps: Pick<BatchDeps, 'store'>,
  jobId: string,
  page: { after?: string | undefined; limit: number; maxBytes: number; format: 'jsonl' | 'csv' },
): Promise<ResultsPage> {
  const prefix = keys.results(jobId);
  const { after } = page;
  if (after !== undefined && !(after.length <= 1024 && after.startsWith(prefix) && /^[^/]+\.json$/.test(after.slice(prefix.length)))) {
    throw new BadRequestError('after is not a cursor of this job\'s results');
  }
  const listed = await deps.store.list(prefix);
  const rest = after === undefined ? listed : listed.filter((o) => o.key > after);
  const limit = Math.max(1, page.limit);
  const header = page.format === 'csv' ? resultsCsv([]) : '';
  // resultsCsv([r]) is the header followed by r's row; the page's body is the header once, then each row.
  const chunk = (r: ResultRecord) => (page.format === 'csv' ? resultsCsv([r]).slice(header.length) : resultsJsonl([r]));
  const records: ResultRecord[] = [];
  let bytes = wireBytes(header);
  let consumed = 0;
  fill: while (consumed < rest.length && records.length < limit) {
    const window = rest.slice(consumed, consumed + Math.min(READ_AHEAD, limit - records.length));
    const read = await Promise.all(
      window.map(async (o) => {
        const obj = await deps.store.get(o.key);
        return obj ? (JSON.parse(Buffer.from(obj.body).toString('utf8')) as ResultRecord) : undefined;
      }),
    );
    for (const r of read) {
      if (r) {
        const size = wireBytes(chunk(r));
        if (records.length > 0 && bytes + size > page.maxBytes) break fill;
        records.push(r);
        bytes += size;
      }
      // A record gone since the listing is passed over, and the cursor moves past it all the same.
      consumed += 1;
      if (records.length >= limit) break fill;
    }
  }
  const body = page.format === 'csv' ? resultsCsv(records) : resultsJsonl(records);
  const last = rest[consumed - 1];
  return { body, count: records.length, ...(consumed < rest.length && last ? { next: last.key } : {}) };
}

/**
 * Writes the JSONL and CSV of a finished job at its `revision`, once, and returns links to them. An image
 * re-uploaded after the job finished moves the revision, so a download is never stale; each revision has its
 * own files, so a slow request assembling an older one cannot overwrite a newer one.
 */
export async function assembleResults(deps: JobReadDeps, jobId: string, revision: string): Promise<{ jsonl: string; csv: string }> {
  const jsonlKey = keys.assembled(jobId, revision, 'jsonl');
  const csvKey = keys.assembled(jobId, revision, 'csv');
  if (!(await deps.store.head(jsonlKey))) {
    const records = await jobResults(deps, jobId);
    await deps.store.put(csvKey, resultsCsv(records), { contentType: 'text/csv' });
    // Last: its presence says both are written.
    await deps.store.put(jsonlKey, resultsJsonl(records), { contentType: 'application/x-ndjson' });
  }
  return {
    jsonl: await deps.store.presignGet(jsonlKey, deps.limits.presignExpiresSeconds),
    csv: await deps.store.presignGet(csvKey, deps.limits.presignExpiresSeconds),
  };
}

