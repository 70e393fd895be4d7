// Pool worker: one sharp preprocessor and one ONNX session per model, fed by the pool in the main thread.
import { parentPort, workerData } from 'node:worker_threads';
import { toErrorRecord } from '../../core/errors';
import { FsModelCatalog } from '../fs-model-catalog';
import { OnnxEngine, type PreparedImage } from '../onnx-engine';
import type { ImageTask, WorkerInit, WorkerMessage } from './protocol';

const init = workerData as WorkerInit;
const port = parentPort;
if (!port) throw new Error('pool worker started outside a worker thread');

const post = (msg: WorkerMessage, transfer: ArrayBuffer[] = []) => port.postMessage(msg, transfer);

// The main thread already hashed the model files; workers only read them.
const catalog = new FsModelCatalog({ dir: init.modelsDir, defaultModel: init.defaultModel, only: init.models });
// libvips runs one thread per image here: the pool already runs one image per core.
const engine = new OnnxEngine(catalog, {
  intraOpThreads: init.intraOpThreads,
  maxPixels: init.maxPixels,
  maxBatch: init.maxBatch,
  sharpConcurrency: 1,
});

/** Decoded images waiting for the session, per model: whatever piles up while one run executes forms the next batch. */
const pending = new Map<string, Array<{ id: number; prepared: PreparedImage }>>();
let running = false;

async function drain(): Promise<void> {
  if (running) return;
  running = true;
  try {
    for (;;) {
      const next = [...pending.entries()].find(([, list]) => list.length > 0);
      if (!next) break;
      const [model, list] = next;
      const batch = list.splice(0, init.maxBatch);
      try {
        const runs = await engine.run(
          model,
          batch.map((b) => b.prepared),
        );
        batch.forEach((b, i) => {
          const r = runs[i];
          if (!r) {
            post({ type: 'error', id: b.id, error: toErrorRecord(new Error('missing result')) });
            return;
          }
          post({ type: 'result', id: b.id, scores: r.scores, decodeMs: b.prepared.decodeMs, inferMs: r.inferMs, image: b.prepared.image }, [
            r.scores.buffer as ArrayBuffer,
          ]);
        });
      } catch (err: unknown) {
        for (const b of batch) post({ type: 'error', id: b.id, error: toErrorRecord(err) });
      }
    }
  } finally {
    running = false;
  }
}

port.on('message', (task: ImageTask) => {
  engine.prepare(task.model, task.bytes).then(
    (prepared) => {
      const list = pending.get(task.model) ?? [];
      list.push({ id: task.id, prepared });
      pending.set(task.model, list);
      void drain();
    },
    (err: unknown) => post({ type: 'error', id: task.id, error: toErrorRecord(err) }),
  );
});

engine.ready().then(
  () => post({ type: 'ready', loadMs: Object.fromEntries(catalog.info().map((m) => [m.name, m.loadMs ?? 0])) }),
  (err: unknown) => post({ type: 'failed', message: err instanceof Error ? err.message : String(err) }),
);
