/** Domain types of a classification model as described by `models/<name>/model.json`. */

export interface ModelFileSpec {
  file: string;
  source: string;
  bytes: number;
  sha256: string;
}

/** Preprocessing contract of a model: how pixels become its input tensor. */
export interface PreprocessSpec {
  width: number;
  height: number;
  /** Resize so the shorter side is this long, then center-crop to width×height. */
  shorterSide: number;
  kernel: 'linear' | 'cubic' | 'lanczos3' | 'nearest';
  /** value = (pixel / scale - mean[c]) / std[c] */
  scale: number;
  mean: [number, number, number];
  std: [number, number, number];
}

export interface ModelManifest {
  name: string;
  version: string;
  description: string;
  files: { model: ModelFileSpec; labels: ModelFileSpec };
  labelsFormat: 'synset' | 'plain';
  input: { name: string; layout: 'NCHW'; channels: 'RGB'; height: number; width: number; dynamicBatch: boolean };
  output: { name: string; kind: 'logits' | 'probabilities'; classes: number };
  resize: { shorterSide: number; crop: 'center'; kernel: PreprocessSpec['kernel'] };
  normalize: { scale: number; mean: [number, number, number]; std: [number, number, number] };
  provenance: string;
  licence: string;
}

export interface Prediction {
  label: string;
  index: number;
  score: number;
}

export interface Timings {
  decodeMs: number;
  inferMs: number;
  /** Time spent waiting for a free inference slot (0 when there is no pool). */
  queueMs: number;
}

export interface Classification {
  model: { name: string; version: string };
  predictions: Prediction[];
  timings: Timings;
  /** Source image size after EXIF orientation. */
  image: { width: number; height: number; format: string };
}

/** What an operator sees of a loaded model. */
export interface ModelInfo {
  name: string;
  version: string;
  description: string;
  default: boolean;
  input: ModelManifest['input'];
  output: ModelManifest['output'];
  preprocessing: PreprocessSpec;
  labels: number;
  sha256: string;
  loadMs: number | null;
  provenance: string;
  licence: string;
}

export const preprocessSpecOf = (m: ModelManifest): PreprocessSpec => ({
  width: m.input.width,
  height: m.input.height,
  shorterSide: m.resize.shorterSide,
  kernel: m.resize.kernel,
  scale: m.normalize.scale,
  mean: m.normalize.mean,
  std: m.normalize.std,
});
