import { toErrorRecord } from '../core/errors';
import { type PreprocessSpec, preprocessSpecOf } from '../core/model';
import type { EngineStats, InferenceEngine, ScoresOrError } from '../core/ports';
import { fillNchw } from '../core/tensor';
import type { FsModelCatalog } from './fs-model-catalog';
import { OnnxModel } from './onnx-model';
import { SharpPreprocessor } from './sharp-preprocessor';

export interface OnnxEngineOptions {
  intraOpThreads: number;
  maxPixels: number;
  /** Largest tensor batch handed to one session.run. */
  maxBatch: number;
  sharpConcurrency?: number;
}

/** An image decoded and normalised into its own 1×3×H×W tensor. */
export interface PreparedImage {
  tensor: Float32Array;
  decodeMs: number;
  image: { width: number; height: number; format: string };
}

/**
 * Decodes with sharp and infers with ONNX Runtime on the calling thread. In AWS each container serves one
 * request at a time, so this is the whole engine there (INFERENCE_MODE=inline); under the scheduler it is what
 * the in-thread executor runs, and every pool worker runs one of these.
 */
export class OnnxEngine implements InferenceEngine {
  private readonly models = new Map<string, OnnxModel>();
  private readonly specs = new Map<string, PreprocessSpec>();
  private readonly preprocessor: SharpPreprocessor;
  private loading: Promise<void> | undefined;

  constructor(
    private readonly catalog: FsModelCatalog,
    private readonly options: OnnxEngineOptions,
  ) {
    this.preprocessor = new SharpPreprocessor({
      maxPixels: options.maxPixels,
      ...(options.sharpConcurrency === undefined ? {} : { concurrency: options.sharpConcurrency }),
    });
  }

  /** Loads every model and runs one warm-up inference each, so the first request pays no set-up. */
  ready(): Promise<void> {
    this.loading ??= this.load();
    return this.loading;
  }

  private async load(): Promise<void> {
    for (const name of this.catalog.names()) {
      const manifest = this.catalog.manifest(name);
      if (!manifest) continue;
      const model = await OnnxModel.load(manifest, this.catalog.modelPath(name), this.options.intraOpThreads);
      const spec = preprocessSpecOf(manifest);
      await model.run(new Float32Array(3 * spec.width * spec.height), 1);
      this.models.set(name, model);
      this.specs.set(name, spec);
      this.catalog.recordLoad(name, model.loadMs);
    }
  }

  async prepare(model: string, bytes: Uint8Array): Promise<PreparedImage> {
    const spec = this.specs.get(model);
    if (!spec) throw new Error(`model "${model}" is not loaded`);
    const px = await this.preprocessor.prepare(bytes, spec);
    const tensor = new Float32Array(3 * spec.width * spec.height);
    fillNchw(px.rgb, spec, tensor);
    return {
      tensor,
      decodeMs: px.decodeMs,
      image: { width: px.width, height: px.height, format: px.format },
    };
  }

  /** Runs prepared images in batches of at most maxBatch; returns each image's scores and its share of the run. */
  async run(model: string, prepared: readonly PreparedImage[]): Promise<Array<{ scores: Float32Array; inferMs: number }>> {
    const session = this.models.get(model);
    if (!session) throw new Error(`model "${model}" is not loaded`);
    const { manifest } = session;
    const per = 3 * manifest.input.width * manifest.input.height;
    const classes = manifest.output.classes;
    const step = manifest.input.dynamicBatch ? this.options.maxBatch : 1;
    const out: Array<{ scores: Float32Array; inferMs: number }> = [];
    for (let start = 0; start < prepared.length; start += step) {
      const chunk = prepared.slice(start, start + step);
      let tensor: Float32Array;
      if (chunk.length === 1 && chunk[0]) {
        tensor = chunk[0].tensor;
      } else {
        tensor = new Float32Array(per * chunk.length);
        chunk.forEach((p, i) => {
          tensor.set(p.tensor, i * per);
        });
      }
      const t0 = performance.now();
      const scores = await session.run(tensor, chunk.length);
      const inferMs = (performance.now() - t0) / chunk.length;
      for (let i = 0; i < chunk.length; i++) {
        out.push({ scores: scores.slice(i * classes, (i + 1) * classes), inferMs });
      }
    }
    return out;
  }

  async infer(model: string, images: readonly Uint8Array[]): Promise<ScoresOrError[]> {
    await this.ready();
    const prepared = await Promise.allSettled(images.map((b) => this.prepare(model, b)));
    const good: PreparedImage[] = [];
    for (const p of prepared) if (p.status === 'fulfilled') good.push(p.value);
    const runs = await this.run(model, good);
    let next = 0;
    return prepared.map((p): ScoresOrError => {
      if (p.status === 'rejected') return { ok: false, error: toErrorRecord(p.reason) };
      const r = runs[next++];
      if (!r) return { ok: false, error: toErrorRecord(new Error('missing inference result')) };
      return { ok: true, value: { scores: r.scores, inferMs: r.inferMs, decodeMs: p.value.decodeMs, queueMs: 0, image: p.value.image } };
    });
  }

  /** One request per container: nothing to shed here (API Gateway throttling does it in AWS). */
  precheck(): void {}

  stats(): EngineStats {
    return { kind: 'inline', workers: 1, inFlight: 0, queued: 0, shed: 0 };
  }

  async close(): Promise<void> {
    for (const m of this.models.values()) await m.release();
    this.models.clear();
  }
}
