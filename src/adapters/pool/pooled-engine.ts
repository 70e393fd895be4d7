import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { AdmissionController } from '../../core/admission';
import { NotReadyError, OverloadedError, toErrorRecord } from '../../core/errors';
import type { EngineStats, InferenceEngine, Priority, ScoresOrError } from '../../core/ports';
import type { FsModelCatalog } from '../fs-model-catalog';
import type { WorkerInit, WorkerMessage } from './protocol';

export interface PoolOptions extends WorkerInit {
  workers: number;
  perWorkerInFlight: number;
  maxQueueWaitMs: number;
  maxQueuedImages: number;
  /** Out of every this-many dispatches while both queues wait, one goes to background work, so it never starves. */
  backgroundShare?: number;
}

interface Job {
  id: number;
  model: string;
  bytes: Uint8Array;
  enqueuedAt: number;
  dispatchedAt: number;
  resolve: (r: ScoresOrError) => void;
}

interface Slot {
  worker: Worker;
  inFlight: Map<number, Job>;
  ready: boolean;
}

/**
 * A process-wide inference pool for local mode: one worker thread per core, each with its own sessions,
 * shared by every concurrent invocation in the process. Interactive images are admitted or shed by an
 * AdmissionController; background (batch-path) images queue behind them with a guaranteed share.
 */
export class PooledEngine implements InferenceEngine {
  private readonly slots: Slot[] = [];
  private readonly interactive: Job[] = [];
  private readonly background: Job[] = [];
  private readonly admission: AdmissionController;
  private readonly readyPromise: Promise<void>;
  private nextId = 1;
  private dispatches = 0;
  private shedCount = 0;
  private closing = false;

  constructor(
    private readonly catalog: FsModelCatalog,
    private readonly options: PoolOptions,
  ) {
    this.admission = new AdmissionController({
      maxQueueWaitMs: options.maxQueueWaitMs,
      maxQueuedImages: options.maxQueuedImages,
      // ~12 ms of decode + inference per image per core until measured.
      initialIntervalMs: 12 / options.workers,
    });
    const starts: Promise<void>[] = [];
    for (let i = 0; i < options.workers; i++) starts.push(this.spawn(i));
    this.readyPromise = Promise.all(starts).then(() => undefined);
    // Keep the rejection observable through ready() without crashing the process on an unawaited promise.
    this.readyPromise.catch(() => undefined);
  }

  private spawn(index: number): Promise<void> {
    const init: WorkerInit = {
      modelsDir: this.options.modelsDir,
      defaultModel: this.options.defaultModel,
      models: this.options.models,
      intraOpThreads: this.options.intraOpThreads,
      maxPixels: this.options.maxPixels,
      maxBatch: this.options.maxBatch,
    };
    const worker = new Worker(path.join(__dirname, 'worker.js'), { workerData: init });
    const slot: Slot = { worker, inFlight: new Map(), ready: false };
    this.slots[index] = slot;
    return new Promise<void>((resolve, reject) => {
      worker.on('message', (msg: WorkerMessage) => {
        switch (msg.type) {
          case 'ready':
            slot.ready = true;
            for (const [name, ms] of Object.entries(msg.loadMs)) this.catalog.recordLoad(name, ms);
            resolve();
            this.pump();
            return;
          case 'failed':
            reject(new NotReadyError(`model load failed: ${msg.message}`));
            return;
          case 'result':
          case 'error':
            this.settle(slot, msg);
            return;
        }
      });
      worker.on('error', (err: Error) => reject(err));
      worker.on('exit', (code) => {
        slot.ready = false;
        // A worker that dies takes only its own in-flight images with it; each gets an error, never a hang.
        for (const job of slot.inFlight.values()) {
          job.resolve({ ok: false, error: toErrorRecord(new Error(`inference worker exited with code ${code}`)) });
        }
        slot.inFlight.clear();
        if (!this.closing) void this.spawn(index).catch(() => undefined);
      });
    });
  }

  private settle(slot: Slot, msg: Extract<WorkerMessage, { type: 'result' | 'error' }>): void {
    const job = slot.inFlight.get(msg.id);
    if (!job) return;
    slot.inFlight.delete(msg.id);
    this.admission.completed(performance.now(), this.interactive.length + this.background.length > 0);
    if (msg.type === 'error') {
      job.resolve({ ok: false, error: msg.error });
    } else {
      job.resolve({
        ok: true,
        value: {
          scores: msg.scores,
          decodeMs: msg.decodeMs,
          inferMs: msg.inferMs,
          queueMs: job.dispatchedAt - job.enqueuedAt,
          image: msg.image,
        },
      });
    }
    this.pump();
  }

  private pump(): void {
    const share = this.options.backgroundShare ?? 4;
    for (;;) {
      if (this.interactive.length === 0 && this.background.length === 0) return;
      let best: Slot | undefined;
      for (const s of this.slots) {
        if (s?.ready && s.inFlight.size < this.options.perWorkerInFlight && (!best || s.inFlight.size < best.inFlight.size)) best = s;
      }
      if (!best) return;
      const takeBackground = this.background.length > 0 && (this.interactive.length === 0 || this.dispatches % share === share - 1);
      const job = takeBackground ? this.background.shift() : this.interactive.shift();
      if (!job) return;
      this.dispatches++;
      job.dispatchedAt = performance.now();
      best.inFlight.set(job.id, job);
      // Copy into a buffer of its own and transfer it: the request's bytes may be a view into a larger pooled Buffer.
      const own = new Uint8Array(job.bytes);
      best.worker.postMessage({ id: job.id, model: job.model, bytes: own }, [own.buffer]);
    }
  }

  async ready(): Promise<void> {
    await this.readyPromise;
  }

  async infer(model: string, images: readonly Uint8Array[], priority: Priority): Promise<ScoresOrError[]> {
    if (!this.slots.some((s) => s?.ready)) {
      await this.readyPromise;
    }
    this.precheck(images.length, priority);
    const queue = priority === 'interactive' ? this.interactive : this.background;
    const now = performance.now();
    const results = images.map(
      (bytes) =>
        new Promise<ScoresOrError>((resolve) => {
          queue.push({ id: this.nextId++, model, bytes, enqueuedAt: now, dispatchedAt: now, resolve });
        }),
    );
    this.pump();
    return Promise.all(results);
  }

  precheck(images: number, priority: Priority): void {
    if (priority !== 'interactive') return;
    const decision = this.admission.decide(images, this.interactive.length);
    if (!decision.admit) {
      this.shedCount += images;
      throw new OverloadedError(
        `at capacity: ${this.interactive.length} images queued, predicted wait ${Math.round(decision.predictedWaitMs)} ms`,
        decision.retryAfterSeconds,
      );
    }
  }

  stats(): EngineStats {
    let inFlight = 0;
    for (const s of this.slots) inFlight += s?.inFlight.size ?? 0;
    return {
      kind: 'pool',
      workers: this.slots.filter((s) => s?.ready).length,
      inFlight,
      queued: this.interactive.length + this.background.length,
      shed: this.shedCount,
    };
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.slots.map((s) => s?.worker.terminate()));
  }
}
