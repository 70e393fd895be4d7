import { FsModelCatalog } from '../adapters/fs-model-catalog';
import { PooledEngine } from '../adapters/pool/pooled-engine';
import { config } from '../config';
import { percentile } from './load';

/** The machine's limit: decode + inference through the worker pool with every slot kept full, no HTTP. */
export async function ceiling(photos: Buffer[], seconds: number): Promise<{ imagesPerS: number; p50: number; p99: number }> {
  const cfg = config();
  const catalog = new FsModelCatalog({ dir: cfg.modelsDir, defaultModel: cfg.defaultModel, only: [cfg.defaultModel], verify: false });
  const engine = new PooledEngine(catalog, {
    modelsDir: cfg.modelsDir,
    defaultModel: cfg.defaultModel,
    models: [cfg.defaultModel],
    intraOpThreads: 1,
    maxPixels: cfg.limits.maxPixels,
    maxBatch: cfg.inference.maxBatch,
    workers: cfg.inference.poolWorkers,
    perWorkerInFlight: cfg.inference.perWorkerInFlight,
    maxQueueWaitMs: 1e9,
    maxQueuedImages: 1e9,
  });
  await engine.ready();
  const lat: number[] = [];
  let done = 0;
  const endAt = performance.now() + seconds * 1000;
  const started = performance.now();
  // Enough concurrent submitters to keep every worker's slots full, like a saturated API.
  await Promise.all(
    Array.from({ length: cfg.inference.poolWorkers * 4 }, async (_, c) => {
      let i = c;
      while (performance.now() < endAt) {
        const t0 = performance.now();
        const [r] = await engine.infer(cfg.defaultModel, [photos[i++ % photos.length] as Buffer], 'background');
        if (!r?.ok) throw new Error(`ceiling run failed: ${JSON.stringify(r)}`);
        lat.push(performance.now() - t0);
        done++;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  await engine.close();
  lat.sort((a, b) => a - b);
  return { imagesPerS: done / elapsed, p50: percentile(lat, 50), p99: percentile(lat, 99) };
}

