import { toErrorRecord } from '../../core/errors';
import type { OnnxEngine } from '../onnx-engine';
import type { ExecResult, Executor } from './executor';

/**
 * Runs images in this thread: sharp decodes on libuv's thread pool (in parallel, off this thread) while
 * ONNX Runtime infers here. A few slots let the next images decode while one infers. For one-thread hosts
 * and for comparison (INFERENCE_MODE=scheduled): the worker pool serves more through HTTP, because inference
 * here competes with request handling for the event loop.
 */
export class InThreadExecutor implements Executor {
  readonly mode = 'scheduled' as const;
  /** One session run at a time; the slots beyond it only overlap decoding. */
  readonly parallelism = 1;

  constructor(
    private readonly engine: OnnxEngine,
    readonly slots: number,
  ) {}

  ready(): Promise<void> {
    return this.engine.ready();
  }

  async run(model: string, bytes: Uint8Array): Promise<ExecResult> {
    try {
      const prepared = await this.engine.prepare(model, bytes);
      const [r] = await this.engine.run(model, [prepared]);
      if (!r) throw new Error('missing inference result');
      return { ok: true, scores: r.scores, inferMs: r.inferMs, decodeMs: prepared.decodeMs, image: prepared.image };
    } catch (err: unknown) {
      return { ok: false, error: toErrorRecord(err) };
    }
  }

  close(): Promise<void> {
    return this.engine.close();
  }
}
