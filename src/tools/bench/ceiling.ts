import { availableParallelism } from 'node:os';
import { FsModelCatalog } from '../../adapters/fs-model-catalog';
import { config } from '../../config';
import type { InferenceMode } from '../../core/ports';
import { buildEngine } from '../../handlers/deps/classifier';
import { percentile } from '../load/stats';

/**
 * The machine's limit: decode + inference with every slot kept full, no HTTP, through the same engine
 * the service uses (`scheduled`: in-thread; `pool`: worker threads).
 */
export async function ceiling(
  photos: Buffer[],
  seconds: number,
  mode: Exclude<InferenceMode, 'inline'> = 'scheduled',
): Promise<{ imagesPerS: number; p50: number; p99: number }> {
  const base = config();
  const cfg = {
    ...base,
    inference: {
      ...base.inference,
      mode,
      intraOpThreads: Number(process.env.INTRA_OP_THREADS || (mode === 'pool' ? 1 : availableParallelism())),
      maxQueueWaitMs: 1e9,
      maxQueuedImages: 1e9,
    },
  };
  const catalog = new FsModelCatalog({ dir: cfg.modelsDir, defaultModel: cfg.defaultModel, only: [cfg.defaultModel] });
  const engine = buildEngine(cfg, catalog);
  await engine.ready();
  const lat: number[] = [];
  let done = 0;
  const endAt = performance.now() + seconds * 1000;
  const started = performance.now();
  // Enough concurrent submitters to keep every slot full, like a saturated API.
  await Promise.all(
    Array.from({ length: 8 }, async (_, c) => {
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
