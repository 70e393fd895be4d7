import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { mapBounded } from '../core/jobs/map-bounded';
import type { WorkQueue } from '../core/jobs/ports';
import type { WorkItem } from '../core/jobs/records';

/** SQS's limit on the entries of one SendMessageBatch call. */
const SQS_BATCH_ENTRIES = 10;

/**
 * SendMessageBatch calls in flight at once: a 100,000-line manifest is 10,000 calls, which one at a time would not fit
 * in ingest's timeout.
 */
const SENDS_IN_FLIGHT = 16;

/** Queues work items on SQS, ten per SendMessageBatch call, failing loudly on any partial failure. */
export class SqsWorkQueue implements WorkQueue {
  constructor(
    private readonly client: Pick<SQSClient, 'send'>,
    private readonly queueUrl: string,
    private readonly inFlight = SENDS_IN_FLIGHT,
  ) {}

  async send(items: readonly WorkItem[]): Promise<void> {
    const chunks = Array.from({ length: Math.ceil(items.length / SQS_BATCH_ENTRIES) }, (_, c) =>
      items.slice(c * SQS_BATCH_ENTRIES, (c + 1) * SQS_BATCH_ENTRIES),
    );
    await mapBounded(chunks, this.inFlight, async (chunk) => {
      const res = await this.client.send(
        new SendMessageBatchCommand({
          QueueUrl: this.queueUrl,
          Entries: chunk.map((item, j) => ({ Id: String(j), MessageBody: JSON.stringify(item) })),
        }),
      );
      // The caller (an S3 event) is retried on throw, so a lost enqueue becomes a duplicate, never a gap.
      if (res.Failed && res.Failed.length > 0) {
        throw new Error(`SQS refused ${res.Failed.length} of ${chunk.length} messages: ${res.Failed[0]?.Message ?? ''}`);
      }
    });
  }
}
