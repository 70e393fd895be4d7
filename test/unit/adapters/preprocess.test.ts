import { readFileSync } from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import { SharpPreprocessor } from '../../../src/adapters/sharp-preprocessor';
import type { ModelManifest, PreprocessSpec } from '../../../src/core/model';
import { MODELS_DIR, photoNames, photoPath } from '../../fixtures/paths';

const manifest = JSON.parse(readFileSync(path.join(MODELS_DIR, 'mobilenetv2-int8', 'model.json'), 'utf8')) as ModelManifest;
const spec: PreprocessSpec = {
  width: manifest.input.width,
  height: manifest.input.height,
  shorterSide: manifest.resize.shorterSide,
  kernel: manifest.resize.kernel,
  ...manifest.normalize,
};
const preprocessor = new SharpPreprocessor({ maxPixels: 40_000_000 });
const photo = (name: string) => readFileSync(photoPath(name));
const jpegs = () => photoNames().filter((n) => /\.jpe?g$/i.test(n));

/** Offset of the JPEG's SOFn segment (its height and width follow at +5 and +7). */
function sofOffset(jpeg: Buffer): number {
  for (let at = 2; at + 4 < jpeg.length; at += 2 + jpeg.readUInt16BE(at + 2)) {
    const marker = jpeg[at + 1] ?? 0;
    if (jpeg[at] !== 0xff) break;
    if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) return at;
  }
  throw new Error('no SOF segment');
}

const pngChunk = (type: string, data: Buffer, crcDelta = 0) => {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  body.copy(out, 4);
  out.writeUInt32BE((crc32(body) + crcDelta) >>> 0, 8 + data.length);
  return out;
};

describe('SharpPreprocessor strictness (libvips failOn)', () => {
  it('decodes every test photo', async () => {
    for (const name of photoNames()) {
      const out = await preprocessor.prepare(photo(name), spec);
      expect({ name, bytes: out.rgb.length }).toEqual({ name, bytes: spec.width * spec.height * 3 });
    }
  });

  it('decodes re-encodings and the harmless oddities real files carry', async () => {
    const src = photo('bald_eagle.jpeg');
    const png = photo('orange.png');
    const eoi = Buffer.from([0xff, 0xd9]);
    const variants: Record<string, Buffer> = {
      webp: await sharp(src).webp().toBuffer(),
      gif: await sharp(src).gif().toBuffer(),
      tiff: await sharp(src).tiff().toBuffer(),
      avif: await sharp(src).avif({ effort: 0 }).toBuffer(),
      'grey png': await sharp(src).grayscale().png().toBuffer(),
      '16-bit png': await sharp(src).toColourspace('rgb16').png().toBuffer(),
      'palette png': await sharp(src).png({ palette: true }).toBuffer(),
      'EXIF-rotated jpeg': await sharp(src).rotate(90).withMetadata({ orientation: 8 }).jpeg().toBuffer(),
      'CMYK jpeg': await sharp(src).toColourspace('cmyk').jpeg().toBuffer(),
      'progressive jpeg': await sharp(src).jpeg({ progressive: true }).toBuffer(),
      'jpeg, padding before EOI': Buffer.concat([src.subarray(0, -2), Buffer.alloc(7, 0x55), eoi]),
      'jpeg, bytes after EOI': Buffer.concat([src, Buffer.alloc(100, 0x55)]),
      'png, bad CRC on a text chunk': Buffer.concat([
        png.subarray(0, 33),
        pngChunk('tEXt', Buffer.from('Comment\0hi', 'latin1'), 1),
        png.subarray(33),
      ]),
      'png, bytes after IEND': Buffer.concat([png, Buffer.alloc(50, 1)]),
    };
    for (const [what, bytes] of Object.entries(variants)) {
      await expect(preprocessor.prepare(bytes, spec).then(() => what)).resolves.toBe(what);
    }
  });

  it('refuses a JPEG cut in the middle that still ends with FFD9 (400 INVALID_IMAGE)', async () => {
    for (const name of jpegs()) {
      const jpeg = photo(name);
      const cut = Buffer.concat([jpeg.subarray(0, Math.floor(jpeg.length * 0.4)), jpeg.subarray(Math.floor(jpeg.length * 0.8))]);
      expect(cut.subarray(-2)).toEqual(Buffer.from([0xff, 0xd9]));
      const err = (await preprocessor.prepare(cut, spec).catch((e: unknown) => e)) as { code?: string; statusCode?: number };
      expect({ name, code: err.code, statusCode: err.statusCode }).toEqual({ name, code: 'INVALID_IMAGE', statusCode: 400 });
    }
  });

  it('refuses a few hundred bytes of JPEG whose header claims 6000×6000 (400 INVALID_IMAGE)', async () => {
    const tiny = await sharp(photo('rocket.jpg')).resize(8, 8).jpeg({ quality: 50 }).toBuffer();
    const liar = Buffer.from(tiny);
    const sof = sofOffset(liar);
    liar.writeUInt16BE(6000, sof + 5);
    liar.writeUInt16BE(6000, sof + 7);
    expect((await sharp(liar).metadata()).width).toBe(6000);
    expect(liar.length).toBeLessThan(400);
    await expect(preprocessor.prepare(liar, spec)).rejects.toMatchObject({ code: 'INVALID_IMAGE', statusCode: 400 });
    await expect(preprocessor.prepare(tiny, spec)).resolves.toMatchObject({ width: 8, height: 8 });
  });

  it('refuses a JPEG cut off below its center crop, its tail replaced by FFD9: every row is decoded', async () => {
    // Portrait photos: the crop keeps the middle rows, so a decoder that stops at the crop never meets the cut.
    for (const name of jpegs()) {
      const jpeg = photo(name);
      const cut = Buffer.concat([jpeg.subarray(0, Math.floor(jpeg.length * 0.9)), Buffer.from([0xff, 0xd9])]);
      const err = (await preprocessor.prepare(cut, spec).catch((e: unknown) => e)) as { code?: string };
      expect({ name, code: err.code }).toEqual({ name, code: 'INVALID_IMAGE' });
    }
  });

  it('refuses a GIF whose logical screen is 0×0 (libvips would read it as 1×1)', async () => {
    const gif = await sharp(photo('orange.png')).resize(8, 8).gif().toBuffer();
    const empty = Buffer.from(gif);
    empty.writeUInt16LE(0, 6);
    empty.writeUInt16LE(0, 8);
    await expect(preprocessor.prepare(empty, spec)).rejects.toMatchObject({ code: 'UNUSABLE_IMAGE', statusCode: 422 });
    await expect(preprocessor.prepare(gif, spec)).resolves.toMatchObject({ width: 8, height: 8 });
  });
});
