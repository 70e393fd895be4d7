import { createHash, randomUUID } from 'node:crypto';
import { classifyImages, parseTopK, resolveModel } from './classify';
import type { InferenceEngine, ModelCatalog } from './ports';
import {
  type AppError,
  BadRequestError,
  type ErrorRecord,
  InvalidArchiveError,
  InvalidManifestError,
  NotFoundError,
  PayloadTooLargeError,
  toErrorRecord,
} from './errors';
import {
  errorResult,
  type Job,
  type JobCounts,
  type JobStatus,
  jobStatus,
  keys,
  parseManifest,
  parseUploadKey,
  type ResultRecord,
  resultsCsv,
  resultsJsonl,
  type WorkItem,
} from './jobs';

/** An object as the batch path needs it. */
export interface StoredObject {
  body: Uint8Array;
  etag: string;
  metadata: Record<string, string>;
}

/** The bucket (S3 in AWS, the local S3 emulator offline). */
export interface ObjectStore {
  readonly bucket: string;
  get(key: string): Promise<StoredObject | undefined>;
  head(key: string): Promise<{ etag: string; metadata: Record<string, string> } | undefined>;
  put(key: string, body: Uint8Array | string, options?: { contentType?: string; metadata?: Record<string, string> }): Promise<void>;
  /** Writes `key` only if it does not exist yet (an S3 conditional write); false when it already did. */
  create(key: string, body: Uint8Array | string, options?: { contentType?: string; metadata?: Record<string, string> }): Promise<boolean>;
  list(prefix: string): Promise<Array<{ key: string; size: number; etag: string }>>;
  delete(key: string): Promise<void>;
  presignPut(key: string, expiresSeconds: number): Promise<string>;
  presignGet(key: string, expiresSeconds: number): Promise<string>;
}

/** The work queue feeding inference workers (SQS). */
export interface WorkQueue {
  send(items: readonly WorkItem[]): Promise<void>;
}

/** Reads image entries out of an uploaded archive; bytes it cannot read are an {@link InvalidArchiveError}. */
export type ArchiveReader = (zip: Uint8Array) => Array<{ name: string; data: Uint8Array }>;

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
  now?: () => Date;
  limits: { maxImageBytes: number; maxPresignedUrls: number; presignExpiresSeconds: number };
}

/** POST /jobs. */
export type CreateJobDeps = Pick<BatchDeps, 'store' | 'catalog' | 'limits' | 'now'>;
/** S3 ObjectCreated: no engine, no classification. */
export type IngestDeps = Pick<BatchDeps, 'store' | 'catalog' | 'queue' | 'unzip' | 'jobs' | 'now'>;
/** The SQS worker. */
export type WorkerDeps = Pick<BatchDeps, 'store' | 'catalog' | 'engine' | 'limits' | 'now'>;
/** Reading a job's status and results: the bucket alone. */
export type JobReadDeps = Pick<BatchDeps, 'store' | 'limits'>;

const IMAGE_EXT = /\.(jpe?g|png|webp|gif|tiff?|avif|heic|bmp)$/i;
const now = (deps: Pick<BatchDeps, 'now'>) => (deps.now ?? (() => new Date()))();

/** Stable id of one image: the same bucket/key is the same item, whoever reports it and how often. */
export const itemIdOf = (bucket: string, key: string): string => createHash('sha256').update(`${bucket}/${key}`).digest('hex').slice(0, 32);

async function readJob(deps: Pick<BatchDeps, 'store'>, jobId: string): Promise<Job | undefined> {
  const obj = await deps.store.get(keys.job(jobId));
  return obj ? (JSON.parse(Buffer.from(obj.body).toString('utf8')) as Job) : undefined;
}

/** POST /jobs: a job and presigned PUT URLs for its images. */
export async function createJob(
  deps: CreateJobDeps,
  input: { count?: unknown; model?: unknown; topK?: unknown; names?: unknown },
): Promise<{ job: Job; uploadPrefix: string; uploads: Array<{ key: string; url: string; method: 'PUT' }>; expiresInSeconds: number }> {
  const names = Array.isArray(input.names) ? input.names.map(String) : undefined;
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
  };
  await deps.store.put(keys.job(job.jobId), JSON.stringify(job), { contentType: 'application/json' });
  const prefix = keys.uploadPrefix(job.jobId);
  const uploads = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const name = names?.[i]?.replace(/[^A-Za-z0-9._-]/g, '_') ?? `image-${String(i).padStart(5, '0')}`;
      const key = `${prefix}${name}`;
      return { key, url: await deps.store.presignPut(key, deps.limits.presignExpiresSeconds), method: 'PUT' as const };
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

async function register(deps: Pick<BatchDeps, 'store'>, job: Job, key: string, etag: string): Promise<WorkItem> {
  const itemId = itemIdOf(deps.store.bucket, key);
  const marker = JSON.stringify({ key, etag });
  // The first write of the marker tells a new image from a re-upload or a repeated event, and spares the
  // worker a lookup per image. Idempotent either way: a repeat rewrites the same marker, so the expected count does not move.
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
 * Parses a zip's or a manifest's content. Content that cannot be read is answered with one error record for the
 * upload's own key; content that can withdraws any such record an earlier upload of that key left. Anything else
 * the parser throws is no verdict on the bytes, and propagates.
 */
async function readUpload<T>(deps: IngestDeps, job: Job, key: string, etag: string, parse: () => T): Promise<{ content: T } | { rejected: string }> {
  let content: T;
  try {
    content = parse();
  } catch (err: unknown) {
    if (!(err instanceof InvalidArchiveError || err instanceof InvalidManifestError)) throw err;
    await answerWithError(deps, job, key, etag, toErrorRecord(err));
    return { rejected: err.code };
  }
  await withdrawUploadError(deps, job.jobId, key);
  return { content };
}

/**
 * S3 ObjectCreated under uploads/: registers each image of a job and queues it. A zip is expanded into
 * images under uploads/ (each then arrives here on its own); a manifest queues the keys it lists. A zip or
 * manifest whose content cannot be parsed becomes one error record for its own key (`rejected` says which
 * code) rather than a throw: a retry would read the same bytes. Failures to reach S3 or SQS still throw.
 */
export async function ingestUpload(deps: IngestDeps, upload: { key: string; etag: string }): Promise<{ kind: string; queued: number; rejected?: string }> {
  const parsed = parseUploadKey(upload.key);
  if (!parsed) return { kind: 'ignored', queued: 0 };
  const job = await ensureJob(deps, parsed.jobId);
  if (parsed.kind === 'image') {
    const item = await register(deps, job, upload.key, upload.etag);
    await deps.queue.send([item]);
    return { kind: 'image', queued: 1 };
  }
  const obj = await deps.store.get(upload.key);
  if (!obj) return { kind: parsed.kind, queued: 0 };
  if (parsed.kind === 'zip') {
    const archive = await readUpload(deps, job, upload.key, obj.etag, () => deps.unzip(obj.body));
    if ('rejected' in archive) return { kind: 'zip', queued: 0, rejected: archive.rejected };
    const base = parsed.name.replace(/\.zip$/i, '');
    const entries = archive.content.filter((e) => IMAGE_EXT.test(e.name) && !e.name.split('/').some((p) => p.startsWith('.') || p === '__MACOSX'));
    for (const e of entries) {
      await deps.store.put(`${keys.uploadPrefix(job.jobId)}${base}/${e.name}`, e.data);
    }
    return { kind: 'zip', queued: 0 };
  }
  const format = parsed.name.toLowerCase().endsWith('.jsonl') ? 'jsonl' : 'csv';
  const manifest = await readUpload(deps, job, upload.key, obj.etag, () => parseManifest(Buffer.from(obj.body).toString('utf8'), format));
  if ('rejected' in manifest) return { kind: 'manifest', queued: 0, rejected: manifest.rejected };
  const items: WorkItem[] = [];
  for (const key of manifest.content) {
    const head = await deps.store.head(key);
    if (!head) {
      // Counted and answered at once: a listed key that does not exist is that image's error record.
      await answerWithError(deps, job, key, 'missing', { code: 'OBJECT_NOT_FOUND', statusCode: 404, message: `s3://${deps.store.bucket}/${key} does not exist` });
      continue;
    }
    items.push(await register(deps, job, key, head.etag));
  }
  for (let i = 0; i < items.length; i += 10) await deps.queue.send(items.slice(i, i + 10));
  return { kind: 'manifest', queued: items.length };
}

/** Errors that retrying will not fix: the image itself is bad. */
const permanent = (err: AppError) => err.statusCode >= 400 && err.statusCode < 500;

/**
 * The SQS worker's use case: classifies a micro-batch of queued images in one engine call and stores one
 * result or error record per image. Already-answered images (same key and etag) are skipped; `fresh` items
 * (see {@link WorkItem}) are known to have no answer yet. Returns, per item, undefined on success or the
 * transient error that should send the message back for a retry.
 */
export async function processItems(deps: WorkerDeps, items: readonly WorkItem[]): Promise<Array<Error | undefined>> {
  const outcome: Array<Error | undefined> = items.map(() => undefined);
  // `etag` is that of the bytes actually read: a newer upload may have replaced the one the message announced.
  const todo: Array<{ i: number; item: WorkItem; etag: string; bytes: Uint8Array; replacing: boolean }> = [];
  await Promise.all(
    items.map(async (item, i) => {
      try {
        const existing = item.fresh ? undefined : await deps.store.head(keys.result(item.jobId, item.itemId));
        if (existing?.metadata['source-etag'] === item.etag) return;
        const replacing = existing !== undefined;
        const version = deps.catalog.manifest(item.model)?.version ?? '';
        const obj = await deps.store.get(item.key);
        if (!obj) {
          // Stamped 'missing', so the same bytes uploaded again are not taken as already answered.
          const gone = { ...item, etag: 'missing' };
          await storeResult(deps, errorResult(gone, { name: item.model, version }, { code: 'OBJECT_NOT_FOUND', statusCode: 404, message: `${item.key} no longer exists` }, now(deps)), replacing);
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
  const byModel = new Map<string, typeof todo>();
  for (const t of todo) byModel.set(t.item.model, [...(byModel.get(t.item.model) ?? []), t]);
  for (const [model, group] of byModel) {
    let results: Awaited<ReturnType<typeof classifyImages>>;
    try {
      results = await classifyImages(deps, group.map((g) => g.bytes), { model, topK: group[0]?.item.topK, priority: 'background' });
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
                predictions: r.value.predictions,
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

/** GET /jobs/{id}: status and counts, from the item markers, the result records and the failure markers. */
export async function jobReport(deps: JobReadDeps, jobId: string): Promise<JobReport> {
  const job = await readJob(deps, jobId);
  if (!job) throw new NotFoundError('JOB_NOT_FOUND', `no job "${jobId}"`);
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

