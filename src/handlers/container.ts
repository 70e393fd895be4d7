import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { FsModelCatalog } from '../adapters/fs-model-catalog';
import { LocalEngine } from '../adapters/local-engine';
import { WorkerExecutor } from '../adapters/pool/worker-executor';
import { InThreadExecutor } from '../adapters/scheduling/in-thread-executor';
import { ScheduledEngine } from '../adapters/scheduling/scheduled-engine';
import { S3ObjectStore, s3ChecksumSettings } from '../adapters/s3-object-store';
import { SqsWorkQueue } from '../adapters/sqs-work-queue';
import { unzip } from '../adapters/zip';
import type { BatchDeps } from '../core/batch';
import type { ClassifyDeps } from '../core/classify';
import type { InferenceEngine } from '../core/ports';
import { type Config, config } from '../config';
import { prom, watchEventLoop } from './middleware/observability';

/** Everything expensive, built once per container (locally: once per process) and shared by every handler. */
export interface Container extends ClassifyDeps {
  catalog: FsModelCatalog;
  engine: InferenceEngine;
  startedAt: number;
}

let container: Container | undefined;

function build(): Container {
  const cfg = config();
  const catalog = new FsModelCatalog({
    dir: cfg.modelsDir,
    defaultModel: cfg.defaultModel,
    only: cfg.models,
    verify: cfg.verifyModels,
  });
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
  return { catalog, engine, startedAt: Date.now() };
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

/** The container's shared dependencies, created on first use. */
export const getContainer = (): Container => {
  container ??= build();
  return container;
};

/** The batch path's dependencies: SDK clients built once per container, injected into the adapters. */
let batch: BatchDeps | undefined;

export const getBatchDeps = (): BatchDeps => {
  if (batch) return batch;
  const cfg = config();
  const local = { credentials: { accessKeyId: process.env.AWS_ACCESS_KEY_ID || 'local', secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY || 'local' } };
  const s3 = new S3Client({
    region: cfg.batch.region,
    ...s3ChecksumSettings,
    ...(cfg.batch.s3Endpoint ? { endpoint: cfg.batch.s3Endpoint, forcePathStyle: true, ...local } : {}),
  });
  const sqs = new SQSClient({ region: cfg.batch.region, ...(cfg.batch.sqsEndpoint ? { endpoint: cfg.batch.sqsEndpoint, ...local } : {}) });
  batch = {
    ...getContainer(),
    store: new S3ObjectStore(s3, cfg.batch.bucket),
    queue: new SqsWorkQueue(sqs, cfg.batch.queueUrl),
    jobs: new Map(),
    unzip: (z) => unzip(z, cfg.limits.maxImageBytes),
    limits: {
      maxImageBytes: cfg.limits.maxImageBytes,
      maxPresignedUrls: cfg.batch.maxPresignedUrls,
      presignExpiresSeconds: cfg.batch.presignExpiresSeconds,
    },
  };
  return batch;
};
