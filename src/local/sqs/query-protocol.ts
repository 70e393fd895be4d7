// The awsQuery wire format of SQS (form-encoded `Action=…&Version=2012-11-05`, XML answers), which the AWS CLI v2
// of Debian and older SDKs speak. It only translates: a request becomes the same member tree the JSON protocol
// carries, and an action's JSON-shaped result becomes XML, so one set of actions serves both protocols.

import { escapeXml } from '../../shared/xml';
import { errors, type SqsError } from './errors';

/** A member tree as the JSON protocol carries it: what every action takes and returns. */
export type Members = Record<string, unknown>;

/** Member shapes, transcribed from the SQS service model (botocore `sqs/2012-11-05`, protocol `query`). */
type Shape =
  | { type: 'string' | 'integer' | 'boolean' }
  /** Lists are flattened: `<Name>.1`, `<Name>.2`… on the way in, repeated `<Name>` elements on the way out. */
  | { type: 'list'; wire: string; member: Shape }
  /** Maps are flattened too: `<Name>.N.Name` and `<Name>.N.Value` in, repeated `<Name><Name/><Value/></Name>` out. */
  | { type: 'map'; wire: string; value: Shape }
  | Structure;
interface Structure {
  type: 'structure';
  members: Record<string, Shape>;
}

const string: Shape = { type: 'string' };
const integer: Shape = { type: 'integer' };
const boolean: Shape = { type: 'boolean' };
const list = (wire: string, member: Shape = string): Shape => ({ type: 'list', wire, member });
const map = (wire: string, value: Shape = string): Shape => ({ type: 'map', wire, value });
const structure = (members: Record<string, Shape>): Structure => ({ type: 'structure', members });

// BinaryValue travels as base64 text in both protocols, so a string shape carries it unchanged.
const attributeValue = structure({ StringValue: string, BinaryValue: string, DataType: string });
const queueUrl = { QueueUrl: string };
const batchFailure = structure({ Id: string, SenderFault: boolean, Code: string, Message: string });
const idOnly = structure({ Id: string });
const sendFields = {
  MessageBody: string,
  DelaySeconds: integer,
  MessageAttributes: map('MessageAttribute', attributeValue),
  MessageSystemAttributes: map('MessageSystemAttribute', attributeValue),
  MessageDeduplicationId: string,
  MessageGroupId: string,
};
const sendResult = { MD5OfMessageBody: string, MD5OfMessageAttributes: string, MD5OfMessageSystemAttributes: string, MessageId: string };
const batchResult = (entryWire: string, entry: Structure) =>
  structure({ Successful: list(entryWire, entry), Failed: list('BatchResultErrorEntry', batchFailure) });

/** Input and (for actions that answer with more than their request id) output shape of every action served. */
const ACTIONS: Record<string, { input: Structure; output?: Structure }> = {
  CreateQueue: { input: structure({ QueueName: string, Attributes: map('Attribute') }), output: structure(queueUrl) },
  GetQueueUrl: { input: structure({ QueueName: string, QueueOwnerAWSAccountId: string }), output: structure(queueUrl) },
  ListQueues: {
    input: structure({ QueueNamePrefix: string, NextToken: string, MaxResults: integer }),
    output: structure({ QueueUrls: list('QueueUrl'), NextToken: string }),
  },
  ListDeadLetterSourceQueues: {
    input: structure({ ...queueUrl, NextToken: string, MaxResults: integer }),
    output: structure({ queueUrls: list('QueueUrl'), NextToken: string }),
  },
  GetQueueAttributes: {
    input: structure({ ...queueUrl, AttributeNames: list('AttributeName') }),
    output: structure({ Attributes: map('Attribute') }),
  },
  SetQueueAttributes: { input: structure({ ...queueUrl, Attributes: map('Attribute') }) },
  SendMessage: { input: structure({ ...queueUrl, ...sendFields }), output: structure(sendResult) },
  SendMessageBatch: {
    input: structure({ ...queueUrl, Entries: list('SendMessageBatchRequestEntry', structure({ Id: string, ...sendFields })) }),
    output: batchResult('SendMessageBatchResultEntry', structure({ Id: string, ...sendResult })),
  },
  ReceiveMessage: {
    input: structure({
      ...queueUrl,
      AttributeNames: list('AttributeName'),
      MessageSystemAttributeNames: list('MessageSystemAttributeName'),
      MessageAttributeNames: list('MessageAttributeName'),
      MaxNumberOfMessages: integer,
      VisibilityTimeout: integer,
      WaitTimeSeconds: integer,
      ReceiveRequestAttemptId: string,
    }),
    output: structure({
      Messages: list(
        'Message',
        structure({
          MessageId: string,
          ReceiptHandle: string,
          MD5OfBody: string,
          Body: string,
          Attributes: map('Attribute'),
          MD5OfMessageAttributes: string,
          MessageAttributes: map('MessageAttribute', attributeValue),
        }),
      ),
    }),
  },
  DeleteMessage: { input: structure({ ...queueUrl, ReceiptHandle: string }) },
  DeleteMessageBatch: {
    input: structure({ ...queueUrl, Entries: list('DeleteMessageBatchRequestEntry', structure({ Id: string, ReceiptHandle: string })) }),
    output: batchResult('DeleteMessageBatchResultEntry', idOnly),
  },
  ChangeMessageVisibility: { input: structure({ ...queueUrl, ReceiptHandle: string, VisibilityTimeout: integer }) },
  ChangeMessageVisibilityBatch: {
    input: structure({
      ...queueUrl,
      Entries: list('ChangeMessageVisibilityBatchRequestEntry', structure({ Id: string, ReceiptHandle: string, VisibilityTimeout: integer })),
    }),
    output: batchResult('ChangeMessageVisibilityBatchResultEntry', idOnly),
  },
  PurgeQueue: { input: structure(queueUrl) },
  DeleteQueue: { input: structure(queueUrl) },
};

export const XML_NAMESPACE = 'http://queue.amazonaws.com/doc/2012-11-05/';

/** Indices N of the `<prefix>N…` keys present, ascending: flattened members need not arrive in order. */
function indices(params: URLSearchParams, prefix: string): number[] {
  const found = new Set<number>();
  for (const key of params.keys()) {
    if (!key.startsWith(prefix)) continue;
    const match = /^(\d+)(?:\.|$)/.exec(key.slice(prefix.length));
    if (match?.[1]) found.add(Number(match[1]));
  }
  return [...found].sort((a, b) => a - b);
}

function has(params: URLSearchParams, key: string): boolean {
  if (params.has(key)) return true;
  for (const k of params.keys()) if (k.startsWith(`${key}.`)) return true;
  return false;
}

function decodeValue(params: URLSearchParams, key: string, shape: Shape): unknown {
  switch (shape.type) {
    case 'string':
      return params.get(key) ?? undefined;
    case 'integer': {
      const raw = params.get(key);
      // Left as text when it is no integer, so the action's own range check names the parameter and the value.
      return raw !== null && /^-?\d+$/.test(raw) ? Number(raw) : (raw ?? undefined);
    }
    case 'boolean': {
      const raw = params.get(key);
      return raw === null ? undefined : raw === 'true';
    }
    case 'list':
      return indices(params, `${key}.`).map((i) => decodeValue(params, `${key}.${i}`, shape.member));
    case 'map': {
      const out: Members = {};
      for (const i of indices(params, `${key}.`)) {
        const name = params.get(`${key}.${i}.Name`);
        if (name !== null) out[name] = decodeValue(params, `${key}.${i}.Value`, shape.value);
      }
      return out;
    }
    case 'structure':
      return decodeStructure(params, `${key}.`, shape);
  }
}

function decodeStructure(params: URLSearchParams, prefix: string, shape: Structure): Members {
  const out: Members = {};
  for (const [name, member] of Object.entries(shape.members)) {
    const key = prefix + (member.type === 'list' || member.type === 'map' ? member.wire : name);
    if (has(params, key)) out[name] = decodeValue(params, key, member);
  }
  return out;
}

/** One query-protocol request, decoded into the action it names and that action's input as JSON members. */
export function decodeQueryRequest(params: URLSearchParams): { action: string; input: Members } {
  const action = params.get('Action');
  if (action === null || action === '') throw errors.missingAction();
  const spec = Object.hasOwn(ACTIONS, action) ? ACTIONS[action] : undefined;
  if (!spec) throw errors.invalidAction(action);
  return { action, input: decodeStructure(params, '', spec.input) };
}

function element(name: string, content: string): string {
  return `<${name}>${content}</${name}>`;
}

function encodeValue(value: unknown, shape: Shape): string {
  switch (shape.type) {
    case 'string':
    case 'integer':
    case 'boolean':
      return escapeXml(String(value));
    case 'structure':
      return encodeStructure((value ?? {}) as Members, shape);
    default:
      throw new Error(`a ${shape.type} is encoded by its container`);
  }
}

function encodeStructure(value: Members, shape: Structure): string {
  let out = '';
  for (const [name, member] of Object.entries(shape.members)) {
    const v = value[name];
    if (v === undefined || v === null) continue;
    if (member.type === 'list') {
      for (const item of v as unknown[]) out += element(member.wire, encodeValue(item, member.member));
    } else if (member.type === 'map') {
      for (const [key, item] of Object.entries(v as Members)) {
        out += element(member.wire, element('Name', escapeXml(key)) + element('Value', encodeValue(item, member.value)));
      }
    } else {
      out += element(name, encodeValue(v, member));
    }
  }
  return out;
}

/** The XML answer to a successful action, from the same result members the JSON protocol sends. */
export function encodeQueryResult(action: string, result: Members, requestId: string): string {
  const output = ACTIONS[action]?.output;
  const body = output ? element(`${action}Result`, encodeStructure(result, output)) : '';
  const metadata = element('ResponseMetadata', element('RequestId', requestId));
  return `<?xml version="1.0"?><${action}Response xmlns="${XML_NAMESPACE}">${body}${metadata}</${action}Response>`;
}

/** SQS's XML error document; the code is the awsQuery one (`AWS.SimpleQueueService.NonExistentQueue`). */
export function encodeQueryError(err: SqsError, requestId: string): string {
  const error =
    element('Type', err.statusCode < 500 ? 'Sender' : 'Receiver') +
    element('Code', escapeXml(err.queryCode)) +
    element('Message', escapeXml(err.message));
  return `<?xml version="1.0"?><ErrorResponse xmlns="${XML_NAMESPACE}">${element('Error', `${error}<Detail/>`)}${element('RequestId', requestId)}</ErrorResponse>`;
}
