import type { SendMessageBatchCommand, SendMessageBatchCommandOutput, SQSClient } from '@aws-sdk/client-sqs';
import { SqsWorkQueue } from '../../../src/adapters/sqs-work-queue';
import type { WorkItem } from '../../../src/core/jobs/records';

const item = (i: number): WorkItem => ({
  v: 1,
  jobId: 'job',
  itemId: `item-${i}`,
  bucket: 'b',
  key: `uploads/job/${i}.jpg`,
  etag: 'e',
  model: 'm',
  topK: 5,
});

/** An SQS client that takes `latencyMs` per call, records each call's entries, and fails the calls `fails` picks. */
function fakeSqs(options: { latencyMs?: number; fails?: (call: number) => boolean } = {}) {
  const calls: string[][] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const client = {
    async send(command: SendMessageBatchCommand): Promise<Partial<SendMessageBatchCommandOutput>> {
      const call = calls.length;
      calls.push((command.input.Entries ?? []).map((e) => (JSON.parse(e.MessageBody ?? '{}') as WorkItem).itemId));
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((r) => setTimeout(r, options.latencyMs ?? 0));
      inFlight -= 1;
      return options.fails?.(call) ? { Failed: [{ Id: '0', Code: 'X', SenderFault: false, Message: 'throttled' }] } : { Successful: [] };
    },
  };
  return { client: client as unknown as Pick<SQSClient, 'send'>, calls, stats: () => ({ maxInFlight }) };
}

describe('SqsWorkQueue', () => {
  it('sends any number of items as SendMessageBatch calls of ten at most, every item once', async () => {
    const sqs = fakeSqs();
    await new SqsWorkQueue(sqs.client, 'url').send(Array.from({ length: 25 }, (_, i) => item(i)));
    expect(sqs.calls.map((c) => c.length)).toEqual([10, 10, 5]);
    expect(sqs.calls.flat()).toEqual(Array.from({ length: 25 }, (_, i) => `item-${i}`));
  });

  it('sends nothing for no items', async () => {
    const sqs = fakeSqs();
    await new SqsWorkQueue(sqs.client, 'url').send([]);
    expect(sqs.calls).toEqual([]);
  });

  it('keeps at most its limit of calls in flight', async () => {
    const sqs = fakeSqs({ latencyMs: 5 });
    await new SqsWorkQueue(sqs.client, 'url', 4).send(Array.from({ length: 200 }, (_, i) => item(i)));
    expect(sqs.calls).toHaveLength(20);
    expect(sqs.stats().maxInFlight).toBe(4);
  });

  it('throws when SQS refuses any message of a call, and starts no call after', async () => {
    const sqs = fakeSqs({ latencyMs: 1, fails: (call) => call === 2 });
    await expect(new SqsWorkQueue(sqs.client, 'url', 2).send(Array.from({ length: 100 }, (_, i) => item(i)))).rejects.toThrow(
      'SQS refused 1 of 10 messages: throttled',
    );
    expect(sqs.calls.length).toBeLessThanOrEqual(4);
  });
});
