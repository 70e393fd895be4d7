import type { Prediction, PreprocessSpec } from './model';

/**
 * Writes one interleaved RGB image (HWC, uint8) into `out` as planar NCHW float32 at image slot
 * `slot`, normalised per the model's spec. One pass with precomputed per-channel affine terms:
 * (p/scale - mean)/std == p*a + b.
 */
export function fillNchw(rgb: Uint8Array, spec: PreprocessSpec, out: Float32Array, slot = 0): void {
  const plane = spec.width * spec.height;
  if (rgb.length !== plane * 3) {
    throw new RangeError(`expected ${plane * 3} RGB bytes, got ${rgb.length}`);
  }
  const base = slot * plane * 3;
  if (out.length < base + plane * 3) throw new RangeError('output tensor too small for slot');
  const [m0, m1, m2] = spec.mean;
  const [s0, s1, s2] = spec.std;
  const a0 = 1 / (spec.scale * s0);
  const a1 = 1 / (spec.scale * s1);
  const a2 = 1 / (spec.scale * s2);
  const b0 = -m0 / s0;
  const b1 = -m1 / s1;
  const b2 = -m2 / s2;
  const r = base;
  const g = base + plane;
  const b = base + 2 * plane;
  for (let i = 0, p = 0; i < plane; i++, p += 3) {
    out[r + i] = (rgb[p] as number) * a0 + b0;
    out[g + i] = (rgb[p + 1] as number) * a1 + b1;
    out[b + i] = (rgb[p + 2] as number) * a2 + b2;
  }
}

/** Numerically stable softmax of `logits[offset .. offset+n)`. */
export function softmax(logits: ArrayLike<number>, offset = 0, n = logits.length - offset): Float64Array {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) max = Math.max(max, logits[offset + i] as number);
  const out = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const e = Math.exp((logits[offset + i] as number) - max);
    out[i] = e;
    sum += e;
  }
  for (let i = 0; i < n; i++) out[i] = (out[i] as number) / sum;
  return out;
}

/** The k highest scores, best first; ties keep the lower index first. */
export function topK(scores: ArrayLike<number>, k: number, labels: readonly string[]): Prediction[] {
  const n = scores.length;
  const kk = Math.max(0, Math.min(k, n));
  // Partial selection: k is tiny (≤ 20) next to 1000 classes, so a sorted window beats a full sort.
  const idx: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = scores[i] as number;
    if (idx.length === kk && s <= (scores[idx[kk - 1] as number] as number)) continue;
    let pos = idx.length;
    while (pos > 0 && (scores[idx[pos - 1] as number] as number) < s) pos--;
    idx.splice(pos, 0, i);
    if (idx.length > kk) idx.pop();
  }
  return idx.map((i) => ({ label: labels[i] ?? `class_${i}`, index: i, score: scores[i] as number }));
}

/**
 * Resize-then-center-crop geometry (torchvision's Resize(shorter) + CenterCrop): the size to resize to
 * and the crop window inside it.
 */
export function cropPlan(
  width: number,
  height: number,
  spec: Pick<PreprocessSpec, 'shorterSide' | 'width' | 'height'>,
): { resizeWidth: number; resizeHeight: number; left: number; top: number } {
  const ratio = spec.shorterSide / Math.min(width, height);
  const resizeWidth = Math.max(spec.width, width <= height ? spec.shorterSide : Math.round(width * ratio));
  const resizeHeight = Math.max(spec.height, height < width ? spec.shorterSide : Math.round(height * ratio));
  return {
    resizeWidth,
    resizeHeight,
    left: Math.floor((resizeWidth - spec.width) / 2),
    top: Math.floor((resizeHeight - spec.height) / 2),
  };
}
