// Trigger: S3 ObjectCreated under uploads/ — registers and queues each uploaded image (zips and manifests fan out).
import type { S3Event } from 'aws-lambda';
import { ingestUpload } from '../core/batch';
import { decodeEventKey } from '../core/jobs';
import { getBatchDeps } from './container';
import { eventHandler } from './middleware/events';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logger, metrics } from './middleware/observability';

export const handler = eventHandler(async (event: S3Event) => {
  const deps = getBatchDeps();
  // Sequential and throwing: S3 retries a failed invocation, and every step is idempotent.
  for (const record of event.Records) {
    const key = decodeEventKey(record.s3.object.key);
    const result = await ingestUpload(deps, { key, etag: record.s3.object.eTag ?? '' });
    logger.info('ingested', { key, ...result });
    metrics.addMetric('ImagesQueued', MetricUnit.Count, result.queued);
  }
});
