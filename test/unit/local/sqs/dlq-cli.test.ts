import { GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { queueArn } from '../../../../src/local/sqs/server';
import { listDlq, main, parseArgs } from '../../../../src/tools/cli/dlq';
import { startLocal } from './helpers';

// The test lives with the emulator it drives; the CLI itself is src/tools/cli/dlq.ts.
describe('dlq CLI against the local SQS', () => {
  it('lists dead letters without consuming them, then redrives them to the source queue', async () => {
    // Prepare
    const local = await startLocal({
      queues: [
        { name: 'infer-queue', attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: queueArn('infer-dlq'), maxReceiveCount: 1 }) } },
        { name: 'infer-dlq' },
      ],
    });
    const queueUrl = local.server.queueUrl('infer-queue');
    const dlqUrl = local.server.queueUrl('infer-dlq');
    const env = { SQS_ENDPOINT: local.server.url, DLQ_URL: dlqUrl, QUEUE_URL: queueUrl };
    try {
      for (const body of ['{"key":"a.jpg"}', '{"key":"b.jpg"}']) {
        await local.client.send(
          new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body, MessageAttributes: { tenant: { DataType: 'String', StringValue: 't1' } } }),
        );
      }
      // One failed receive each, then the next receive dead-letters them (maxReceiveCount 1).
      await local.client.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 0 }));
      await local.client.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10 }));

      // Act
      const lines: string[] = [];
      const listCode = await main(['list'], env, (l) => lines.push(l));
      const listedAgain = await listDlq(local.client, dlqUrl, 10);
      const redriveLines: string[] = [];
      const redriveCode = await main(['redrive', '--max', '5'], env, (l) => redriveLines.push(l));
      const back = await local.client.send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, MessageAttributeNames: ['All'] }),
      );
      const dlqLeft = await local.client.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['All'] }));

      // Assess
      expect(listCode).toBe(0);
      const listed = lines.slice(0, -1).map((l) => JSON.parse(l) as { body: string; sourceArn: string });
      expect(listed.map((m) => m.body).sort()).toEqual(['{"key":"a.jpg"}', '{"key":"b.jpg"}']);
      expect(listed.every((m) => m.sourceArn === queueArn('infer-queue'))).toBe(true);
      expect(JSON.parse(lines[lines.length - 1] ?? '{}')).toMatchObject({ listed: 2 });
      // Listing left them in the DLQ and visible.
      expect(listedAgain).toHaveLength(2);
      expect(redriveCode).toBe(0);
      expect(JSON.parse(redriveLines[0] ?? '{}')).toMatchObject({ moved: 2 });
      expect((back.Messages ?? []).map((m) => m.Body).sort()).toEqual(['{"key":"a.jpg"}', '{"key":"b.jpg"}']);
      expect(back.Messages?.[0]?.MessageAttributes?.tenant?.StringValue).toBe('t1');
      expect(dlqLeft.Attributes).toMatchObject({ ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '0' });
    } finally {
      await local.stop();
    }
  });

  it('defaults to the local queues and rejects unknown flags', () => {
    expect(parseArgs(['list'], {})).toEqual({
      action: 'list',
      queueUrl: 'http://127.0.0.1:9324/000000000000/infer-dlq',
      toUrl: 'http://127.0.0.1:9324/000000000000/infer-queue',
      max: 1000,
    });
    expect(() => parseArgs(['redrive', '--force'], {})).toThrow(/usage/);
    expect(() => parseArgs(['purge'], {})).toThrow(/usage/);
  });
});
