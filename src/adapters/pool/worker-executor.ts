import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { InternalError, ModelLoadError, NotReadyError, toErrorRecord } from '../../core/errors';
import type { FsModelCatalog } from '../fs-model-catalog';
import type { ExecResult, Executor } from '../scheduling/executor';
import type { ImageTask, WorkerInit, WorkerMessage } from './protocol';

export interface WorkerExecutorOptions extends WorkerInit {
  workers: number;
  /** Images one worker holds at once, so decoding the next overlaps inferring the current. */
  perWorkerInFlight: number;
}

interface Slot {
  worker: Worker;
  inFlight: Map<number, (r: ExecResult) => void>;
  ready: boolean;
}

/**
 * Runs images on worker threads, each with its own sharp pipeline and ONNX sessions. The alternative to
 * in-thread execution for machines with cores to spare beside the HTTP thread (INFERENCE_MODE=pool).
 */
export class WorkerExecutor implements Executor {
  readonly mode = 'pool' as const;
  readonly slots: number;
  readonly parallelism: number;
  private readonly pool: Slot[] = [];
  private readonly readyPromise: Promise<void>;
  private nextId = 1;
  private closing = false;

  constructor(
    private readonly catalog: FsModelCatalog,
    private readonly options: WorkerExecutorOptions,
  ) {
    this.slots = options.workers * options.perWorkerInFlight;
    this.parallelism = options.workers;
    this.readyPromise = Promise.all(Array.from({ length: options.workers }, (_, i) => this.spawn(i))).then(() => undefined);
    // Keep the rejection observable through ready() without crashing on an unawaited promise.
    this.readyPromise.catch(() => undefined);
  }

  private spawn(index: number): Promise<void> {
    const { workers: _w, perWorkerInFlight: _p, ...init } = this.options;
    const worker = new Worker(path.join(__dirname, 'worker.js'), { workerData: init satisfies WorkerInit });
    const slot: Slot = { worker, inFlight: new Map(), ready: false };
    this.pool[index] = slot;
    return new Promise<void>((resolve, reject) => {
      worker.on('message', (msg: WorkerMessage) => {
        if (msg.type === 'ready') {
          slot.ready = true;
          for (const [name, ms] of Object.entries(msg.loadMs)) this.catalog.recordLoad(name, ms);
          resolve();
        } else if (msg.type === 'failed') {
          // Its text names files and checksums: for the logs, never a client's body.
          reject(new NotReadyError('model load failed', { cause: new ModelLoadError(msg.message) }));
        } else {
          const done = slot.inFlight.get(msg.id);
          slot.inFlight.delete(msg.id);
          done?.(
            msg.type === 'error'
              ? { ok: false, error: msg.error }
              : { ok: true, scores: msg.scores, decodeMs: msg.decodeMs, inferMs: msg.inferMs, image: msg.image },
          );
        }
      });
      worker.on('error', reject);
      worker.on('exit', (code) => {
        slot.ready = false;
        // A worker that dies takes only its own in-flight images with it; each gets an error, never a hang.
        for (const done of slot.inFlight.values())
          done({ ok: false, error: toErrorRecord(new InternalError(`inference worker exited with code ${code}`)) });
        slot.inFlight.clear();
        if (!this.closing) void this.spawn(index).catch(() => undefined);
      });
    });
  }

  ready(): Promise<void> {
    return this.readyPromise;
  }

  run(model: string, bytes: Uint8Array): Promise<ExecResult> {
    let best: Slot | undefined;
    for (const s of this.pool) if (s?.ready && (!best || s.inFlight.size < best.inFlight.size)) best = s;
    if (!best) return Promise.resolve({ ok: false, error: toErrorRecord(new NotReadyError('no inference worker is running')) });
    const id = this.nextId++;
    const target = best;
    return new Promise<ExecResult>((resolve) => {
      target.inFlight.set(id, resolve);
      // Copy into a buffer of its own and transfer it: the request's bytes may be a view into a larger pooled Buffer.
      const own = new Uint8Array(bytes);
      target.worker.postMessage({ id, model, bytes: own } satisfies ImageTask, [own.buffer]);
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.pool.map((s) => s?.worker.terminate()));
  }
}
