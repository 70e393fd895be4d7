import { createHash } from 'node:crypto';
import { type AppError, InvalidArchiveEntryError, InvalidArchiveError, PayloadTooLargeError } from '../errors';
import { answerWithError } from './answer';
import { INGEST_IN_FLIGHT } from './deps';
import type { IngestDeps, IngestOutcome } from './ingest';
import { mapBounded } from './map-bounded';
import type { ArchiveEntry, ObjectHead } from './ports';
import { readUpload } from './read-upload';
import { type Job, keys } from './records';
import { keyProblem, MAX_KEY_BYTES, shortLabel } from './upload-keys';

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
export async function ingestZip(deps: IngestDeps, job: Job, upload: { key: string; head: ObjectHead }, name: string): Promise<IngestOutcome> {
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
    await answerWithError(deps, job, entryRecordKey(key, entry.name), archive.etag, error);
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
