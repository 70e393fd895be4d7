import { createHash } from 'node:crypto';
import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListQueuesCommand,
  PurgeQueueCommand,
  QueueDoesNotExist,
  QueueNameExists,
  ReceiptHandleIsInvalid,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SetQueueAttributesCommand,
  SQSServiceException,
  TooManyEntriesInBatchRequest,
} from '@aws-sdk/client-sqs';
import { queueArn } from '../../../../src/local/sqs/server';
import { sleep, startLocal } from './helpers';

type Local = Awaited<ReturnType<typeof startLocal>>;

async function count(local: Local, queueUrl: string): Promise<Record<string, number>> {
  const out = await local.client.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'],
    }),
  );
  return Object.fromEntries(Object.entries(out.Attributes ?? {}).map(([k, v]) => [k, Number(v)]));
}

describe('local SQS server, through @aws-sdk/client-sqs', () => {
  let local: Local;
  let queueUrl: string;

  beforeEach(async () => {
    local = await startLocal();
    queueUrl = (await local.client.send(new CreateQueueCommand({ QueueName: 'work', Attributes: { VisibilityTimeout: '1' } }))).QueueUrl ?? '';
  });

  afterEach(async () => {
    await local.stop();
  });

  it('creates queues idempotently, lists them and resolves their URL', async () => {
    // Act
    const again = await local.client.send(new CreateQueueCommand({ QueueName: 'work', Attributes: { VisibilityTimeout: '1' } }));
    const byName = await local.client.send(new GetQueueUrlCommand({ QueueName: 'work' }));
    await local.client.send(new CreateQueueCommand({ QueueName: 'other' }));
    const listed = await local.client.send(new ListQueuesCommand({ QueueNamePrefix: 'wo' }));

    // Assess
    expect(queueUrl).toBe(`${local.server.url}/000000000000/work`);
    expect(again.QueueUrl).toBe(queueUrl);
    expect(byName.QueueUrl).toBe(queueUrl);
    expect(listed.QueueUrls).toEqual([queueUrl]);
    await expect(local.client.send(new CreateQueueCommand({ QueueName: 'work', Attributes: { VisibilityTimeout: '5' } }))).rejects.toBeInstanceOf(
      QueueNameExists,
    );
  });

  it('round-trips a message with attributes, with MD5s the SDK accepts', async () => {
    // Prepare
    const body = 'héllo {"bucket":"b","key":"k.jpg"} 🚀';

    // Act
    const sent = await local.client.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: body,
        MessageAttributes: {
          model: { DataType: 'String', StringValue: 'resnet' },
          size: { DataType: 'Number', StringValue: '42' },
          blob: { DataType: 'Binary', BinaryValue: new Uint8Array([1, 2, 3]) },
        },
      }),
    );
    const received = await local.client.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
    );
    const [message] = received.Messages ?? [];
    await local.client.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message?.ReceiptHandle }));

    // Assess
    expect(sent.MD5OfMessageBody).toBe(createHash('md5').update(body).digest('hex'));
    // The value AWS documents for these three attributes, computed independently of the emulator's code.
    expect(sent.MD5OfMessageAttributes).toBe(referenceAttributesMd5());
    expect(received.Messages).toHaveLength(1);
    expect(message?.MessageId).toBe(sent.MessageId);
    expect(message?.Body).toBe(body);
    expect(message?.MD5OfMessageAttributes).toBe(sent.MD5OfMessageAttributes);
    expect(message?.MessageAttributes?.model).toEqual({ DataType: 'String', StringValue: 'resnet' });
    expect(Array.from(message?.MessageAttributes?.blob?.BinaryValue ?? [])).toEqual([1, 2, 3]);
    expect(message?.Attributes).toMatchObject({ ApproximateReceiveCount: '1', SenderId: 'AKIDLOCAL' });
    expect(Number(message?.Attributes?.SentTimestamp)).toBeGreaterThan(Date.now() - 10_000);
    expect(await count(local, queueUrl)).toEqual({
      ApproximateNumberOfMessages: 0,
      ApproximateNumberOfMessagesNotVisible: 0,
      ApproximateNumberOfMessagesDelayed: 0,
    });
  });

  it('hides a received message for the visibility timeout, then redelivers it with a new handle and a higher receive count', async () => {
    // Prepare
    await local.client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'retry me' }));
    const receive = () =>
      local.client.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MessageSystemAttributeNames: ['ApproximateReceiveCount'] }));

    // Act
    const first = (await receive()).Messages?.[0];
    const whileHidden = await receive();
    const hiddenCounts = await count(local, queueUrl);
    await sleep(1100);
    const second = (await receive()).Messages?.[0];
    // The first consumer's late delete must not remove the message someone else now holds.
    await local.client.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: first?.ReceiptHandle }));
    const afterStaleDelete = await count(local, queueUrl);
    await local.client.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: second?.ReceiptHandle }));
    // Deleting again with a handle of a message that is gone succeeds, as on AWS.
    await local.client.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: second?.ReceiptHandle }));

    // Assess
    expect(whileHidden.Messages ?? []).toHaveLength(0);
    expect(hiddenCounts.ApproximateNumberOfMessagesNotVisible).toBe(1);
    expect(first?.Attributes?.ApproximateReceiveCount).toBe('1');
    expect(second?.MessageId).toBe(first?.MessageId);
    expect(second?.Attributes?.ApproximateReceiveCount).toBe('2');
    expect(second?.ReceiptHandle).not.toBe(first?.ReceiptHandle);
    expect(afterStaleDelete.ApproximateNumberOfMessagesNotVisible).toBe(1);
    expect((await count(local, queueUrl)).ApproximateNumberOfMessagesNotVisible).toBe(0);
  });

  it('honours a per-receive VisibilityTimeout and ChangeMessageVisibility to 0', async () => {
    // Prepare
    await local.client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'x' }));

    // Act
    const held = (await local.client.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, VisibilityTimeout: 30 }))).Messages?.[0];
    await sleep(1100);
    const stillHidden = await local.client.send(new ReceiveMessageCommand({ QueueUrl: queueUrl }));
    await local.client.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: held?.ReceiptHandle, VisibilityTimeout: 0 }));
    const released = await local.client.send(new ReceiveMessageCommand({ QueueUrl: queueUrl }));

    // Assess
    expect(stillHidden.Messages ?? []).toHaveLength(0);
    expect(released.Messages?.[0]?.MessageId).toBe(held?.MessageId);
  });

  it('answers a long poll as soon as a message arrives', async () => {
    // Prepare
    const started = Date.now();
    const polling = local.client.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 10 }));
    await sleep(300);

    // Act
    await local.client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'wake up' }));
    const out = await polling;

    // Assess
    expect(out.Messages?.[0]?.Body).toBe('wake up');
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('answers a long poll when an in-flight message becomes visible again, and empty when the wait ends', async () => {
    // Prepare
    await local.client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'comes back' }));
    await local.client.send(new ReceiveMessageCommand({ QueueUrl: queueUrl }));

    // Act
    const started = Date.now();
    const back = await local.client.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 5 }));
    const reappearedAfter = Date.now() - started;
    await local.client.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: back.Messages?.[0]?.ReceiptHandle }));
    const emptyStarted = Date.now();
    const empty = await local.client.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 1 }));

    // Assess
    expect(back.Messages?.[0]?.Body).toBe('comes back');
    expect(reappearedAfter).toBeLessThan(2500);
    expect(empty.Messages ?? []).toHaveLength(0);
    expect(Date.now() - emptyStarted).toBeGreaterThanOrEqual(900);
  });

  it('delays delivery by DelaySeconds', async () => {
    // Act
    await local.client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'later', DelaySeconds: 1 }));
    const delayed = await count(local, queueUrl);
    const early = await local.client.send(new ReceiveMessageCommand({ QueueUrl: queueUrl }));
    const late = await local.client.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 3 }));

    // Assess
    expect(delayed.ApproximateNumberOfMessagesDelayed).toBe(1);
    expect(early.Messages ?? []).toHaveLength(0);
    expect(late.Messages?.[0]?.Body).toBe('later');
  });

  it('moves a message to the DLQ instead of delivering it a (maxReceiveCount + 1)th time', async () => {
    // Prepare
    const dlqUrl = (await local.client.send(new CreateQueueCommand({ QueueName: 'work-dlq' }))).QueueUrl ?? '';
    await local.client.send(
      new SetQueueAttributesCommand({
        QueueUrl: queueUrl,
        Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: queueArn('work-dlq'), maxReceiveCount: 2 }) },
      }),
    );
    const sent = await local.client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'poison' }));
    const receive = (url: string) =>
      local.client.send(new ReceiveMessageCommand({ QueueUrl: url, VisibilityTimeout: 0, MessageSystemAttributeNames: ['All'] }));

    // Act
    const first = await receive(queueUrl);
    const second = await receive(queueUrl);
    const third = await receive(queueUrl);
    const dead = await receive(dlqUrl);
    const attributes = await local.client.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['All'] }));

    // Assess
    expect(first.Messages?.[0]?.Attributes?.ApproximateReceiveCount).toBe('1');
    expect(second.Messages?.[0]?.Attributes?.ApproximateReceiveCount).toBe('2');
    expect(third.Messages ?? []).toHaveLength(0);
    expect(dead.Messages?.[0]?.MessageId).toBe(sent.MessageId);
    expect(dead.Messages?.[0]?.Body).toBe('poison');
    expect(dead.Messages?.[0]?.Attributes?.DeadLetterQueueSourceArn).toBe(queueArn('work'));
    expect(JSON.parse(attributes.Attributes?.RedrivePolicy ?? '{}')).toEqual({ deadLetterTargetArn: queueArn('work-dlq'), maxReceiveCount: 2 });
    expect(attributes.Attributes).toMatchObject({ QueueArn: queueArn('work'), VisibilityTimeout: '1', MessageRetentionPeriod: '345600' });
  });

  it('rejects a RedrivePolicy whose dead-letter queue does not exist', async () => {
    await expect(
      local.client.send(
        new SetQueueAttributesCommand({
          QueueUrl: queueUrl,
          Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: queueArn('nope'), maxReceiveCount: 2 }) },
        }),
      ),
    ).rejects.toMatchObject({ name: 'InvalidParameterValue', $metadata: { httpStatusCode: 400 } });
  });

  it('sends and deletes in batches, reporting per-entry failures', async () => {
    // Act
    const sent = await local.client.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: [
          { Id: 'a', MessageBody: 'one' },
          { Id: 'b', MessageBody: 'two' },
          { Id: 'c', MessageBody: 'three' },
          { Id: 'bad', MessageBody: 'x', MessageAttributes: { n: { DataType: 'Number', StringValue: 'not a number' } } },
        ],
      }),
    );
    const received = await local.client.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 30 }));
    const deleted = await local.client.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: [
          ...(received.Messages ?? []).map((m, i) => ({ Id: `m${i}`, ReceiptHandle: m.ReceiptHandle })),
          { Id: 'garbage', ReceiptHandle: 'not-a-handle' },
        ],
      }),
    );

    // Assess
    expect(sent.Successful?.map((s) => s.Id).sort()).toEqual(['a', 'b', 'c']);
    expect(sent.Failed).toEqual([expect.objectContaining({ Id: 'bad', SenderFault: true, Code: 'InvalidParameterValue' })]);
    expect((received.Messages ?? []).map((m) => m.Body).sort()).toEqual(['one', 'three', 'two']);
    expect(deleted.Successful).toHaveLength(3);
    expect(deleted.Failed).toEqual([expect.objectContaining({ Id: 'garbage', Code: 'ReceiptHandleIsInvalid' })]);
    expect(await count(local, queueUrl)).toEqual({
      ApproximateNumberOfMessages: 0,
      ApproximateNumberOfMessagesNotVisible: 0,
      ApproximateNumberOfMessagesDelayed: 0,
    });
    await expect(
      local.client.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: Array.from({ length: 11 }, (_, i) => ({ Id: `e${i}`, MessageBody: 'x' })),
        }),
      ),
    ).rejects.toBeInstanceOf(TooManyEntriesInBatchRequest);
  });

  it('caps a receive at MaxNumberOfMessages and rejects values outside 1-10', async () => {
    // Prepare
    await local.client.send(
      new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: Array.from({ length: 5 }, (_, i) => ({ Id: `e${i}`, MessageBody: `m${i}` })) }),
    );

    // Act
    const three = await local.client.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 3 }));

    // Assess
    expect(three.Messages).toHaveLength(3);
    await expect(local.client.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 11 }))).rejects.toMatchObject({
      name: 'InvalidParameterValue',
    });
  });

  it('purges and deletes queues', async () => {
    // Prepare
    await local.client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'x' }));

    // Act
    await local.client.send(new PurgeQueueCommand({ QueueUrl: queueUrl }));
    const afterPurge = await count(local, queueUrl);
    await local.client.send(new DeleteQueueCommand({ QueueUrl: queueUrl }));

    // Assess
    expect(afterPurge.ApproximateNumberOfMessages).toBe(0);
    await expect(local.client.send(new GetQueueUrlCommand({ QueueName: 'work' }))).rejects.toBeInstanceOf(QueueDoesNotExist);
  });

  it('returns the SDK named errors for an unknown queue and a malformed receipt handle', async () => {
    // Act
    const unknown = await local.client
      .send(new SendMessageCommand({ QueueUrl: `${local.server.url}/000000000000/missing`, MessageBody: 'x' }))
      .catch((err: unknown) => err);
    const badHandle = await local.client
      .send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: 'garbage' }))
      .catch((err: unknown) => err);

    // Assess
    expect(unknown).toBeInstanceOf(QueueDoesNotExist);
    expect(unknown).toBeInstanceOf(SQSServiceException);
    expect(unknown).toMatchObject({
      name: 'QueueDoesNotExist',
      message: 'The specified queue does not exist.',
      Code: 'AWS.SimpleQueueService.NonExistentQueue',
      $fault: 'client',
      $metadata: { httpStatusCode: 400 },
    });
    expect(badHandle).toBeInstanceOf(ReceiptHandleIsInvalid);
  });

  it('rejects what SQS rejects: empty body and invalid characters', async () => {
    await expect(local.client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: '' }))).rejects.toMatchObject({
      name: 'MissingParameter',
    });
    await expect(local.client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'a\u0000b' }))).rejects.toMatchObject({
      name: 'InvalidMessageContents',
    });
  });
});

/** MD5 of {blob: Binary [1,2,3], model: String "resnet", size: Number "42"} by the algorithm in the SQS developer guide. */
function referenceAttributesMd5(): string {
  const field = (b: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    return Buffer.concat([len, b]);
  };
  const utf8 = (s: string) => field(Buffer.from(s, 'utf8'));
  return createHash('md5')
    .update(
      Buffer.concat([
        utf8('blob'),
        utf8('Binary'),
        Buffer.from([2]),
        field(Buffer.from([1, 2, 3])),
        utf8('model'),
        utf8('String'),
        Buffer.from([1]),
        utf8('resnet'),
        utf8('size'),
        utf8('Number'),
        Buffer.from([1]),
        utf8('42'),
      ]),
    )
    .digest('hex');
}
