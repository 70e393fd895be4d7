import { SqsError } from '../../../../src/local/sqs/errors';
import { decodeQueryRequest, encodeQueryError, encodeQueryResult } from '../../../../src/local/sqs/query-protocol';
import { escapeXml } from '../../../../src/shared/xml';

const form = (fields: Record<string, string>) => new URLSearchParams({ Version: '2012-11-05', ...fields });
const NS = 'xmlns="http://queue.amazonaws.com/doc/2012-11-05/"';

describe('query protocol: decoding a form into the JSON members of the action', () => {
  it('SendMessage: flattened message attributes (in any index order) become the MessageAttributes map; integers become numbers', () => {
    // Act: the fields botocore's query serialiser sends for `aws sqs send-message --delay-seconds 5 --message-attributes …`
    const { action, input } = decodeQueryRequest(
      form({
        Action: 'SendMessage',
        QueueUrl: 'http://127.0.0.1:9324/000000000000/work',
        MessageBody: 'héllo & bye',
        DelaySeconds: '5',
        'MessageAttribute.2.Name': 'blob',
        'MessageAttribute.2.Value.DataType': 'Binary',
        'MessageAttribute.2.Value.BinaryValue': 'AQID',
        'MessageAttribute.1.Name': 'model',
        'MessageAttribute.1.Value.DataType': 'String',
        'MessageAttribute.1.Value.StringValue': 'resnet',
        'MessageSystemAttribute.1.Name': 'AWSTraceHeader',
        'MessageSystemAttribute.1.Value.DataType': 'String',
        'MessageSystemAttribute.1.Value.StringValue': 'Root=1-abc',
      }),
    );

    // Assess
    expect(action).toBe('SendMessage');
    expect(input).toEqual({
      QueueUrl: 'http://127.0.0.1:9324/000000000000/work',
      MessageBody: 'héllo & bye',
      DelaySeconds: 5,
      MessageAttributes: { model: { DataType: 'String', StringValue: 'resnet' }, blob: { DataType: 'Binary', BinaryValue: 'AQID' } },
      MessageSystemAttributes: { AWSTraceHeader: { DataType: 'String', StringValue: 'Root=1-abc' } },
    });
  });

  it('SendMessageBatch and DeleteMessageBatch: SendMessageBatchRequestEntry.N / DeleteMessageBatchRequestEntry.N become Entries, in index order', () => {
    const send = decodeQueryRequest(
      form({
        Action: 'SendMessageBatch',
        QueueUrl: 'q',
        'SendMessageBatchRequestEntry.10.Id': 'ten',
        'SendMessageBatchRequestEntry.10.MessageBody': 'b10',
        'SendMessageBatchRequestEntry.2.Id': 'two',
        'SendMessageBatchRequestEntry.2.MessageBody': 'b2',
        'SendMessageBatchRequestEntry.2.MessageAttribute.1.Name': 'n',
        'SendMessageBatchRequestEntry.2.MessageAttribute.1.Value.DataType': 'Number',
        'SendMessageBatchRequestEntry.2.MessageAttribute.1.Value.StringValue': '42',
      }),
    );
    const remove = decodeQueryRequest(
      form({
        Action: 'DeleteMessageBatch',
        QueueUrl: 'q',
        'DeleteMessageBatchRequestEntry.1.Id': 'a',
        'DeleteMessageBatchRequestEntry.1.ReceiptHandle': 'h',
      }),
    );

    expect(send.input.Entries).toEqual([
      { Id: 'two', MessageBody: 'b2', MessageAttributes: { n: { DataType: 'Number', StringValue: '42' } } },
      { Id: 'ten', MessageBody: 'b10' },
    ]);
    expect(remove.input).toEqual({ QueueUrl: 'q', Entries: [{ Id: 'a', ReceiptHandle: 'h' }] });
  });

  it('ReceiveMessage, GetQueueAttributes, CreateQueue: AttributeName.N lists and Attribute.N.Name/Value maps', () => {
    const receive = decodeQueryRequest(
      form({
        Action: 'ReceiveMessage',
        QueueUrl: 'q',
        'AttributeName.1': 'All',
        'MessageSystemAttributeName.1': 'SenderId',
        'MessageAttributeName.1': 'model',
        'MessageAttributeName.2': 'trace.*',
        MaxNumberOfMessages: '10',
        WaitTimeSeconds: '20',
        VisibilityTimeout: '0',
      }),
    );
    const attributes = decodeQueryRequest(
      form({ Action: 'GetQueueAttributes', QueueUrl: 'q', 'AttributeName.1': 'QueueArn', 'AttributeName.2': 'VisibilityTimeout' }),
    );
    const create = decodeQueryRequest(
      form({
        Action: 'CreateQueue',
        QueueName: 'work',
        'Attribute.1.Name': 'VisibilityTimeout',
        'Attribute.1.Value': '60',
        'Attribute.2.Name': 'RedrivePolicy',
        'Attribute.2.Value': '{"a":1}',
      }),
    );

    expect(receive.input).toEqual({
      QueueUrl: 'q',
      AttributeNames: ['All'],
      MessageSystemAttributeNames: ['SenderId'],
      MessageAttributeNames: ['model', 'trace.*'],
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 20,
      VisibilityTimeout: 0,
    });
    expect(attributes.input).toEqual({ QueueUrl: 'q', AttributeNames: ['QueueArn', 'VisibilityTimeout'] });
    expect(create.input).toEqual({ QueueName: 'work', Attributes: { VisibilityTimeout: '60', RedrivePolicy: '{"a":1}' } });
  });

  it('leaves a non-integer where an integer belongs as text, for the action to refuse by name; drops unmodelled fields', () => {
    const { input } = decodeQueryRequest(
      form({ Action: 'ReceiveMessage', QueueUrl: 'q', MaxNumberOfMessages: 'ten', Unrelated: 'x', 'X-Amz-Date': '20260101T000000Z' }),
    );
    expect(input).toEqual({ QueueUrl: 'q', MaxNumberOfMessages: 'ten' });
  });

  it('refuses a request without Action (MissingAction) and an unknown one, also one named like an object property (InvalidAction)', () => {
    const codeOf = (fields: Record<string, string>) => {
      try {
        decodeQueryRequest(form(fields));
        return 'decoded';
      } catch (err: unknown) {
        return err instanceof SqsError ? `${err.statusCode} ${err.queryCode}` : String(err);
      }
    };
    expect(codeOf({})).toBe('400 MissingAction');
    expect(codeOf({ Action: 'TagQueue' })).toBe('400 InvalidAction');
    expect(codeOf({ Action: 'toString' })).toBe('400 InvalidAction');
    expect(codeOf({ Action: '__proto__' })).toBe('400 InvalidAction');
  });
});

describe('query protocol: encoding results and errors as SQS XML', () => {
  it('ReceiveMessage: one flattened <Message> per message, system attributes as <Attribute>, message attributes as <MessageAttribute><Value>', () => {
    // Act
    const xml = encodeQueryResult(
      'ReceiveMessage',
      {
        Messages: [
          {
            MessageId: 'id-1',
            ReceiptHandle: 'rh',
            MD5OfBody: 'md5',
            Body: 'a < b & c\r\n',
            Attributes: { SenderId: 'local', ApproximateReceiveCount: '1' },
            MessageAttributes: { model: { DataType: 'String', StringValue: 'resnet' }, blob: { DataType: 'Binary', BinaryValue: 'AQID' } },
            MD5OfMessageAttributes: 'amd5',
          },
          { MessageId: 'id-2', ReceiptHandle: 'rh2', MD5OfBody: 'm2', Body: 'two' },
        ],
      },
      'req-1',
    );

    // Assess
    expect(xml).toBe(
      `<?xml version="1.0"?><ReceiveMessageResponse ${NS}><ReceiveMessageResult>` +
        '<Message><MessageId>id-1</MessageId><ReceiptHandle>rh</ReceiptHandle><MD5OfBody>md5</MD5OfBody><Body>a &lt; b &amp; c&#xD;\n</Body>' +
        '<Attribute><Name>SenderId</Name><Value>local</Value></Attribute><Attribute><Name>ApproximateReceiveCount</Name><Value>1</Value></Attribute>' +
        '<MD5OfMessageAttributes>amd5</MD5OfMessageAttributes>' +
        '<MessageAttribute><Name>model</Name><Value><StringValue>resnet</StringValue><DataType>String</DataType></Value></MessageAttribute>' +
        '<MessageAttribute><Name>blob</Name><Value><BinaryValue>AQID</BinaryValue><DataType>Binary</DataType></Value></MessageAttribute></Message>' +
        '<Message><MessageId>id-2</MessageId><ReceiptHandle>rh2</ReceiptHandle><MD5OfBody>m2</MD5OfBody><Body>two</Body></Message>' +
        '</ReceiveMessageResult><ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></ReceiveMessageResponse>',
    );
  });

  it('batch results: flattened <…ResultEntry> and <BatchResultErrorEntry> with SenderFault as true/false', () => {
    const xml = encodeQueryResult(
      'DeleteMessageBatch',
      { Successful: [{ Id: 'a' }], Failed: [{ Id: 'b', SenderFault: true, Code: 'ReceiptHandleIsInvalid', Message: 'bad "b"' }] },
      'r',
    );
    expect(xml).toContain(
      '<DeleteMessageBatchResult><DeleteMessageBatchResultEntry><Id>a</Id></DeleteMessageBatchResultEntry>' +
        '<BatchResultErrorEntry><Id>b</Id><SenderFault>true</SenderFault><Code>ReceiptHandleIsInvalid</Code><Message>bad &quot;b&quot;</Message></BatchResultErrorEntry>' +
        '</DeleteMessageBatchResult>',
    );
  });

  it('ListQueues repeats <QueueUrl>; ListDeadLetterSourceQueues too (its member is queueUrls); an action without output has only ResponseMetadata', () => {
    expect(encodeQueryResult('ListQueues', { QueueUrls: ['u1', 'u2'], NextToken: 't' }, 'r')).toContain(
      '<ListQueuesResult><QueueUrl>u1</QueueUrl><QueueUrl>u2</QueueUrl><NextToken>t</NextToken></ListQueuesResult>',
    );
    expect(encodeQueryResult('ListDeadLetterSourceQueues', { queueUrls: ['u1'] }, 'r')).toContain(
      '<ListDeadLetterSourceQueuesResult><QueueUrl>u1</QueueUrl></ListDeadLetterSourceQueuesResult>',
    );
    expect(encodeQueryResult('ListQueues', { QueueUrls: [] }, 'r')).toContain('<ListQueuesResult></ListQueuesResult>');
    expect(encodeQueryResult('DeleteMessage', {}, 'r-9')).toBe(
      `<?xml version="1.0"?><DeleteMessageResponse ${NS}><ResponseMetadata><RequestId>r-9</RequestId></ResponseMetadata></DeleteMessageResponse>`,
    );
  });

  it('errors: <ErrorResponse> with Type Sender (Receiver for 5xx), the awsQuery code and the message', () => {
    const missing = new SqsError('QueueDoesNotExist', 'AWS.SimpleQueueService.NonExistentQueue', 400, 'The specified queue does not exist.');
    const internal = new SqsError('InternalError', 'InternalError', 500, 'disk <full>');
    expect(encodeQueryError(missing, 'r')).toBe(
      `<?xml version="1.0"?><ErrorResponse ${NS}><Error><Type>Sender</Type><Code>AWS.SimpleQueueService.NonExistentQueue</Code>` +
        '<Message>The specified queue does not exist.</Message><Detail/></Error><RequestId>r</RequestId></ErrorResponse>',
    );
    expect(encodeQueryError(internal, 'r')).toContain('<Type>Receiver</Type><Code>InternalError</Code><Message>disk &lt;full&gt;</Message>');
  });

  it("escapes XML's special characters, and CR so that a CRLF body survives an XML parser", () => {
    expect(escapeXml('<a href="x">&amp;\'\r\n\t</a>')).toBe('&lt;a href=&quot;x&quot;&gt;&amp;amp;&apos;&#xD;\n\t&lt;/a&gt;');
  });
});
