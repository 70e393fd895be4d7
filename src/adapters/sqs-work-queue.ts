import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { WorkQueue } from '../core/jobs/ports';
import type { WorkItem } from '../core/jobs/records';

/** Queues work items on SQS, ten per SendMessageBatch call, failing loudly on any partial failure. */
export class SqsWorkQueue implements WorkQueue {
  constructor(
    private readonly client: SQSClient,
    private readonly queueUrl: string,
  ) {}

  async send(items: readonly WorkItem[]): Promise<void> {
    for (let i = 0; i < items.length; i += 10) {
      const chunk = items.slice(i, i + 10);
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
    }
  }
}
