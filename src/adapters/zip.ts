import { inflateRawSync } from 'node:zlib';
import { InvalidArchiveError } from '../core/errors';

/**
 * Reads the entries of a zip archive (stored or deflated) from its central directory.
 * Enough for image bundles from any common zip tool; anything it cannot read (corrupt or truncated bytes,
 * zip64, encryption, an entry over `maxEntryBytes`) is an {@link InvalidArchiveError}, never another error.
 */
export function unzip(zip: Uint8Array, maxEntryBytes = 50 * 1024 * 1024): Array<{ name: string; data: Uint8Array }> {
  try {
    return readEntries(Buffer.from(zip.buffer, zip.byteOffset, zip.byteLength), maxEntryBytes);
  } catch (err: unknown) {
    if (err instanceof InvalidArchiveError) throw err;
    // A pure function of the bytes: whatever else fails here (an offset past the end, a bad deflate stream)
    // fails again on every retry, so it is the archive's fault. Node's wording stays in `cause`, for the logs.
    throw new InvalidArchiveError('corrupt zip archive (truncated or inconsistent offsets)', { cause: err });
  }
}

function readEntries(buf: Buffer, maxEntryBytes: number): Array<{ name: string; data: Uint8Array }> {
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 65535); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new InvalidArchiveError('not a zip archive (no end of central directory)');
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const out: Array<{ name: string; data: Uint8Array }> = [];
  for (let n = 0; n < count; n++) {
    if (buf.readUInt32LE(p) !== 0x02014b50) throw new InvalidArchiveError('corrupt zip central directory');
    const flags = buf.readUInt16LE(p + 8);
    const method = buf.readUInt16LE(p + 10);
    const compressed = buf.readUInt32LE(p + 20);
    const size = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    const local = buf.readUInt32LE(p + 42);
    const name = buf.subarray(p + 46, p + 46 + nameLen).toString('utf8');
    p += 46 + nameLen + extraLen + commentLen;
    if (name.endsWith('/')) continue;
    if (flags & 1) throw new InvalidArchiveError(`zip entry ${name} is encrypted`);
    if (compressed === 0xffffffff || size === 0xffffffff) throw new InvalidArchiveError('zip64 archives are not supported');
    if (size > maxEntryBytes) throw new InvalidArchiveError(`zip entry ${name} is over ${maxEntryBytes} bytes`);
    const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    // subarray would silently cut a stored entry short.
    if (start + compressed > buf.length) throw new InvalidArchiveError(`zip entry ${name} is truncated`);
    const raw = buf.subarray(start, start + compressed);
    // The bound is on the output too: the declared size of an entry is only a claim (a zip bomb lies).
    const data = method === 0 ? raw : method === 8 ? inflate(raw, name, maxEntryBytes) : undefined;
    if (!data) throw new InvalidArchiveError(`zip entry ${name} uses unsupported compression ${method}`);
    out.push({ name, data: new Uint8Array(data) });
  }
  return out;
}

function inflate(raw: Buffer, name: string, maxEntryBytes: number): Buffer {
  try {
    return inflateRawSync(raw, { maxOutputLength: maxEntryBytes });
  } catch (err: unknown) {
    throw new InvalidArchiveError(`zip entry ${name} cannot be decompressed (corrupt or over ${maxEntryBytes} bytes)`, { cause: err });
  }
}
