import { crc32, deflateRawSync } from 'node:zlib';
import { buildZip } from '../unit/adapters/zip-builder';

/** An entry of a hand-built zip. `declaredSize` lies about the inflated size, as a zip bomb does. */
export interface ZipEntry {
  name: string;
  data: Buffer;
  method?: 0 | 8;
  declaredSize?: number;
  /** The deflated bytes and CRC of `data`, when the caller has them already (280 entries of the same 4 MB). */
  deflated?: { bytes: Buffer; crc: number };
}

/**
 * A zip archive written byte by byte (no zip library would write a lying size or a `../` name), with UTF-8 names,
 * stored or deflated entries and a central directory: the unit tests' builder, with this corpus's entry shape.
 */
export function zipOf(entries: readonly ZipEntry[]): Buffer {
  return buildZip(
    entries.map((e) => ({
      name: e.name,
      data: e.data,
      ...(e.method === undefined ? {} : { method: e.method }),
      ...(e.declaredSize === undefined ? {} : { declaredSize: e.declaredSize }),
      ...(e.deflated ? { raw: { bytes: e.deflated.bytes, size: e.data.length, crc: e.deflated.crc } } : {}),
    })),
  );
}

/** Issue 11 defect 2: one entry that says it is 1,000 bytes and inflates to `inflatedBytes` (110 MB by default). */
export function zipBomb(name = 'bomb.jpg', inflatedBytes = 110_000_000): Buffer {
  const data = Buffer.alloc(inflatedBytes);
  return zipOf([{ name, data, declaredSize: 1000, deflated: { bytes: deflateRawSync(data), crc: crc32(data) } }]);
}

/** Issue 11 defect 2: `count` honest entries of `entryBytes` each, every one under the per-entry limit, 1.1 GB in all. */
export function zipOfManyLarge(count = 280, entryBytes = 4_000_000): Buffer {
  const data = Buffer.alloc(entryBytes);
  const deflated = { bytes: deflateRawSync(data), crc: crc32(data) };
  return zipOf(Array.from({ length: count }, (_, i) => ({ name: `e${String(i).padStart(3, '0')}.jpg`, data, deflated })));
}
