import type { ErrorRecord } from '../../core/errors';

/** Messages between the pool (main thread) and its workers. */
export interface WorkerInit {
  modelsDir: string;
  defaultModel: string;
  models: string[];
  intraOpThreads: number;
  maxPixels: number;
  maxBatch: number;
}

/** One image for a worker to decode and classify; its answer carries the same id. */
export interface ImageTask {
  id: number;
  model: string;
  bytes: Uint8Array;
}

export type WorkerMessage =
  | { type: 'ready'; loadMs: Record<string, number> }
  | { type: 'failed'; message: string }
  | {
      type: 'result';
      id: number;
      scores: Float32Array;
      decodeMs: number;
      inferMs: number;
      image: { width: number; height: number; format: string };
    }
  | { type: 'error'; id: number; error: ErrorRecord };
