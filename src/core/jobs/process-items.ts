import { classifyImages, type Outcome } from '../classify';
import { type AppError, ObjectNotFoundError, PayloadTooLargeError } from '../errors';
import { type EarlierAnswer, errorRecord, storeResult } from './answer';
import { type JobDeps, now } from './deps';
import { itemAsMarked } from './item-marker';
import type { ObjectHead } from './ports';
import { isValidJobId, itemIdOf, keys, type ResultRecord, type WorkItem } from './records';

/** The SQS worker. */
export type WorkerDeps = Pick<JobDeps, 'store' | 'catalog' | 'engine' | 'limits' | 'now'>;

/** What became of one work item: answered (undefined), dropped as untrusted, or a transient error to retry. */
export type ItemOutcome = undefined | { dropped: string } | Error;

/** Errors that retrying will not fix: the image itself is bad. */
const permanent = (err: AppError) => err.statusCode >= 400 && err.statusCode < 500;

/**
 * Why the worker must not act on an item, if so: a queue message is only a claim, and a forged one could
 * otherwise read any object in the bucket and write a result into any job. Trusted are items of this bucket,
 * whose id is their key's, whose key lies in their job's uploads, and whose item marker (written by ingest
 * before it queues) names that key and etag ({@link itemAsMarked}). The marker costs one GET per item, in parallel
 * with the lookups of an earlier answer.
 */
function untrustedClaim(deps: Pick<JobDeps, 'store'>, item: WorkItem): string | undefined {
  if (item.bucket !== deps.store.bucket) return 'it names another bucket';
  if (!isValidJobId(item.jobId) || !item.key.startsWith(keys.uploadPrefix(item.jobId))) return "its key lies outside its job's uploads";
  if (item.itemId !== itemIdOf(item.bucket, item.key)) return "its item id is not its key's";
  return undefined;
}

/** An item to answer: as its marker has it, and the bytes read for it, or why there are none to classify. */
interface Answerable {
  item: WorkItem;
  /** That of the bytes actually read (a newer upload may have replaced the one the message announced), or `missing`. */
  etag: string;
  earlier: EarlierAnswer;
  image: Uint8Array | AppError;
}

const isAnswerable = (p: Answerable | ItemOutcome): p is Answerable => p !== undefined && 'item' in p;

/**
 * Whether the image is answered for the bytes `etag`: its record is for them, and its failure marker agrees with
 * it. They disagree after an attempt that failed between its two writes (see {@link storeResult}) and was then
 * overtaken by one with another verdict; the image is answered again, which puts them right.
 */
function answered(record: ObjectHead | undefined, failedMarker: ObjectHead | undefined, etag: string): boolean {
  if (record?.metadata['source-etag'] !== etag) return false;
  const ok = record.metadata.ok;
  return ok === undefined || (ok === 'true') === (failedMarker === undefined);
}

/** Trusts, looks up and reads one item: an {@link Answerable}, or its outcome already (dropped, or answered before). */
async function prepare(deps: WorkerDeps, claimed: WorkItem): Promise<Answerable | ItemOutcome> {
  const claim = untrustedClaim(deps, claimed);
  if (claim) return { dropped: claim };
  const [marked, record, failedMarker] = await Promise.all([
    itemAsMarked(deps, claimed),
    claimed.fresh ? undefined : deps.store.head(keys.result(claimed.jobId, claimed.itemId)),
    claimed.fresh ? undefined : deps.store.head(keys.failedMarker(claimed.jobId, claimed.itemId)),
  ]);
  if ('dropped' in marked) return marked;
  const item = marked;
  if (answered(record, failedMarker, item.etag)) return undefined;
  const earlier = { record: record !== undefined, failedMarker: failedMarker !== undefined };
  const obj = await deps.store.get(item.key);
  if (!obj) {
    // Answered as gone already: a redelivery leaves that record be, so the job's revision does not move.
    if (answered(record, failedMarker, 'missing')) return undefined;
    // Stamped 'missing', so the same bytes uploaded again are not taken as already answered.
    return { item, etag: 'missing', earlier, image: new ObjectNotFoundError(`${item.key} no longer exists`) };
  }
  if (obj.body.length > deps.limits.maxImageBytes) {
    return { item, etag: obj.etag, earlier, image: new PayloadTooLargeError(`${obj.body.length} bytes, over ${deps.limits.maxImageBytes}`) };
  }
  return { item, etag: obj.etag, earlier, image: obj.body };
}

/**
 * Each item's classification: one engine call per model, so the images of a batch of messages share the pool (and a
 * tensor where the model batches); the calls go one after another, as the engine expects of one invocation. Their
 * jobs may ask for different topK: the call asks for the largest, and each record keeps its own. An item with no
 * bytes to classify has its error as its outcome. A call that fails rejects the classification of each of its items.
 */
function classifyByModel(deps: WorkerDeps, answerable: readonly Answerable[]): Map<Answerable, Promise<Outcome>> {
  const out = new Map<Answerable, Promise<Outcome>>();
  const byModel = new Map<string, Array<{ a: Answerable; image: Uint8Array }>>();
  for (const a of answerable) {
    if (a.image instanceof Uint8Array) byModel.set(a.item.model, [...(byModel.get(a.item.model) ?? []), { a, image: a.image }]);
    else out.set(a, Promise.resolve({ ok: false, error: a.image }));
  }
  let previous: Promise<unknown> = Promise.resolve();
  for (const [model, group] of byModel) {
    const topK = Math.max(...group.map((g) => g.a.item.topK));
    const call = previous.then(() =>
      classifyImages(
        deps,
        group.map((g) => g.image),
        { model, topK, priority: 'background' },
      ),
    );
    previous = call.catch(() => undefined);
    group.forEach(({ a }, j) => {
      out.set(
        a,
        call.then((results) => {
          const r = results[j];
          if (!r) throw new Error('missing classification');
          return r;
        }),
      );
    });
  }
  return out;
}

/** Stores an item's record, from its classification; a transient error (the engine's, or a store's) throws. */
async function answer(deps: WorkerDeps, a: Answerable, classification: Promise<Outcome> | undefined): Promise<undefined> {
  const r = await (classification ?? Promise.reject(new Error('missing classification')));
  if (!r.ok && !permanent(r.error)) throw r.error;
  const image = { ...a.item, etag: a.etag };
  const record: ResultRecord = r.ok
    ? {
        jobId: image.jobId,
        itemId: image.itemId,
        key: image.key,
        etag: image.etag,
        model: r.value.model,
        ok: true,
        predictions: r.value.predictions.slice(0, image.topK),
        timings: r.value.timings,
        completedAt: now(deps).toISOString(),
      }
    : errorRecord(deps, image, r.error);
  await storeResult(deps, record, a.earlier);
  return undefined;
}

/**
 * The one place the worker catches: whatever a step of an item throws is that item's outcome, a transient error that
 * has its message retried. The other items of the batch go on.
 */
async function retriedOnThrow<T>(step: () => Promise<T>): Promise<T | Error> {
  try {
    return await step();
  } catch (err: unknown) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

/**
 * The SQS worker's use case: classifies a micro-batch of queued images in one engine call and stores one
 * result or error record per image. Items ingest did not queue are dropped unread (see {@link untrustedClaim}).
 * Already-answered images (same key and etag, see {@link answered}) are skipped; `fresh` items (see {@link WorkItem})
 * are known to have no answer yet, which spares the lookups of one, never the trust check. Returns each item's
 * {@link ItemOutcome}.
 */
export async function processItems(deps: WorkerDeps, items: readonly WorkItem[]): Promise<ItemOutcome[]> {
  const prepared = await Promise.all(items.map((item) => retriedOnThrow(() => prepare(deps, item))));
  const classified = classifyByModel(deps, prepared.filter(isAnswerable));
  // Each answer awaits its classification first, so a failed engine call is never an unhandled rejection.
  return Promise.all(prepared.map((p) => (isAnswerable(p) ? retriedOnThrow(() => answer(deps, p, classified.get(p))) : p)));
}

/**
 * A micro-batch as it arrives: each message's outcome, in the order of the messages. A message that is not a work
 * item is its own error (retried, it ends in the DLQ for an operator to see); the others take their item's outcome
 * by position. Never by item id: one batch may carry two messages for the same image, a stale one (dropped) and
 * the current one (retried), and settling both by one id would acknowledge the one that must come back.
 */
export async function processMessages(deps: WorkerDeps, messages: readonly (WorkItem | Error)[]): Promise<ItemOutcome[]> {
  const outcomes = await processItems(
    deps,
    messages.filter((m): m is WorkItem => !(m instanceof Error)),
  );
  let next = 0;
  return messages.map((m) => (m instanceof Error ? m : outcomes[next++]));
}
