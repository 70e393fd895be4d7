import { crc32, deflateRawSync } from 'node:zlib';

/** Deflated bytes with the size and CRC of what they inflate to, to reuse across many entries. */
export interface Deflated {
  bytes: Uint8Array;
  size: number;
  crc: number;
}

export const deflated = (data: Uint8Array): Deflated => ({ bytes: deflateRawSync(data), size: data.length, crc: crc32(data) });

export interface EntrySpec {
  name: string | Buffer;
  /** The content, stored (method 0) or deflated (8, the default). */
  data?: Uint8Array;
  /** Content already deflated; then `method` is 8. */
  raw?: Deflated;
  method?: 0 | 8;
  /** What the headers claim the entry inflates to, in place of the truth: a lying header. */
  declaredSize?: number;
  /** General-purpose flags; bit 11 (UTF-8 names) is always set. */
  flags?: number;
}

/**
 * A zip written by hand, entry by entry, so that a test can make it lie (declared sizes, flags, names no zip tool
 * would write) where fflate's zipSync would only write honest archives.
 */
export function buildZip(entries: readonly EntrySpec[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = typeof e.name === 'string' ? Buffer.from(e.name, 'utf8') : e.name;
    const method = e.raw ? 8 : (e.method ?? 8);
    const content = e.data ?? new Uint8Array();
    const body = e.raw ? e.raw.bytes : method === 8 ? deflateRawSync(content) : content;
    const crc = e.raw ? e.raw.crc : crc32(content);
    const size = e.declaredSize ?? (e.raw ? e.raw.size : content.length);
    const flags = (e.flags ?? 0) | 0x800;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(flags, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, Buffer.from(body.buffer, body.byteOffset, body.byteLength));
    centrals.push(central, name);
    offset += 30 + name.length + body.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(Math.min(entries.length, 0xffff), 8);
  end.writeUInt16LE(Math.min(entries.length, 0xffff), 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}
