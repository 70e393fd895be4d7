import * as ort from 'onnxruntime-node';
import type { ModelManifest } from '../core/model';

/** One ONNX Runtime session for one model: created once per container (or pool worker), never per request. */
export class OnnxModel {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly manifest: ModelManifest,
    readonly loadMs: number,
  ) {}

  static async load(manifest: ModelManifest, modelPath: string, intraOpThreads: number): Promise<OnnxModel> {
    const started = performance.now();
    const session = await ort.InferenceSession.create(modelPath, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      intraOpNumThreads: intraOpThreads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
    });
    return new OnnxModel(session, manifest, performance.now() - started);
  }

  /** Runs `n` images laid out NCHW in `tensor`; returns n × classes scores. */
  async run(tensor: Float32Array, n: number): Promise<Float32Array> {
    const { input, output } = this.manifest;
    const feeds = { [input.name]: new ort.Tensor('float32', tensor, [n, 3, input.height, input.width]) };
    const result = await this.session.run(feeds);
    const out = result[output.name];
    if (!out) throw new Error(`model output "${output.name}" missing`);
    return out.data as Float32Array;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
