import sharp, { type Metadata } from 'sharp';
import { InvalidImageError, UnusableImageError } from '../core/errors';
import type { PreprocessSpec } from '../core/model';
import { cropPlan } from '../core/tensor';
import { isSrgbProfile } from './icc';

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
    if (rawW < 1 || rawH < 1) throw new UnusableImageError('the image has zero width or height');
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
    let rgb: Buffer;
    try {
      rgb = await sharp(bytes, { limitInputPixels: this.maxPixels, failOn: 'error', sequentialRead: true, ignoreIcc: isSrgbProfile(meta.icc) })
        .rotate()
        .toColourspace('srgb')
        .removeAlpha()
        // fit 'outside' lets libvips pick the long side (as cropPlan computes it) with one uniform scale factor;
        // an explicit fill size rescales the axes by slightly different ratios and moved SOURCE.md scores further.
        .resize(spec.shorterSide, spec.shorterSide, { fit: 'outside', kernel: spec.kernel })
        .extract({ left: plan.left, top: plan.top, width: spec.width, height: spec.height })
        .raw({ depth: 'uchar' })
        .toBuffer();
    } catch (err: unknown) {
      throw new InvalidImageError('the image could not be decoded', { cause: err });
    }
    if (rgb.length !== spec.width * spec.height * 3) {
      throw new InvalidImageError(`decoder produced ${rgb.length} bytes, expected ${spec.width * spec.height * 3}`);
    }
    return {
      rgb: new Uint8Array(rgb.buffer, rgb.byteOffset, rgb.length),
      width,
      height,
      format: meta.format ?? 'unknown',
      decodeMs: performance.now() - started,
    };
  }
}
