import { createHash } from 'node:crypto';
import { ListDeadLetterSourceQueuesCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { queueArn } from '../../../../src/local/sqs/server';
import { sleep, startLocal } from './helpers';

type Local = Awaited<ReturnType<typeof startLocal>>;

const md5 = (text: string) => createHash('md5').update(text, 'utf8').digest('hex');
/** Text of every `<tag>` element, in document order, with XML's five entities and character references undone. */
const all = (xml: string, tag: string) =>
  [...xml.matchAll(new RegExp(`<${tag}>([^<]*)</${tag}>`, 'g'))].map((m) =>
    (m[1] ?? '')
      .replace(/&#x([0-9a-f]+);/gi, (_, hex: string) => String.fromCodePoint(Number.parseInt(hex, 16)))
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&quot;/g, '"')
      .replace(/&apos;/g, "'")
      .replace(/&amp;/g, '&'),
  );
const one = (xml: string, tag: string) => all(xml, tag)[0];

describe('local SQS server, through the query protocol of the AWS CLI', () => {
  let local: Local;
  let queueUrl: string;

  /** A form-encoded request as botocore's query serialiser sends it. */
  const query = async (fields: Record<string, string>, path = '/') => {
    const res = await fetch(`${local.server.url}${path}`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8',
        Authorization: 'AWS4-HMAC-SHA256 Credential=AKIDCLI/20260101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=00',
      },
      body: new URLSearchParams({ Version: '2012-11-05', ...fields }),
    });
    return { status: res.status, type: res.headers.get('content-type'), xml: await res.text() };
  };

  beforeEach(async () => {
    local = await startLocal({
      queues: [
        { name: 'dlq' },
        {
          name: 'work',
          attributes: { VisibilityTimeout: '1', RedrivePolicy: JSON.stringify({ deadLetterTargetArn: queueArn('dlq'), maxReceiveCount: 2 }) },
        },
        { name: 'other' },
      ],
    });
    queueUrl = local.server.queueUrl('work');
  });

  afterEach(async () => {
    await local.stop();
  });

  it('a message sent with the query protocol is received by the SDK with the same body, attributes and MD5s, and the other way round', async () => {
    // Prepare
    const body = 'héllo\r\n<item bucket="b"> & 🚀';
    const attributes = {
      'MessageAttribute.1.Name': 'model',
      'MessageAttribute.1.Value.DataType': 'String',
      'MessageAttribute.1.Value.StringValue': 'resnet',
      'MessageAttribute.2.Name': 'blob',
      'MessageAttribute.2.Value.DataType': 'Binary',
      'MessageAttribute.2.Value.BinaryValue': Buffer.from([1, 2, 3]).toString('base64'),
    };

    // Act: query → SDK
    const sent = await query({ Action: 'SendMessage', QueueUrl: queueUrl, MessageBody: body, ...attributes });
    const got = await local.client.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MessageAttributeNames: ['All'], MessageSystemAttributeNames: ['SenderId'] }),
    );
    // SDK → query
    const bySdk = await local.client.send(
      new SendMessageCommand({
        QueueUrl: local.server.queueUrl('other'),
        MessageBody: body,
        MessageAttributes: { model: { DataType: 'String', StringValue: 'resnet' } },
      }),
    );
    const received = await query({
      Action: 'ReceiveMessage',
      QueueUrl: local.server.queueUrl('other'),
      'MessageAttributeName.1': 'All',
      'AttributeName.1': 'All',
    });

    // Assess
    expect({ status: sent.status, type: sent.type }).toEqual({ status: 200, type: 'text/xml' });
    expect(sent.xml).toMatch(
      /^<\?xml version="1.0"\?><SendMessageResponse xmlns="http:\/\/queue.amazonaws.com\/doc\/2012-11-05\/"><SendMessageResult>/,
    );
    const message = got.Messages?.[0];
    expect(message?.MessageId).toBe(one(sent.xml, 'MessageId'));
    expect(message?.Body).toBe(body);
    expect(one(sent.xml, 'MD5OfMessageBody')).toBe(md5(body));
    expect(message?.MD5OfMessageAttributes).toBe(one(sent.xml, 'MD5OfMessageAttributes'));
    expect(message?.MessageAttributes).toEqual({
      model: { DataType: 'String', StringValue: 'resnet' },
      blob: { DataType: 'Binary', BinaryValue: new Uint8Array([1, 2, 3]) },
    });
    expect(message?.Attributes?.SenderId).toBe('AKIDCLI');
    expect(received.status).toBe(200);
    expect(one(received.xml, 'MessageId')).toBe(bySdk.MessageId);
    expect(one(received.xml, 'Body')).toBe(body);
    expect(one(received.xml, 'MD5OfBody')).toBe(md5(body));
    expect(one(received.xml, 'MD5OfMessageAttributes')).toBe(bySdk.MD5OfMessageAttributes);
    expect(received.xml).toContain(
      '<MessageAttribute><Name>model</Name><Value><StringValue>resnet</StringValue><DataType>String</DataType></Value></MessageAttribute>',
    );
    expect(received.xml).toContain('<Attribute><Name>SenderId</Name><Value>AKIDLOCAL</Value></Attribute>');
  });

  it('answers errors as an XML ErrorResponse with the awsQuery code, the status of the JSON side, and a RequestId', async () => {
    // Act
    const missing = await query({ Action: 'GetQueueUrl', QueueName: 'nope' });
    const badNumber = await query({ Action: 'ReceiveMessage', QueueUrl: queueUrl, MaxNumberOfMessages: '11' });
    const notANumber = await query({ Action: 'ReceiveMessage', QueueUrl: queueUrl, MaxNumberOfMessages: 'ten' });
    const unknown = await query({ Action: 'AddPermission', QueueUrl: queueUrl });
    const noAction = await query({});
    const badHandle = await query({ Action: 'DeleteMessage', QueueUrl: queueUrl, ReceiptHandle: 'garbage' });

    // Assess
    expect(missing).toMatchObject({ status: 400, type: 'text/xml' });
    expect(missing.xml).toMatch(
      /^<\?xml version="1.0"\?><ErrorResponse xmlns="http:\/\/queue.amazonaws.com\/doc\/2012-11-05\/"><Error><Type>Sender<\/Type><Code>AWS.SimpleQueueService.NonExistentQueue<\/Code><Message>The specified queue does not exist.<\/Message><Detail\/><\/Error><RequestId>[0-9a-f-]{36}<\/RequestId><\/ErrorResponse>$/,
    );
    expect([badNumber, notANumber].map((r) => [r.status, one(r.xml, 'Code'), one(r.xml, 'Message')])).toEqual([
      [400, 'InvalidParameterValue', 'Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.'],
      [400, 'InvalidParameterValue', 'Value ten for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.'],
    ]);
    expect([unknown, noAction, badHandle].map((r) => [r.status, one(r.xml, 'Code')])).toEqual([
      [400, 'InvalidAction'],
      [400, 'MissingAction'],
      [404, 'ReceiptHandleIsInvalid'],
    ]);
  });

  it('serves the whole message cycle: batch send, receive with attribute names, visibility change (single and batch), batch delete, purge', async () => {
    // Act
    const batch = await query({
      Action: 'SendMessageBatch',
      QueueUrl: queueUrl,
      'SendMessageBatchRequestEntry.1.Id': 'a',
      'SendMessageBatchRequestEntry.1.MessageBody': 'first',
      'SendMessageBatchRequestEntry.2.Id': 'b',
      'SendMessageBatchRequestEntry.2.MessageBody': 'second',
      'SendMessageBatchRequestEntry.3.Id': 'c',
      'SendMessageBatchRequestEntry.3.MessageBody': '',
    });
    const first = await query({
      Action: 'ReceiveMessage',
      QueueUrl: queueUrl,
      MaxNumberOfMessages: '10',
      VisibilityTimeout: '30',
      'AttributeName.1': 'ApproximateReceiveCount',
    });
    const [h1, h2] = all(first.xml, 'ReceiptHandle');
    const single = await query({ Action: 'ChangeMessageVisibility', QueueUrl: queueUrl, ReceiptHandle: h1 ?? '', VisibilityTimeout: '0' });
    const changed = await query({
      Action: 'ChangeMessageVisibilityBatch',
      QueueUrl: queueUrl,
      'ChangeMessageVisibilityBatchRequestEntry.1.Id': 'two',
      'ChangeMessageVisibilityBatchRequestEntry.1.ReceiptHandle': h2 ?? '',
      'ChangeMessageVisibilityBatchRequestEntry.1.VisibilityTimeout': '0',
    });
    const again = await query({
      Action: 'ReceiveMessage',
      QueueUrl: queueUrl,
      MaxNumberOfMessages: '10',
      'AttributeName.1': 'ApproximateReceiveCount',
    });
    const handles = all(again.xml, 'ReceiptHandle');
    const deleted = await query({
      Action: 'DeleteMessageBatch',
      QueueUrl: queueUrl,
      'DeleteMessageBatchRequestEntry.1.Id': 'x',
      'DeleteMessageBatchRequestEntry.1.ReceiptHandle': handles[0] ?? '',
      'DeleteMessageBatchRequestEntry.2.Id': 'y',
      'DeleteMessageBatchRequestEntry.2.ReceiptHandle': 'garbage',
    });
    await query({ Action: 'SendMessage', QueueUrl: queueUrl, MessageBody: 'to purge' });
    const purged = await query({ Action: 'PurgeQueue', QueueUrl: queueUrl });
    const counts = await query({
      Action: 'GetQueueAttributes',
      QueueUrl: queueUrl,
      'AttributeName.1': 'ApproximateNumberOfMessages',
      'AttributeName.2': 'ApproximateNumberOfMessagesNotVisible',
    });

    // Assess
    expect(all(batch.xml, 'Id')).toEqual(['a', 'b', 'c']);
    expect(batch.xml).toContain('<BatchResultErrorEntry><Id>c</Id><SenderFault>true</SenderFault><Code>MissingParameter</Code>');
    expect(all(first.xml, 'Body')).toEqual(['first', 'second']);
    expect(first.xml).toContain('<Attribute><Name>ApproximateReceiveCount</Name><Value>1</Value></Attribute>');
    expect(single.xml).toMatch(/^<\?xml version="1.0"\?><ChangeMessageVisibilityResponse [^>]+><ResponseMetadata><RequestId>/);
    expect(changed.xml).toContain('<ChangeMessageVisibilityBatchResultEntry><Id>two</Id></ChangeMessageVisibilityBatchResultEntry>');
    expect(all(again.xml, 'Body')).toEqual(['first', 'second']);
    expect(all(again.xml, 'Value')).toEqual(['2', '2']);
    expect(deleted.xml).toContain('<DeleteMessageBatchResultEntry><Id>x</Id></DeleteMessageBatchResultEntry>');
    expect(deleted.xml).toContain('<BatchResultErrorEntry><Id>y</Id><SenderFault>true</SenderFault><Code>ReceiptHandleIsInvalid</Code>');
    expect(purged.status).toBe(200);
    expect(counts.xml).toContain(
      '<GetQueueAttributesResult><Attribute><Name>ApproximateNumberOfMessages</Name><Value>0</Value></Attribute><Attribute><Name>ApproximateNumberOfMessagesNotVisible</Name><Value>0</Value></Attribute></GetQueueAttributesResult>',
    );
  });

  it('answers a query long poll as soon as a message arrives', async () => {
    // Act
    const started = Date.now();
    const polling = query({ Action: 'ReceiveMessage', QueueUrl: queueUrl, WaitTimeSeconds: '10' });
    await sleep(200);
    await local.client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'late' }));
    const res = await polling;

    // Assess
    expect(one(res.xml, 'Body')).toBe('late');
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('creates, lists and deletes queues, takes a GET query or a post to the queue URL, and lists dead-letter sources in both protocols', async () => {
    // Act
    const created = await query({ Action: 'CreateQueue', QueueName: 'made', 'Attribute.1.Name': 'VisibilityTimeout', 'Attribute.1.Value': '7' });
    const listed = await (await fetch(`${local.server.url}/?Action=ListQueues&QueueNamePrefix=m&Version=2012-11-05`)).text();
    const attributes = await query({ Action: 'GetQueueAttributes', 'AttributeName.1': 'VisibilityTimeout' }, '/000000000000/made');
    const sources = await query({ Action: 'ListDeadLetterSourceQueues', QueueUrl: local.server.queueUrl('dlq') });
    const sourcesBySdk = await local.client.send(new ListDeadLetterSourceQueuesCommand({ QueueUrl: local.server.queueUrl('dlq') }));
    const noSources = await local.client.send(new ListDeadLetterSourceQueuesCommand({ QueueUrl: local.server.queueUrl('other') }));
    const deleted = await query({ Action: 'DeleteQueue', QueueUrl: local.server.queueUrl('made') });
    const afterDelete = await query({ Action: 'GetQueueUrl', QueueName: 'made' });

    // Assess
    expect(one(created.xml, 'QueueUrl')).toBe(local.server.queueUrl('made'));
    expect(all(listed, 'QueueUrl')).toEqual([local.server.queueUrl('made')]);
    expect(attributes.xml).toContain('<Attribute><Name>VisibilityTimeout</Name><Value>7</Value></Attribute>');
    expect(all(sources.xml, 'QueueUrl')).toEqual([queueUrl]);
    expect(sourcesBySdk.queueUrls).toEqual([queueUrl]);
    expect(noSources.queueUrls ?? []).toEqual([]);
    expect(deleted.status).toBe(200);
    expect(one(afterDelete.xml, 'Code')).toBe('AWS.SimpleQueueService.NonExistentQueue');
  });

  it('still answers a JSON request as JSON, and refuses an X-Amz-Target naming an object property', async () => {
    const res = await fetch(local.server.url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-amz-json-1.0', 'X-Amz-Target': 'AmazonSQS.toString' },
      body: '{}',
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('x-amzn-query-error')).toBe('InvalidAction;Sender');
    expect(await res.json()).toEqual({ __type: 'com.amazonaws.sqs#InvalidAction', message: 'The action toString is not valid for this endpoint.' });
  });
});
