import sharp, { type Metadata, type OutputInfo } from 'sharp';
import { InvalidImageError, UnusableImageError } from '../core/errors';
import type { PreprocessSpec } from '../core/model';
import { cropPlan } from '../core/tensor';
import { isSrgbProfile } from './icc';

/**
 * libvips' strictness: 'warning' refuses JPEGs whose entropy data runs out early. libjpeg reports that only as a
 * warning ("premature end of data segment") and fills the rest with grey, so at 'error' a JPEG cut in the middle
 * (still ending FFD9), or a few hundred bytes whose header claims 6000×6000, was classified. Every test photo, their
 * re-encodings, extraneous bytes before EOI, trailing bytes after it and a bad ancillary PNG chunk still decode.
 */
const FAIL_ON = 'warning';

/** Pixels of a decoded, resized and cropped image, ready to become a tensor. */
export interface PreparedPixels {
  /** Interleaved RGB, 8 bits per channel, spec.width × spec.height. */
  rgb: Uint8Array;
  width: number;
  height: number;
  format: string;
  decodeMs: number;
}

export interface SharpPreprocessorOptions {
  /** Decompression-bomb guard: images with more pixels are refused before decoding. */
  maxPixels: number;
  /** libvips threads per image; 1 when many images run in parallel on few cores. */
  concurrency?: number;
}

/**
 * Decode → EXIF orientation → sRGB 8-bit, alpha dropped → resize shorter side → center crop, with sharp.
 * Handles JPEG, PNG (palette, grey, 16-bit, alpha), WebP, GIF (first frame), TIFF and AVIF.
 */
export class SharpPreprocessor {
  private readonly maxPixels: number;

  constructor(options: SharpPreprocessorOptions) {
    this.maxPixels = options.maxPixels;
    if (options.concurrency !== undefined) sharp.concurrency(options.concurrency);
    // The pipeline touches each image once; libvips' operation cache only costs memory here.
    sharp.cache(false);
  }

  async prepare(bytes: Uint8Array, spec: PreprocessSpec): Promise<PreparedPixels> {
    const started = performance.now();
    let meta: Metadata;
    try {
      meta = await sharp(bytes, { limitInputPixels: false }).metadata();
    } catch (err: unknown) {
      throw new InvalidImageError('the body is not a decodable image', { cause: err });
    }
    const rawW = meta.width ?? 0;
    const rawH = meta.height ?? 0;
    if (rawW < 1 || rawH < 1 || (meta.format === 'gif' && gifScreenIsEmpty(bytes)))
      throw new UnusableImageError('the image has zero width or height');
    if (rawW * rawH > this.maxPixels) {
      throw new UnusableImageError(`the image has ${rawW * rawH} pixels, over the limit of ${this.maxPixels}`, {
        details: { width: rawW, height: rawH, maxPixels: this.maxPixels },
      });
    }
    // EXIF orientations 5–8 swap width and height.
    const swapped = (meta.orientation ?? 1) >= 5;
    const width = swapped ? rawH : rawW;
    const height = swapped ? rawW : rawH;
    const plan = cropPlan(width, height, spec);
    let resized: { data: Buffer; info: OutputInfo };
    try {
      resized = await sharp(bytes, { limitInputPixels: this.maxPixels, failOn: FAIL_ON, sequentialRead: true, ignoreIcc: isSrgbProfile(meta.icc) })
        .rotate()
        .toColourspace('srgb')
        .removeAlpha()
        // fit 'outside' lets libvips pick the long side (as cropPlan computes it) with one uniform scale factor;
        // an explicit fill size rescales the axes by slightly different ratios and moved SOURCE.md scores further.
        .resize(spec.shorterSide, spec.shorterSide, { fit: 'outside', kernel: spec.kernel })
        .raw({ depth: 'uchar' })
        .toBuffer({ resolveWithObject: true });
    } catch (err: unknown) {
      throw new InvalidImageError('the image could not be decoded', { cause: err });
    }
    const { data, info } = resized;
    if (info.channels !== 3 || info.width < plan.left + spec.width || info.height < plan.top + spec.height) {
      throw new InvalidImageError(
        `decoder produced ${info.width}×${info.height}×${info.channels}, too small for the ${spec.width}×${spec.height} crop`,
      );
    }
    return {
      rgb: centerCrop(data, info.width, plan, spec),
      width,
      height,
      format: meta.format ?? 'unknown',
      decodeMs: performance.now() - started,
    };
  }
}

/**
 * The crop, in JS rather than libvips' extract: with extract, libvips stops decoding below the crop, so a JPEG cut
 * off there (its tail replaced by FFD9) never reached the missing data and was classified. Resizing whole makes the
 * decoder read every row, and `failOn` see the truncation; the copy is a few hundred KB.
 */
function centerCrop(data: Buffer, rowWidth: number, plan: { left: number; top: number }, spec: Pick<PreprocessSpec, 'width' | 'height'>): Uint8Array {
  const out = new Uint8Array(spec.width * spec.height * 3);
  const rowBytes = spec.width * 3;
  for (let y = 0; y < spec.height; y++) {
    const from = ((plan.top + y) * rowWidth + plan.left) * 3;
    out.set(data.subarray(from, from + rowBytes), y * rowBytes);
  }
  return out;
}

/** libvips reads a GIF whose logical screen is 0 pixels wide or high as 1×1; its header says it has no pixels. */
function gifScreenIsEmpty(bytes: Uint8Array): boolean {
  if (bytes.length < 10) return false;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return view.getUint16(6, true) === 0 || view.getUint16(8, true) === 0;
}
