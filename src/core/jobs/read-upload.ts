import { type AppError, InvalidArchiveError, InvalidManifestError } from '../errors';
import { answerWithError } from './answer';
import type { IngestDeps } from './ingest';
import type { ObjectHead } from './ports';
import { itemIdOf, type Job, keys } from './records';

/**
 * A zip or manifest that parses, uploaded over one that did not: its key is no image, so the error record
 * (and the item it was counted as) goes. The record first, so that nothing is ever counted done that is not; the
 * item last, so that a withdrawal cut short (or an error record never written after its item) is finished by the
 * next event for the key.
 */
async function withdrawUploadError(deps: IngestDeps, jobId: string, key: string): Promise<void> {
  const itemId = itemIdOf(deps.store.bucket, key);
  if (!(await deps.store.head(keys.item(jobId, itemId)))) return;
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
export async function readUpload<T>(
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
    await answerWithError(deps, job, key, etag, err);
    return { rejected: err.code };
  }
  await withdrawUploadError(deps, job.jobId, key);
  return { content, etag };
}
