import type { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import { type Entry, fromBuffer, getFileNameLowLevel, validateFileName, type ZipFile } from 'yauzl';
import { InvalidArchiveEntryError, InvalidArchiveError, PayloadTooLargeError } from '../core/errors';
import type { ArchiveEntry } from '../core/jobs/ports';

/** What one archive may hold; see README "Batch path" for the defaults. */
export interface ZipLimits {
  /** Entries in its directory, directories included. */
  maxEntries: number;
  /** Sum of the sizes its directory declares for its file entries. */
  maxTotalBytes: number;
  /** Declared (and so, with yauzl's checks, actual) size of one entry: the image limit. */
  maxEntryBytes: number;
  /**
   * Inflated to compressed size of one entry, for entries over `ratioMinBytes` (small files compress freely); and of
   * the whole zip, its declared content to its own size (plus {@link RATIO_ALLOWANCE_BYTES}), whatever its entries' sizes.
   */
  maxRatio: number;
  ratioMinBytes: number;
}

/** Content any zip may declare beyond `maxRatio` times its own size: a small zip of a few small files is no bomb. */
export const RATIO_ALLOWANCE_BYTES = 1024 * 1024;

/**
 * Lists the file entries of a zip with yauzl; each entry's bytes are inflated only when read, one entry at a time.
 * A zip it cannot list (not a zip, a corrupt directory, encryption, too many entries, too many declared bytes in all
 * or for its own size) is an {@link InvalidArchiveError} before any entry is handed out; an entry it cannot extract
 * rejects its own `read()` with an {@link InvalidArchiveEntryError} (or a {@link PayloadTooLargeError} when over the
 * image limit).
 */
export async function listZip(zip: Uint8Array, limits: ZipLimits): Promise<ArchiveEntry[]> {
  const buf = Buffer.from(zip.buffer, zip.byteOffset, zip.byteLength);
  const file = await open(buf);
  if (file.entryCount > limits.maxEntries)
    throw new InvalidArchiveError(`the zip has ${file.entryCount} entries, over the limit of ${limits.maxEntries}`);
  const entries = await readDirectory(file);
  const out: ArchiveEntry[] = [];
  let total = 0;
  for (const entry of entries) {
    // decodeStrings is off: with it on, yauzl ends the whole archive at the first unsafe name; decoded here with
    // its own functions and rules instead, an unsafe name is that entry's problem alone.
    const name = getFileNameLowLevel(entry.generalPurposeBitFlag, entry.fileNameRaw, entry.extraFields, true);
    if (name.endsWith('/')) continue;
    if (entry.isEncrypted()) throw new InvalidArchiveError('the zip is encrypted');
    total += entry.uncompressedSize;
    if (total > limits.maxTotalBytes) throw new InvalidArchiveError(`the zip declares over ${limits.maxTotalBytes} bytes of content`);
    const unsafe = validateFileName(name);
    out.push({ name, ...(unsafe === null ? {} : { unsafeName: unsafeReason(unsafe) }), read: () => readEntry(file, entry, limits) });
  }
  // Entries under ratioMinBytes escape the per-entry ratio one by one; thousands of them must not escape it together.
  if (total > limits.maxRatio * zip.byteLength + RATIO_ALLOWANCE_BYTES) {
    throw new InvalidArchiveError(`the zip declares ${total} bytes of content, over ${limits.maxRatio} times its own ${zip.byteLength} bytes`);
  }
  // Not closed: a buffer-backed zip holds no descriptor, and its entries are read after this returns.
  return out;
}

function open(buf: Buffer): Promise<ZipFile> {
  return new Promise((resolve, reject) => {
    fromBuffer(buf, { lazyEntries: true, autoClose: false, decodeStrings: false, validateEntrySizes: true, strictFileNames: true }, (err, file) => {
      if (err)
        reject(
          new InvalidArchiveError(
            /signature not found/.test(err.message)
              ? 'not a zip archive (no end of central directory)'
              : 'corrupt zip archive (unreadable end of central directory)',
            { cause: err },
          ),
        );
      else resolve(file);
    });
  });
}

/** The whole directory first, so that a corrupt one fails the zip before any of its entries is extracted. */
function readDirectory(file: ZipFile): Promise<Entry[]> {
  return new Promise((resolve, reject) => {
    const entries: Entry[] = [];
    file.on('entry', (entry: Entry) => {
      entries.push(entry);
      file.readEntry();
    });
    file.on('end', () => resolve(entries));
    file.on('error', (err: Error) => reject(new InvalidArchiveError(directoryProblem(err), { cause: err })));
    file.readEntry();
  });
}

// yauzl's wording stays in `cause`, for the logs; the record says what is wrong in the uploader's terms.
const directoryProblem = (err: Error): string =>
  /stored file/.test(err.message)
    ? 'corrupt zip central directory (a stored entry whose sizes disagree)'
    : /encryption/.test(err.message)
      ? 'the zip is encrypted'
      : 'corrupt zip central directory (truncated or inconsistent offsets)';

const unsafeReason = (yauzlMessage: string): string =>
  yauzlMessage.startsWith('absolute path') ? 'an absolute path' : yauzlMessage.startsWith('invalid relative path') ? 'a ".." segment' : 'a backslash';

async function readEntry(file: ZipFile, entry: Entry, limits: ZipLimits): Promise<Uint8Array> {
  if (entry.uncompressedSize > limits.maxEntryBytes) {
    throw new PayloadTooLargeError(`the entry is ${entry.uncompressedSize} bytes, over the image limit of ${limits.maxEntryBytes}`);
  }
  if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) {
    throw new InvalidArchiveEntryError(`the entry uses compression method ${entry.compressionMethod}; only stored and deflated entries are read`);
  }
  const ratio = entry.uncompressedSize / Math.max(1, entry.compressedSize);
  if (entry.uncompressedSize > limits.ratioMinBytes && ratio > limits.maxRatio) {
    throw new InvalidArchiveEntryError(`the entry declares a compression ratio of ${Math.round(ratio)}:1, over the limit of ${limits.maxRatio}:1`);
  }
  const stream = await new Promise<Readable>((resolve, reject) => {
    file.openReadStream(entry, (err, s) =>
      err ? reject(new InvalidArchiveEntryError("the entry's local header is corrupt", { cause: err })) : resolve(s),
    );
  });
  const chunks: Buffer[] = [];
  let bytes = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      // yauzl already refuses more than the declared size; this bound holds whatever a future version does.
      if (bytes > entry.uncompressedSize) throw new Error('entry larger than declared');
      chunks.push(chunk);
    }
  } catch (err: unknown) {
    stream.destroy();
    const message = err instanceof Error ? err.message : String(err);
    throw new InvalidArchiveEntryError(
      /too many bytes|larger than declared/.test(message)
        ? `the entry inflates to more than the ${entry.uncompressedSize} bytes its header declares`
        : /not enough bytes/.test(message)
          ? `the entry inflates to fewer than the ${entry.uncompressedSize} bytes its header declares`
          : "the entry's compressed data is corrupt",
      { cause: err },
    );
  }
  const data = Buffer.concat(chunks, bytes);
  // yauzl does not check CRCs; a damaged entry is refused here rather than classified.
  if (crc32(data) !== entry.crc32) throw new InvalidArchiveEntryError("the entry's CRC-32 does not match its bytes");
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
