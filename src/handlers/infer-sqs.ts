// Trigger: SQS (infer queue) — classifies a micro-batch of queued images; failed items go back via ReportBatchItemFailures.
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { type ItemOutcome, processMessages } from '../core/jobs/process-items';
import type { WorkItem } from '../core/jobs/records';
import { getClassifier } from './deps/classifier';
import { jobLimits, objectStore } from './deps/storage';
import { eventHandler } from './middleware/events';
import { logger, metrics } from './middleware/observability';

const processor = new BatchProcessor(EventType.SQS);
// Built at init (Lambda's init phase runs with the full CPU, before any request waits): catalog, hashes, sessions warming.
const deps = { ...getClassifier(), store: objectStore(), limits: jobLimits() };

const isText = (v: unknown): v is string => typeof v === 'string' && v !== '';

const parse = (record: SQSRecord): WorkItem | Error => {
  try {
    const item = JSON.parse(record.body) as WorkItem;
    const shaped =
      item?.v === 1 &&
      isText(item.jobId) &&
      isText(item.itemId) &&
      isText(item.bucket) &&
      isText(item.key) &&
      typeof item.etag === 'string' &&
      isText(item.model) &&
      Number.isInteger(item.topK);
    if (!shaped) return new Error('not a work item');
    // A redelivery may follow an attempt that stored a result before failing: only a first delivery stays fresh.
    return { ...item, fresh: item.fresh === true && record.attributes.ApproximateReceiveCount === '1' };
  } catch (err: unknown) {
    return err instanceof Error ? err : new Error(String(err));
  }
};

export const handler = eventHandler(async (event: SQSEvent, context) => {
  maybeCrash(event);
  const parsed = event.Records.map(parse);
  // The whole micro-batch is classified in one go; the processor then settles each message on its own.
  const outcomes = await processMessages(deps, parsed);
  const ofItems = outcomes.filter((_, i) => !(parsed[i] instanceof Error));
  metrics.addMetric('BatchImagesProcessed', MetricUnit.Count, ofItems.filter((o) => o === undefined).length);
  metrics.addMetric('BatchImagesRetried', MetricUnit.Count, ofItems.filter((o) => o instanceof Error).length);
  metrics.addMetric('BatchItemsDropped', MetricUnit.Count, ofItems.filter((o) => o !== undefined && !(o instanceof Error)).length);
  const byMessage = new Map<string, ItemOutcome>();
  event.Records.forEach((record, i) => {
    const o = outcomes[i];
    const p = parsed[i];
    // Settled, not retried: a forged or stale message would fail the same way every time.
    if (o !== undefined && !(o instanceof Error) && p && !(p instanceof Error))
      logger.warn('work item dropped', { jobId: p.jobId, key: p.key, reason: o.dropped });
    byMessage.set(record.messageId, o);
  });
  return processPartialResponse(
    event,
    async (record: SQSRecord) => {
      // A malformed message fails every time and so ends in the DLQ after maxReceiveCount, for an operator to see.
      const err = byMessage.get(record.messageId);
      if (err instanceof Error) {
        logger.warn('message will be retried', { messageId: record.messageId, error: err.message });
        throw err;
      }
    },
    processor,
    { context },
  );
});

/** Test-only fault injection (env FAULT_CRASH_ON_KEY): dies like a container killed mid-batch, once per marker file. */
function maybeCrash(event: SQSEvent): void {
  const marker = process.env.FAULT_CRASH_ON_KEY;
  if (!marker) return;
  if (event.Records.some((r) => r.body.includes(marker) && Number(r.attributes.ApproximateReceiveCount) === 1)) {
    logger.error('fault injection: crashing mid-batch', { marker });
    process.exit(137);
  }
}
