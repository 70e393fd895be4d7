// Trigger: S3 ObjectCreated under uploads/ — registers and queues each uploaded image (zips and manifests fan out).

import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { S3Event } from 'aws-lambda';
import { listZip } from '../adapters/zip';
import { config } from '../config';
import { type IngestDeps, ingestUpload } from '../core/jobs/ingest';
import { decodeEventKey } from '../core/jobs/records';
import { modelCatalog } from './deps/catalog';
import { workQueue } from './deps/queue';
import { objectStore } from './deps/storage';
import { eventHandler } from './middleware/events';
import { logger, metrics } from './middleware/observability';

// Built at init: the S3 and SQS clients, the manifests, and the jobs this container has read.
const { limits, ingest } = config();
const zipLimits = {
  maxEntries: ingest.maxZipEntries,
  maxTotalBytes: ingest.maxZipTotalBytes,
  // An entry is an image: the image limit is its limit too.
  maxEntryBytes: limits.maxImageBytes,
  maxRatio: ingest.maxZipRatio,
  ratioMinBytes: ingest.zipRatioMinBytes,
};
const deps: IngestDeps = {
  store: objectStore(),
  catalog: modelCatalog(),
  queue: workQueue(),
  unzip: (zip) => listZip(zip, zipLimits),
  ingestLimits: { maxZipBytes: ingest.maxZipBytes, maxManifestBytes: ingest.maxManifestBytes, maxManifestLines: ingest.maxManifestLines },
  jobs: new Map(),
};

export const handler = eventHandler(async (event: S3Event) => {
  // Sequential and throwing: S3 retries a failed invocation, and every step is idempotent.
  for (const record of event.Records) {
    const key = decodeEventKey(record.s3.object.key);
    const result = await ingestUpload(deps, { key, etag: record.s3.object.eTag ?? '' });
    logger.info('ingested', { key, ...result });
    metrics.addMetric('ImagesQueued', MetricUnit.Count, result.queued);
  }
});
