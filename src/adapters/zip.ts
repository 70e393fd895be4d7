import { inflateRawSync } from 'node:zlib';
import { BadRequestError } from '../core/errors';

/**
 * Reads the entries of a zip archive (stored or deflated) from its central directory.
 * Enough for image bundles from any common zip tool; zip64 and encryption are refused with a 400.
 */
export function unzip(zip: Uint8Array, maxEntryBytes = 50 * 1024 * 1024): Array<{ name: string; data: Uint8Array }> {
  const buf = Buffer.from(zip.buffer, zip.byteOffset, zip.byteLength);
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 65535); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new BadRequestError('not a zip archive (no end of central directory)');
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const out: Array<{ name: string; data: Uint8Array }> = [];
  for (let n = 0; n < count; n++) {
    if (buf.readUInt32LE(p) !== 0x02014b50) throw new BadRequestError('corrupt zip central directory');
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
    if (flags & 1) throw new BadRequestError(`zip entry ${name} is encrypted`);
    if (compressed === 0xffffffff || size === 0xffffffff) throw new BadRequestError('zip64 archives are not supported');
    if (size > maxEntryBytes) throw new BadRequestError(`zip entry ${name} is over ${maxEntryBytes} bytes`);
    const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    const raw = buf.subarray(start, start + compressed);
    const data = method === 0 ? raw : method === 8 ? inflateRawSync(raw) : undefined;
    if (!data) throw new BadRequestError(`zip entry ${name} uses unsupported compression ${method}`);
    out.push({ name, data: new Uint8Array(data) });
  }
  return out;
}
