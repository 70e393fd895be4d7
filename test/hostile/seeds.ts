import { readFileSync } from 'node:fs';
import { EXPECTED_TOP5 } from '../../src/tools/bench/reference-top5';
import { prng } from '../../src/tools/load/photo-variants';
import { photoNames, photoPath } from '../fixtures/paths';

/** The model every hostile case is classified with: the service's default. */
export const DEFAULT_MODEL = 'mobilenetv2-int8';

/** The real photos the generators mutate, keyed by file name. */
export const seedNames = (): string[] => photoNames();
export const seed = (name: string): Buffer => readFileSync(photoPath(name));
export const seedType = (name: string): string => (name.endsWith('.png') ? 'image/png' : 'image/jpeg');
/** Top-1 ImageNet index of a seed photo, from the models' SOURCE.md tables (ground truth from outside the service). */
export const seedTop1 = (name: string): number | undefined => EXPECTED_TOP5[DEFAULT_MODEL]?.[name]?.[0]?.index;

/**
 * Percentage points by which a seed's top-1 leads its runner-up (SOURCE.md). Under about 10 the top-1 is a coin toss
 * that re-encoding noise alone flips (cat_224x224: 18.0 % against 14.2 %, flipped by a mean 0.3 grey-level change).
 */
export const seedMargin = (name: string): number => {
  const [first, second] = EXPECTED_TOP5[DEFAULT_MODEL]?.[name] ?? [];
  return (first?.percent ?? 0) - (second?.percent ?? 0);
};
export const ROBUST_MARGIN = 10;

/**
 * Memoises an async builder: cases are listed synchronously (Jest needs the names up front) and their bytes are
 * built on first use, once, even if the batch and the sync corpus both ask.
 */
export function lazy<T>(build: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () => {
    value ??= build();
    return value;
  };
}

export { prng };

export function randomBytes(length: number, seedValue: number): Buffer {
  const next = prng(seedValue);
  const out = Buffer.alloc(length + 3);
  for (let i = 0; i < length; i += 4) out.writeUInt32LE(Math.floor(next() * 4294967296), i);
  return out.subarray(0, length);
}
