import { publicError } from '../errors';
import { type JobDeps, now } from './deps';
import { registerImage } from './item-marker';
import { type Job, keys, type ResultRecord, type WorkItem } from './records';

/** The image a record answers: which item, and the bytes (etag) and model it was answered for. */
type Answered = Pick<WorkItem, 'jobId' | 'itemId' | 'key' | 'etag' | 'model'>;

/**
 * The record of an image that will never get predictions, from the error that says why: the one place an error
 * record is built, for ingest and the worker alike.
 */
export function errorRecord(deps: Pick<JobDeps, 'catalog' | 'now'>, image: Answered, error: unknown): ResultRecord {
  // What a client may read of it: records are downloaded by the uploader, so nothing internal goes in them.
  const { code, message } = publicError(error);
  return {
    jobId: image.jobId,
    itemId: image.itemId,
    key: image.key,
    etag: image.etag,
    model: { name: image.model, version: deps.catalog.manifest(image.model)?.version ?? '' },
    ok: false,
    error: { code, message },
    completedAt: now(deps).toISOString(),
  };
}

/** What the caller saw of an image's earlier answer: a record, and a failure marker. */
export interface EarlierAnswer {
  record?: boolean;
  failedMarker?: boolean;
}

/**
 * Stores an image's record. The record itself counts the image as answered; a failure also leaves a marker,
 * written first so that a failed image is never counted as done, even for a moment. Unless the caller saw an
 * earlier record, the record is only created: if one exists after all (another message for the same key got
 * there first, with other bytes or before an upload was repeated), this is a replacement too. A success removes
 * the failure marker of a record it replaces, and one the caller saw without a record (an attempt that failed
 * between the two writes).
 */
export async function storeResult(deps: Pick<JobDeps, 'store'>, record: ResultRecord, earlier: EarlierAnswer = {}): Promise<void> {
  const failedMarker = keys.failedMarker(record.jobId, record.itemId);
  if (!record.ok) await deps.store.put(failedMarker, '');
  const key = keys.result(record.jobId, record.itemId);
  const body = JSON.stringify(record);
  const options = { contentType: 'application/json', metadata: { 'source-etag': record.etag, ok: String(record.ok) } };
  const created = !earlier.record && (await deps.store.create(key, body, options));
  if (!created) await deps.store.put(key, body, options);
  // A re-uploaded image that now succeeds must not count as failed too.
  if (record.ok && (!created || earlier.failedMarker)) await deps.store.delete(failedMarker);
}

/**
 * Counts `key` as an image of the job and answers it at once with an error record. A repeated event finds the
 * record it stored for the same bytes and leaves it be, so the job's revision does not move either.
 */
export async function answerWithError(
  deps: Pick<JobDeps, 'store' | 'catalog' | 'now'>,
  job: Job,
  key: string,
  etag: string,
  error: unknown,
): Promise<void> {
  const item = await registerImage(deps, job, key, etag);
  const existing = item.fresh ? undefined : await deps.store.head(keys.result(job.jobId, item.itemId));
  if (existing?.metadata['source-etag'] === etag) return;
  await storeResult(deps, errorRecord(deps, item, error), { record: existing !== undefined });
}
