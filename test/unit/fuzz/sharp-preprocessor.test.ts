import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import sharp from 'sharp';
import { SharpPreprocessor } from '../../../src/adapters/sharp-preprocessor';
import { parseConfig } from '../../../src/config';
import { isAppError } from '../../../src/core/errors';
import { validateManifest } from '../../../src/core/manifest';
import { preprocessSpecOf } from '../../../src/core/model';
import { MODELS_DIR } from '../../fixtures/paths';
import { budget, escapes, mutate, mutationArb } from '../../hostile/fuzz';
import { truncated } from '../../hostile/images';
import { seed, seedNames } from '../../hostile/seeds';

// Issue 11: property-based fuzzing of the preprocessor with random bytes and mutated real photos. Every input is
// either prepared (224×224 RGB) or refused with one of our 4xx errors; never another error (a 5xx), never a hang.

const manifestPath = path.join(MODELS_DIR, 'mobilenetv2-int8', 'model.json');
const spec = preprocessSpecOf(validateManifest(JSON.parse(readFileSync(manifestPath, 'utf8')), manifestPath));
const preprocessor = new SharpPreprocessor({ maxPixels: parseConfig({}).limits.maxPixels, concurrency: 1 });

type Verdict = { ok: true } | { ok: false; code: string };

async function verdictOf(bytes: Uint8Array): Promise<Verdict> {
  try {
    const px = await preprocessor.prepare(bytes, spec);
    expect(px.rgb.length).toBe(spec.width * spec.height * 3);
    return { ok: true };
  } catch (err: unknown) {
    if (isAppError(err) && err.statusCode >= 400 && err.statusCode < 500) return { ok: false, code: err.code };
    throw new Error(`prepare threw what would be a 5xx: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
  }
}

/**
 * Seeds kept small (longest side 160) so that a run decodes in milliseconds: the real photos re-encoded in every
 * format the service takes, plus one photo as it is.
 */
let seeds: Buffer[] = [];
let jpegSeeds: Buffer[] = [];

beforeAll(async () => {
  const small = await Promise.all(seedNames().map((n) => sharp(seed(n)).resize(160, 160, { fit: 'inside' }).toBuffer()));
  const encodings = await Promise.all(
    small.flatMap((s, i) => [
      sharp(s)
        .jpeg({ quality: 80, progressive: i % 2 === 0 })
        .toBuffer(),
      sharp(s).png().toBuffer(),
      sharp(s).webp().toBuffer(),
      sharp(s).gif().toBuffer(),
      sharp(s).tiff().toBuffer(),
    ]),
  );
  // Baseline JPEGs only: a progressive one cut inside a later scan can still be a complete file to libjpeg (it decodes
  // it, at lower quality, without a warning), so no decoder strictness can tell it was cut.
  jpegSeeds = await Promise.all(small.map((s) => sharp(s).jpeg({ quality: 80 }).toBuffer()));
  seeds = [...encodings, seed('goldfish.jpg')];
}, 30_000);

describe('SharpPreprocessor under fuzzing', () => {
  it('random bytes (with and without an image signature): prepared or a 4xx, never a 5xx, a hang or an escaped error', async () => {
    const magic = fc.constantFrom(
      Buffer.alloc(0),
      Buffer.from([0xff, 0xd8, 0xff]),
      Buffer.from('89504e470d0a1a0a', 'hex'),
      Buffer.from('GIF89a'),
      Buffer.from('RIFF\0\0\0\0WEBPVP8 '),
      Buffer.from('II*\0'),
      Buffer.from('<svg xmlns="http://www.w3.org/2000/svg">'),
    );
    const escaped = await escapes(() =>
      fc.assert(
        fc.asyncProperty(magic, fc.uint8Array({ maxLength: 4096 }), async (head, rest) => {
          await verdictOf(Buffer.concat([head, rest]));
        }),
        budget(600, { perRunMs: 5000, budgetMs: 10_000 }),
      ),
    );
    expect(escaped).toEqual([]);
  }, 40_000);

  it('mutated real photos (bit flips, overwrites, insertions, cuts, splices): prepared or a 4xx, never a 5xx or a hang', async () => {
    const escaped = await escapes(() =>
      fc.assert(
        fc.asyncProperty(
          fc.nat(),
          fc.array(mutationArb, { minLength: 1, maxLength: 6 }),
          fc.option(fc.tuple(fc.nat(), fc.nat(), fc.nat()), { nil: undefined }),
          async (which, mutations, splice) => {
            let bytes = mutate(seeds[which % seeds.length] ?? Buffer.alloc(0), mutations);
            if (splice) {
              // The head of one photo on the tail of another: headers that describe other pixels.
              const other = seeds[splice[0] % seeds.length] ?? Buffer.alloc(0);
              bytes = Buffer.concat([bytes.subarray(0, splice[1] % (bytes.length + 1)), other.subarray(splice[2] % (other.length + 1))]);
            }
            await verdictOf(bytes);
          },
        ),
        budget(800, { perRunMs: 5000, budgetMs: 15_000 }),
      ),
    );
    expect(escaped).toEqual([]);
  }, 40_000);

  it('a baseline JPEG cut short and closed with FFD9 is refused as INVALID_IMAGE, never classified (defect 9)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.double({ min: 0.2, max: 0.9, noNaN: true }), async (which, fraction) => {
        const photo = jpegSeeds[which % jpegSeeds.length] ?? Buffer.alloc(0);
        expect(await verdictOf(truncated(photo, fraction, true))).toEqual({ ok: false, code: 'INVALID_IMAGE' });
      }),
      budget(100, { perRunMs: 5000, budgetMs: 8000 }),
    );
  }, 30_000);
});
