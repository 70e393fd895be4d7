import { DEFAULT_TOP_K, MAX_TOP_K } from '../classify';
import type { ObjectStore } from './ports';
import { itemIdOf, type Job, keys, type WorkItem } from './records';

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

/** Counts `key` (with the bytes `etag`) as an image of `job`, and gives the work item that answers it. */
export async function registerImage(deps: { store: ObjectStore }, job: Job, key: string, etag: string): Promise<WorkItem> {
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
 * The item as its marker has it (see {@link ItemMarker}): its model and topK are the marker's, not the message's. Or
 * why the message is not acted on: no marker, a marker for another key, or for other bytes than the message claims.
 * A re-upload rewrites its key's marker before it queues a message of its own, so a message for other bytes is stale
 * (or forged), and the message the marker names is the one that answers the image. A marker of an older version
 * (key and etag only) leaves the message's model and topK.
 */
export async function itemAsMarked(deps: { store: ObjectStore }, item: WorkItem): Promise<WorkItem | { dropped: string }> {
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
  const topK =
    [m.topK, item.topK].find((k): k is number => typeof k === 'number' && Number.isInteger(k) && k >= 1 && k <= MAX_TOP_K) ?? DEFAULT_TOP_K;
  return { ...item, model, topK };
}
