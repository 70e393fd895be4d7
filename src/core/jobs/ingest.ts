import { DEFAULT_TOP_K } from '../classify';
import { JobUnreadableError, ObjectNotFoundError } from '../errors';
import { answerWithError } from './answer';
import { type JobDeps, now } from './deps';
import { ingestManifest } from './ingest-manifest';
import { ingestZip } from './ingest-zip';
import { registerImage } from './item-marker';
import { itemIdOf, type Job, keys, parseJobRecord } from './records';
import { parseUploadKey } from './upload-keys';

/** S3 ObjectCreated: no engine, no classification. */
export type IngestDeps = Pick<JobDeps, 'store' | 'catalog' | 'queue' | 'unzip' | 'ingestLimits' | 'jobs' | 'now'>;

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

const JOBS_REMEMBERED = 1000;

/** The record of a job its first upload creates: the default model and topK, nothing announced, no owner. */
const implicitJob = (deps: IngestDeps, jobId: string): Job => ({
  jobId,
  model: deps.catalog.defaultModel,
  topK: DEFAULT_TOP_K,
  createdAt: now(deps).toISOString(),
  announced: 0,
  explicit: false,
});

/** The job of an upload; one created by its first upload gets the default model. */
async function ensureJob(deps: IngestDeps, jobId: string): Promise<Job> {
  const known = deps.jobs?.get(jobId);
  if (known) return known;
  const obj = await deps.store.get(keys.job(jobId));
  let job = obj ? parseJobRecord(jobId, obj.body) : undefined;
  if (!job) {
    job = implicitJob(deps, jobId);
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
 * An event for an object that is not there. Counted by an earlier attempt (its item marker written, its message
 * perhaps never sent: the attempt died in between) and deleted before this retry, it is answered as gone, or its
 * job would wait for it forever; never counted, it is ignored.
 */
async function answerGone(deps: IngestDeps, jobId: string, key: string): Promise<IngestOutcome> {
  if (!(await deps.store.head(keys.item(jobId, itemIdOf(deps.store.bucket, key))))) return { kind: 'missing', queued: 0 };
  const job = await ensureJob(deps, jobId).catch((err: unknown) => {
    if (err instanceof JobUnreadableError) return implicitJob(deps, jobId);
    throw err;
  });
  await answerWithError(deps, job, key, 'missing', new ObjectNotFoundError(`s3://${deps.store.bucket}/${key} does not exist`));
  return { kind: 'missing', queued: 0, rejected: 'OBJECT_NOT_FOUND' };
}

/**
 * S3 ObjectCreated under uploads/: registers each image of a job and queues it. A zip is expanded into
 * images under uploads/ (each then arrives here on its own); a manifest queues the keys it lists. A zip or
 * manifest whose content cannot be parsed becomes one error record for its own key (`rejected` says which
 * code) rather than a throw: a retry would read the same bytes. So does any upload of a job whose record is
 * unreadable (JOB_UNREADABLE). A bad zip entry or manifest line gets an error record of its own, and the rest
 * goes ahead. Failures to reach S3 or SQS still throw. The event's `etag` is not trusted: the object's own is used,
 * from a HEAD, and an event for an object that is not there is ignored (kind `missing`), unless an earlier attempt
 * counted it (see {@link answerGone}).
 */
export async function ingestUpload(deps: IngestDeps, upload: { key: string; etag?: string }): Promise<IngestOutcome> {
  const parsed = parseUploadKey(upload.key);
  if (!parsed) return { kind: 'ignored', queued: 0 };
  // An event is only a claim (a forged one could name an image not uploaded yet, and fail it): what ingests is the
  // object as it is now, with its own ETag. One that is not there was never uploaded or is gone: nothing to count,
  // unless an earlier attempt counted it.
  const head = await deps.store.head(upload.key);
  if (!head) return answerGone(deps, parsed.jobId, upload.key);
  let job: Job;
  try {
    job = await ensureJob(deps, parsed.jobId);
  } catch (err: unknown) {
    if (!(err instanceof JobUnreadableError)) throw err;
    // A retry would read the same record. Answered instead, the upload is counted; GET /jobs/<id> says why.
    await answerWithError(deps, implicitJob(deps, parsed.jobId), upload.key, head.etag, err);
    return { kind: parsed.kind, queued: 0, rejected: err.code };
  }
  if (parsed.kind === 'image') {
    const item = await registerImage(deps, job, upload.key, head.etag);
    await deps.queue.send([item]);
    return { kind: 'image', queued: 1 };
  }
  const stored = { key: upload.key, head };
  return parsed.kind === 'zip' ? ingestZip(deps, job, stored, parsed.name) : ingestManifest(deps, job, stored, parsed.name);
}
