import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { FsModelCatalog } from '../adapters/fs-model-catalog';
import { LocalEngine } from '../adapters/local-engine';
import { PooledEngine } from '../adapters/pool/pooled-engine';
import { S3ObjectStore } from '../adapters/s3-object-store';
import { SqsWorkQueue } from '../adapters/sqs-work-queue';
import { unzip } from '../adapters/zip';
import type { BatchDeps } from '../core/batch';
import type { ClassifyDeps } from '../core/classify';
import type { InferenceEngine } from '../core/ports';
import { config } from '../config';
import { prom } from './middleware/observability';

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
  const engine: InferenceEngine =
    cfg.inference.mode === 'pool'
      ? new PooledEngine(catalog, {
          modelsDir: cfg.modelsDir,
          defaultModel: cfg.defaultModel,
          models: catalog.names(),
          intraOpThreads: cfg.inference.intraOpThreads,
          maxPixels: cfg.limits.maxPixels,
          maxBatch: cfg.inference.maxBatch,
          workers: cfg.inference.poolWorkers,
          perWorkerInFlight: cfg.inference.perWorkerInFlight,
          maxQueueWaitMs: cfg.inference.maxQueueWaitMs,
          maxQueuedImages: cfg.inference.maxQueuedImages,
        })
      : new LocalEngine(catalog, {
          intraOpThreads: cfg.inference.intraOpThreads,
          maxPixels: cfg.limits.maxPixels,
          maxBatch: cfg.inference.maxBatch,
        });
  // Start loading at cold start so the first request finds warm sessions; failures surface via ready().
  engine.ready().catch(() => undefined);
  for (const name of catalog.names()) {
    prom.modelLoadSeconds.set({ model: name }, () => (catalog.info().find((m) => m.name === name)?.loadMs ?? 0) / 1000);
  }
  prom.engineQueued.set({}, () => engine.stats().queued);
  prom.engineInFlight.set({}, () => engine.stats().inFlight);
  return { catalog, engine, startedAt: Date.now() };
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
    // Otherwise the SDK signs a CRC32 of the *empty* body into presigned PUT URLs, and S3 refuses the real upload (BadDigest).
    requestChecksumCalculation: 'WHEN_REQUIRED',
    ...(cfg.batch.s3Endpoint ? { endpoint: cfg.batch.s3Endpoint, forcePathStyle: true, ...local } : {}),
  });
  const sqs = new SQSClient({ region: cfg.batch.region, ...(cfg.batch.sqsEndpoint ? { endpoint: cfg.batch.sqsEndpoint, ...local } : {}) });
  batch = {
    ...getContainer(),
    store: new S3ObjectStore(s3, cfg.batch.bucket),
    queue: new SqsWorkQueue(sqs, cfg.batch.queueUrl),
    unzip: (z) => unzip(z, cfg.limits.maxImageBytes),
    limits: {
      maxImageBytes: cfg.limits.maxImageBytes,
      maxPresignedUrls: cfg.batch.maxPresignedUrls,
      presignExpiresSeconds: cfg.batch.presignExpiresSeconds,
    },
  };
  return batch;
};
