import { createHash, type Hash } from 'node:crypto';
import { crc32 } from 'node:zlib';

/** The flexible-checksum algorithms S3 accepts, as named in `x-amz-checksum-<name>` headers. */
export const CHECKSUM_ALGORITHMS = ['crc32', 'crc32c', 'crc64nvme', 'sha1', 'sha256'] as const;
export type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number];

/** Incremental digest producing S3's wire format: base64 of the big-endian checksum bytes. */
export interface Digest {
  update(chunk: Buffer): void;
  digest(): string;
}

/** Narrows a header-derived name (any case) to a supported algorithm. */
export function parseChecksumAlgorithm(name: string): ChecksumAlgorithm | undefined {
  const lower = name.toLowerCase();
  return (CHECKSUM_ALGORITHMS as readonly string[]).includes(lower) ? (lower as ChecksumAlgorithm) : undefined;
}

/** S3's spelling of the algorithm in XML and `x-amz-checksum-algorithm` (CRC32, SHA256, ...). */
export function algorithmLabel(algorithm: ChecksumAlgorithm): string {
  return algorithm.toUpperCase();
}

/** Creates an incremental digest for one algorithm. */
export function createDigest(algorithm: ChecksumAlgorithm): Digest {
  switch (algorithm) {
    case 'crc32':
      return crcDigest(4, (chunk, prev) => BigInt(crc32(chunk, Number(prev))), 0n);
    case 'crc32c':
      return crcDigest(4, crc32cUpdate, 0n);
    case 'crc64nvme':
      return crcDigest(8, crc64NvmeUpdate, 0n);
    case 'sha1':
    case 'sha256':
      return hashDigest(createHash(algorithm));
  }
}

/** One-shot convenience over {@link createDigest}. */
export function checksumOf(algorithm: ChecksumAlgorithm, data: Buffer): string {
  const digest = createDigest(algorithm);
  digest.update(data);
  return digest.digest();
}

function hashDigest(hash: Hash): Digest {
  return { update: (chunk) => hash.update(chunk), digest: () => hash.digest('base64') };
}

function crcDigest(bytes: 4 | 8, update: (chunk: Buffer, prev: bigint) => bigint, initial: bigint): Digest {
  let value = initial;
  return {
    update: (chunk) => {
      value = update(chunk, value);
    },
    digest: () => {
      const out = Buffer.alloc(bytes);
      if (bytes === 4) out.writeUInt32BE(Number(value));
      else out.writeBigUInt64BE(value);
      return out.toString('base64');
    },
  };
}

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32cUpdate(chunk: Buffer, prev: bigint): bigint {
  let crc = ~Number(prev) >>> 0;
  for (const byte of chunk) crc = ((CRC32C_TABLE[(crc ^ byte) & 0xff] ?? 0) ^ (crc >>> 8)) >>> 0;
  return BigInt(~crc >>> 0);
}

const MASK64 = 0xffffffffffffffffn;

// Split into two 32-bit halves so the per-byte loop stays in fast Number arithmetic instead of BigInt.
const CRC64_TABLE = (() => {
  const hi = new Uint32Array(256);
  const lo = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = BigInt(n);
    for (let k = 0; k < 8; k++) c = c & 1n ? 0x9a6c9329ac4bc9b5n ^ (c >> 1n) : c >> 1n;
    hi[n] = Number(c >> 32n);
    lo[n] = Number(c & 0xffffffffn);
  }
  return { hi, lo };
})();

function crc64NvmeUpdate(chunk: Buffer, prev: bigint): bigint {
  const start = ~prev & MASK64;
  let hi = Number(start >> 32n);
  let lo = Number(start & 0xffffffffn);
  for (const byte of chunk) {
    const index = (lo ^ byte) & 0xff;
    // 64-bit right shift by 8 across the two halves, then xor the table entry.
    const shiftedLo = ((lo >>> 8) | ((hi & 0xff) << 24)) >>> 0;
    const shiftedHi = hi >>> 8;
    hi = ((CRC64_TABLE.hi[index] ?? 0) ^ shiftedHi) >>> 0;
    lo = ((CRC64_TABLE.lo[index] ?? 0) ^ shiftedLo) >>> 0;
  }
  return ~((BigInt(hi) << 32n) | BigInt(lo)) & MASK64;
}
