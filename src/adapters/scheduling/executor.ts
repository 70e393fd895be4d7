import type { ErrorRecord } from '../../core/errors';
import type { InferenceMode } from '../../core/ports';

/** What an executor returns for one image (queue time is the scheduler's to add). */
export type ExecResult =
  | { ok: true; scores: Float32Array; decodeMs: number; inferMs: number; image: { width: number; height: number; format: string } }
  | { ok: false; error: ErrorRecord };

/**
 * Where scheduled images actually run: in the calling thread (sharp decodes on libuv's threads while
 * inference runs on this one) or on worker threads. The scheduler never gives it more than `slots` at once.
 */
export interface Executor {
  /** The INFERENCE_MODE the scheduler over this executor implements. */
  readonly mode: Exclude<InferenceMode, 'inline'>;
  readonly slots: number;
  /** Images that can truly run at once (worker threads; 1 in-thread): what a run has to itself while fewer are in flight. */
  readonly parallelism: number;
  ready(): Promise<void>;
  run(model: string, bytes: Uint8Array): Promise<ExecResult>;
  close(): Promise<void>;
}
