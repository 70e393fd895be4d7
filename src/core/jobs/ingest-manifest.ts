import { type AppError, InvalidManifestError, InvalidManifestLineError, KeyOutsideJobError, ObjectNotFoundError } from '../errors';
import { answerWithError } from './answer';
import { INGEST_IN_FLIGHT } from './deps';
import type { IngestDeps, IngestOutcome } from './ingest';
import { registerImage } from './item-marker';
import { mapBounded } from './map-bounded';
import { parseManifest } from './parse-manifest';
import type { ObjectHead } from './ports';
import { readUpload } from './read-upload';
import { type Job, keys, type WorkItem } from './records';
import { keyProblem, MAX_KEY_BYTES, parseUploadKey, shortLabel } from './upload-keys';

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
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES)
    return new InvalidManifestLineError(`${quoted} makes a key over ${MAX_KEY_BYTES} bytes in ${prefix}`);
  if (parseUploadKey(key)?.kind !== 'image')
    return new InvalidManifestLineError(`${quoted} is no image key (ingest ignores it, or reads it as a zip or a manifest)`);
  return key;
}

/**
 * Queues the keys a manifest lists, looking them up {@link INGEST_IN_FLIGHT} at a time, and hands the queue them all at
 * once (it splits them into messages as its transport allows); a key listed twice is one image, queued once.
 * Each line that lists no usable key gets a record `<manifest key>#line <n>`.
 */
export async function ingestManifest(deps: IngestDeps, job: Job, upload: { key: string; head: ObjectHead }, name: string): Promise<IngestOutcome> {
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
        await answerWithError(deps, job, `${key}#line ${line.line}`, manifest.etag, target);
        return undefined;
      });
      refused += 1;
      continue;
    }
    if (listed.has(target)) continue;
    listed.add(target);
    steps.push(async () => {
      const head = await deps.store.head(target);
      if (head) return registerImage(deps, job, target, head.etag);
      // Counted and answered at once: a listed key that does not exist is that image's error record.
      await answerWithError(deps, job, target, 'missing', new ObjectNotFoundError(`s3://${deps.store.bucket}/${target} does not exist`));
      return undefined;
    });
  }
  const items = (await mapBounded(steps, inFlight, (step) => step())).filter((i): i is WorkItem => i !== undefined);
  if (items.length > 0) await deps.queue.send(items);
  return { kind: 'manifest', queued: items.length, refused };
}
