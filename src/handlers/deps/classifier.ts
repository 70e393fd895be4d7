import type { FsModelCatalog } from '../../adapters/fs-model-catalog';
import { LocalEngine } from '../../adapters/local-engine';
import { WorkerExecutor } from '../../adapters/pool/worker-executor';
import { InThreadExecutor } from '../../adapters/scheduling/in-thread-executor';
import { ScheduledEngine } from '../../adapters/scheduling/scheduled-engine';
import type { ClassifyDeps } from '../../core/classify';
import type { InferenceEngine } from '../../core/ports';
import { type Config, config } from '../../config';
import { prom, watchEventLoop } from '../middleware/observability';
import { modelCatalog } from './catalog';

/** What a function that classifies needs: the verified catalog and an engine with its sessions warming. */
export interface Classifier extends ClassifyDeps {
  catalog: FsModelCatalog;
}

let classifier: Classifier | undefined;

function build(): Classifier {
  const cfg = config();
  const catalog = modelCatalog();
  if (cfg.verifyModels) catalog.verifyFiles();
  const engine = buildEngine(cfg, catalog);
  // Start loading at cold start so the first request finds warm sessions; failures surface via ready().
  engine.ready().catch(() => undefined);
  for (const name of catalog.names()) {
    prom.modelLoadSeconds.set({ model: name }, () => (catalog.info().find((m) => m.name === name)?.loadMs ?? 0) / 1000);
  }
  prom.engineQueued.set({}, () => engine.stats().queued);
  prom.engineInFlight.set({}, () => engine.stats().inFlight);
  // Where one process serves every invocation, its event loop can hold requests back; a Lambda container is
  // frozen between invocations, and would report the freeze as delay.
  if (cfg.offline) watchEventLoop();
  return { catalog, engine };
}

/** The engine for the configured mode; see InferenceMode. */
export function buildEngine(cfg: Readonly<Config>, catalog: FsModelCatalog): InferenceEngine {
  const inf = cfg.inference;
  const local = () => new LocalEngine(catalog, { intraOpThreads: inf.intraOpThreads, maxPixels: cfg.limits.maxPixels, maxBatch: inf.maxBatch });
  if (inf.mode === 'inline') return local();
  const executor =
    inf.mode === 'pool'
      ? new WorkerExecutor(catalog, {
          modelsDir: cfg.modelsDir,
          defaultModel: cfg.defaultModel,
          models: catalog.names(),
          intraOpThreads: inf.intraOpThreads,
          maxPixels: cfg.limits.maxPixels,
          maxBatch: inf.maxBatch,
          workers: inf.poolWorkers,
          perWorkerInFlight: inf.perWorkerInFlight,
        })
      : new InThreadExecutor(local(), inf.inThreadSlots);
  return new ScheduledEngine(executor, {
    maxQueueWaitMs: inf.maxQueueWaitMs,
    maxQueuedImages: inf.maxQueuedImages,
    // ~12 ms of decode + inference per image per core until measured.
    initialIntervalMs: 12 / inf.poolWorkers,
  });
}

/** The container's classifier, created on first use (locally: once for the whole process). */
export const getClassifier = (): Classifier => {
  classifier ??= build();
  return classifier;
};
