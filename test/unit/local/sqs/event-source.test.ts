import { GetQueueAttributesCommand, SendMessageBatchCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { Context, SQSEvent } from 'aws-lambda';
import { failedMessageIds, startSqsEventSource } from '../../../../src/local/sqs/event-source';
import { queueArn } from '../../../../src/local/sqs/server';
import { eventually, sleep, startLocal } from './helpers';

type Local = Awaited<ReturnType<typeof startLocal>>;

interface Invocation {
  event: SQSEvent;
  context: Context;
}

async function approximateCounts(local: Local, queueUrl: string): Promise<[number, number]> {
  const out = await local.client.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
  );
  return [Number(out.Attributes?.ApproximateNumberOfMessages), Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible)];
}

describe('local SQS event source', () => {
  let local: Local;
  let queueUrl: string;
  const stops: Array<() => Promise<void>> = [];

  beforeEach(async () => {
    local = await startLocal({ queues: [{ name: 'infer-queue', attributes: { VisibilityTimeout: '1' } }] });
    queueUrl = local.server.queueUrl('infer-queue');
  });

  afterEach(async () => {
    for (const stop of stops.splice(0)) await stop();
    await local.stop();
  });

  function run(
    handler: (event: SQSEvent, context: Context) => Promise<unknown>,
    options: { batchSize?: number; window?: number; visibilityTimeout?: number } = {},
  ) {
    const source = startSqsEventSource({
      client: local.client,
      queueUrl,
      queueArn: queueArn('infer-queue'),
      batchSize: options.batchSize ?? 10,
      maximumBatchingWindowSeconds: options.window ?? 0,
      maxConcurrency: 2,
      visibilityTimeout: options.visibilityTimeout,
      functionName: 'infer-sqs',
      handler,
      onError: () => {},
    });
    stops.push(() => source.stop());
    return source;
  }

  it('deletes the messages not listed in batchItemFailures and redelivers the failed one', async () => {
    // Prepare
    const invocations: Invocation[] = [];
    await local.client.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: ['a', 'b', 'c'].map((body) => ({
          Id: body,
          MessageBody: body,
          MessageAttributes: { model: { DataType: 'String', StringValue: 'resnet' } },
        })),
      }),
    );

    // Act
    run(async (event, context) => {
      invocations.push({ event, context });
      const b = event.Records.find((r) => r.body === 'b');
      return { batchItemFailures: b && invocations.length === 1 ? [{ itemIdentifier: b.messageId }] : [] };
    });
    await eventually(async () =>
      invocations.some((i) => i.event.Records.some((r) => r.attributes.ApproximateReceiveCount === '2')) ? true : undefined,
    );
    await eventually(async () => ((await approximateCounts(local, queueUrl)).every((n) => n === 0) ? true : undefined));

    // Assess
    const [first, ...rest] = invocations;
    const bodies = (first?.event.Records ?? []).map((r) => r.body).sort();
    const redelivered = rest.flatMap((i) => i.event.Records);
    expect(bodies).toEqual(['a', 'b', 'c']);
    expect(redelivered.map((r) => [r.body, r.attributes.ApproximateReceiveCount])).toEqual([['b', '2']]);
    const record = first?.event.Records[0];
    expect(record).toEqual({
      messageId: expect.any(String),
      receiptHandle: expect.any(String),
      body: expect.any(String),
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: expect.stringMatching(/^\d{13}$/),
        SenderId: 'AKIDLOCAL',
        ApproximateFirstReceiveTimestamp: expect.stringMatching(/^\d{13}$/),
      },
      messageAttributes: { model: { stringValue: 'resnet', stringListValues: [], binaryListValues: [], dataType: 'String' } },
      md5OfBody: expect.stringMatching(/^[0-9a-f]{32}$/),
      md5OfMessageAttributes: expect.stringMatching(/^[0-9a-f]{32}$/),
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:infer-queue',
      awsRegion: 'us-east-1',
    });
    expect(first?.context.functionName).toBe('infer-sqs');
    expect(first?.context.awsRequestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(first?.context.getRemainingTimeInMillis()).toBeGreaterThan(0);
  });

  it('deletes nothing when the handler throws: the whole batch comes back after the visibility timeout', async () => {
    // Prepare
    const seen: Array<Array<[string, string]>> = [];
    await local.client.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: ['x', 'y'].map((b) => ({ Id: b, MessageBody: b })) }));

    // Act
    run(async (event) => {
      seen.push(event.Records.map((r) => [r.body, r.attributes.ApproximateReceiveCount]));
      if (seen.length === 1) throw new Error('model crashed');
      return undefined;
    });
    await eventually(async () => (seen.length >= 2 ? true : undefined));
    await eventually(async () => ((await approximateCounts(local, queueUrl)).every((n) => n === 0) ? true : undefined));

    // Assess
    expect(seen[0]?.sort()).toEqual([
      ['x', '1'],
      ['y', '1'],
    ]);
    expect(seen[1]?.sort()).toEqual([
      ['x', '2'],
      ['y', '2'],
    ]);
  });

  it('retries the whole batch when the response names a message that is not in it', async () => {
    // Prepare
    let calls = 0;
    await local.client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'only' }));

    // Act
    run(async () => {
      calls += 1;
      return calls === 1 ? { batchItemFailures: [{ itemIdentifier: 'not-in-batch' }] } : { batchItemFailures: [] };
    });
    await eventually(async () => (calls >= 2 ? true : undefined));
    await eventually(async () => ((await approximateCounts(local, queueUrl)).every((n) => n === 0) ? true : undefined));

    // Assess
    expect(calls).toBe(2);
  });

  it('gathers messages that arrive within the batching window into one invocation', async () => {
    // Prepare
    const sizes: number[] = [];
    run(
      async (event) => {
        sizes.push(event.Records.length);
      },
      { batchSize: 10, window: 1, visibilityTimeout: 30 },
    );

    // Act
    for (const body of ['1', '2', '3']) {
      await local.client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }));
      await sleep(200);
    }
    await eventually(async () => (sizes.length > 0 ? true : undefined), 5000);

    // Assess
    expect(sizes).toEqual([3]);
  });

  it('never puts one message twice in a batch when its visibility runs out within the window', async () => {
    // Prepare
    const batches: string[][] = [];
    await local.client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'slow window' }));

    // Act
    run(
      async (event) => {
        batches.push(event.Records.map((r) => r.body));
      },
      { batchSize: 10, window: 1.5 },
    );
    await eventually(async () => (batches.length > 0 ? true : undefined), 5000);
    await eventually(async () => ((await approximateCounts(local, queueUrl)).every((n) => n === 0) ? true : undefined));

    // Assess
    expect(batches).toEqual([['slow window']]);
  });

  it('stops promptly while long-polling an empty queue', async () => {
    // Prepare
    const source = run(async () => undefined);
    await sleep(200);

    // Act
    const started = Date.now();
    await source.stop();

    // Assess
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe('failedMessageIds (ReportBatchItemFailures rules)', () => {
  const batch = new Set(['m1', 'm2']);

  it.each([
    ['undefined', undefined, []],
    ['null', null, []],
    ['an object without batchItemFailures', { ok: true }, []],
    ['an empty list', { batchItemFailures: [] }, []],
    ['one failure', { batchItemFailures: [{ itemIdentifier: 'm2' }] }, ['m2']],
  ])('treats %s as the listed failures', (_name, response, expected) => {
    expect([...(failedMessageIds(response, batch) ?? new Set(['invalid']))]).toEqual(expected);
  });

  it.each([
    ['an unknown id', { batchItemFailures: [{ itemIdentifier: 'm3' }] }],
    ['an empty id', { batchItemFailures: [{ itemIdentifier: '' }] }],
    ['a null id', { batchItemFailures: [{ itemIdentifier: null }] }],
    ['a misnamed key', { batchItemFailures: [{ id: 'm1' }] }],
    ['a non-list', { batchItemFailures: 'm1' }],
    ['a string response', 'ok'],
  ])('treats %s as an invalid response (whole batch failed)', (_name, response) => {
    expect(failedMessageIds(response, batch)).toBeUndefined();
  });
});
