// Local SQS: speaks both protocols of SQS, the AWS JSON 1.0 of @aws-sdk/client-sqs v3 (POST /, X-Amz-Target:
// AmazonSQS.<Action>) and the query protocol of the AWS CLI (form-encoded Action=…, XML answers), through one set of actions.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { errors, SqsError } from './errors';
import { acquireLock } from './journal';
import { type MessageAttributeValue, md5OfMessageAttributes } from './md5';
import { decodeQueryRequest, encodeQueryError, encodeQueryResult } from './query-protocol';
import { ACCOUNT_ID, type QueueSpec, type SendInput, SqsStore, type StoredMessage } from './store';

export type { QueueSpec } from './store';
export { queueArn } from './store';

/** Options of {@link startSqsServer}. */
export interface SqsServerOptions {
  /** Defaults to 127.0.0.1. */
  host?: string;
  /** Defaults to 9324 (ElasticMQ's port); 0 picks a free one. */
  port?: number;
  /** Where the journal lives; created if missing. */
  dataDir: string;
  /** Created (or reconfigured) at start, in an order that lets a RedrivePolicy name a DLQ listed after it. */
  queues?: QueueSpec[];
  /** fsync every journal write: survives power loss, not just a process crash, at a few ms per request. */
  fsync?: boolean;
  /** Make messages that were in flight when the last process died receivable at once, instead of after their timeout. */
  releaseInFlightOnStart?: boolean;
}

/** A running emulator. */
export interface SqsServer {
  /** Base URL, also the SDK `endpoint`: http://host:port */
  url: string;
  /** Queue URL of `name` on this server. */
  queueUrl(name: string): string;
  close(): Promise<void>;
}

type Body = Record<string, unknown>;

interface Waiter {
  max: number;
  visibility: number | undefined;
  resolve: (messages: StoredMessage[]) => void;
  timer: NodeJS.Timeout;
}

const MAX_REQUEST_BYTES = 16 * 1024 * 1024;
const SYSTEM_ATTRIBUTES = [
  'SenderId',
  'SentTimestamp',
  'ApproximateReceiveCount',
  'ApproximateFirstReceiveTimestamp',
  'AWSTraceHeader',
  'DeadLetterQueueSourceArn',
];

function str(body: Body, key: string, required = true): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) {
    if (required) throw errors.missingParameter(key);
    return undefined;
  }
  if (typeof value !== 'string') throw errors.invalidParameterValue(`Value for parameter ${key} must be a string.`);
  return value;
}

function requiredStr(body: Body, key: string): string {
  return str(body, key) ?? '';
}

function int(body: Body, key: string, min: number, max: number): number | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw errors.invalidParameterValue(
      `Value ${String(value)} for parameter ${key} is invalid. Reason: Must be between ${min} and ${max}, if provided.`,
    );
  }
  return value;
}

function strings(body: Body, key: string): string[] {
  const value = body[key];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((v): v is string => typeof v === 'string')) {
    throw errors.invalidParameterValue(`Value for parameter ${key} must be a list of strings.`);
  }
  return value;
}

function record(body: Body, key: string): Record<string, unknown> {
  const value = body[key];
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw errors.invalidParameterValue(`Value for parameter ${key} must be a map.`);
  return value as Record<string, unknown>;
}

function stringMap(body: Body, key: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(record(body, key))) {
    if (typeof v !== 'string') throw errors.invalidAttributeValue(`Value for attribute ${k} must be a string.`);
    out[k] = v;
  }
  return out;
}

function messageAttributes(body: Body): Record<string, MessageAttributeValue> {
  const out: Record<string, MessageAttributeValue> = {};
  for (const [name, raw] of Object.entries(record(body, 'MessageAttributes'))) {
    const v = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
    const attr: MessageAttributeValue = { DataType: typeof v.DataType === 'string' ? v.DataType : '' };
    if (typeof v.StringValue === 'string') attr.StringValue = v.StringValue;
    if (typeof v.BinaryValue === 'string') attr.BinaryValue = v.BinaryValue;
    out[name] = attr;
  }
  return out;
}

function entries(body: Body): Body[] {
  const value = body.Entries;
  if (!Array.isArray(value) || value.length === 0) throw errors.emptyBatchRequest();
  if (value.length > 10) throw errors.tooManyEntries(value.length);
  const seen = new Set<string>();
  return value.map((raw: unknown) => {
    const entry = (typeof raw === 'object' && raw !== null ? raw : {}) as Body;
    const id = entry.Id;
    if (typeof id !== 'string' || !/^[A-Za-z0-9_-]{1,80}$/.test(id)) throw errors.invalidBatchEntryId();
    if (seen.has(id)) throw errors.batchEntryIdsNotDistinct(id);
    seen.add(id);
    return entry;
  });
}

function failure(id: string, err: unknown): Body {
  if (err instanceof SqsError) return { Id: id, SenderFault: true, Code: err.queryCode, Message: err.message };
  return { Id: id, SenderFault: false, Code: 'InternalError', Message: err instanceof Error ? err.message : String(err) };
}

/** Runs a batch action entry by entry, as SQS does: one entry's failure never fails the others. */
function perEntry(list: Body[], apply: (entry: Body) => Body): { Successful: Body[]; Failed: Body[] } {
  const Successful: Body[] = [];
  const Failed: Body[] = [];
  for (const entry of list) {
    const id = String(entry.Id);
    try {
      Successful.push({ Id: id, ...apply(entry) });
    } catch (err: unknown) {
      Failed.push(failure(id, err));
    }
  }
  return { Successful, Failed };
}

function senderId(req: http.IncomingMessage): string {
  // The SigV4 access key id, so SenderId tells producers apart the way an IAM identity does on AWS.
  const match = /Credential=([^/,\s]+)\//.exec(req.headers.authorization ?? '');
  return match?.[1] ?? 'AIDAEMULATEDSENDER';
}

function selectMessageAttributes(attributes: Record<string, MessageAttributeValue>, requested: string[]): Record<string, MessageAttributeValue> {
  const out: Record<string, MessageAttributeValue> = {};
  for (const [name, value] of Object.entries(attributes)) {
    const wanted = requested.some((r) => r === 'All' || r === '.*' || r === name || (r.endsWith('.*') && name.startsWith(r.slice(0, -1))));
    if (wanted) out[name] = value;
  }
  return out;
}

function toWire(m: StoredMessage, systemNames: string[], attributeNames: string[]): Body {
  const out: Body = { MessageId: m.id, ReceiptHandle: m.receipt, MD5OfBody: m.md5, Body: m.body };
  const all = systemNames.includes('All');
  const system: Record<string, string | undefined> = {
    SenderId: m.senderId,
    SentTimestamp: String(m.sent),
    ApproximateReceiveCount: String(m.receiveCount),
    ApproximateFirstReceiveTimestamp: String(m.firstReceive ?? m.sent),
    AWSTraceHeader: m.traceHeader,
    DeadLetterQueueSourceArn: m.deadLetterSourceArn,
  };
  const attributes: Record<string, string> = {};
  for (const name of SYSTEM_ATTRIBUTES) {
    const value = system[name];
    if (value !== undefined && (all || systemNames.includes(name))) attributes[name] = value;
  }
  if (Object.keys(attributes).length > 0) out.Attributes = attributes;
  const selected = selectMessageAttributes(m.attributes, attributeNames);
  const md5 = md5OfMessageAttributes(selected);
  if (md5 !== undefined) {
    out.MessageAttributes = selected;
    out.MD5OfMessageAttributes = md5;
  }
  return out;
}

/** A serialised answer: the body and its content type, plus any headers the protocol adds. */
interface Answer {
  contentType: string;
  payload: string;
  headers?: Record<string, string>;
}

/** One of the two wire formats SQS speaks; both decode to, and encode from, the same action members. */
interface WireProtocol {
  decode(req: http.IncomingMessage, body: Buffer): { action: string; input: Body };
  encode(action: string, result: Body, requestId: string): Answer;
  encodeError(err: SqsError, requestId: string): Answer;
}

const JSON_CONTENT_TYPE = 'application/x-amz-json-1.0';

/** AWS JSON 1.0, what @aws-sdk/client-sqs v3 speaks: `X-Amz-Target: AmazonSQS.<Action>`, members as JSON. */
const jsonProtocol: WireProtocol = {
  decode: (req, raw) => {
    const target = req.headers['x-amz-target'];
    const action = typeof target === 'string' && target.startsWith('AmazonSQS.') ? target.slice('AmazonSQS.'.length) : undefined;
    if (req.method !== 'POST' || action === undefined) throw errors.invalidAction(`${req.method ?? ''} ${String(target)}`);
    let body: unknown;
    try {
      body = raw.length === 0 ? {} : JSON.parse(raw.toString('utf8'));
    } catch {
      throw new SqsError('SerializationException', 'SerializationException', 400, 'Request body is not valid JSON.');
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new SqsError('SerializationException', 'SerializationException', 400, 'Request body must be a JSON object.');
    }
    return { action, input: body as Body };
  },
  encode: (_action, result) => ({ contentType: JSON_CONTENT_TYPE, payload: JSON.stringify(result) }),
  // The SDK is awsQueryCompatible: it takes the error code from this header before the body's __type.
  encodeError: (err) => ({
    contentType: JSON_CONTENT_TYPE,
    payload: JSON.stringify({ __type: `com.amazonaws.sqs#${err.type}`, message: err.message }),
    headers: { 'x-amzn-query-error': `${err.queryCode};${err.statusCode < 500 ? 'Sender' : 'Receiver'}` },
  }),
};

/** The query protocol of the AWS CLI and older SDKs: `Action=…` in a form body (or a GET's query), XML back. */
const queryProtocol: WireProtocol = {
  decode: (req, raw) => {
    if (req.method !== 'POST' && req.method !== 'GET') throw errors.invalidAction(`${req.method ?? ''} ${req.url ?? ''}`);
    const url = new URL(req.url ?? '/', 'http://sqs.invalid');
    const params = url.searchParams;
    if (/^application\/x-www-form-urlencoded\b/i.test(req.headers['content-type'] ?? '')) {
      for (const [key, value] of new URLSearchParams(raw.toString('utf8'))) params.append(key, value);
    }
    const decoded = decodeQueryRequest(params);
    // Older clients post to the queue's own URL instead of naming it in QueueUrl.
    if (decoded.input.QueueUrl === undefined && url.pathname.split('/').filter(Boolean).length === 2) {
      decoded.input.QueueUrl = `http://${req.headers.host ?? 'localhost'}${url.pathname}`;
    }
    return decoded;
  },
  encode: (action, result, requestId) => ({ contentType: 'text/xml', payload: encodeQueryResult(action, result, requestId) }),
  encodeError: (err, requestId) => ({ contentType: 'text/xml', payload: encodeQueryError(err, requestId) }),
};

function answer(res: http.ServerResponse, status: number, requestId: string, { contentType, payload, headers }: Answer): void {
  res.writeHead(status, {
    'Content-Type': contentType,
    'Content-Length': Buffer.byteLength(payload),
    'x-amzn-RequestId': requestId,
    ...headers,
  });
  res.end(payload);
}

/** Starts the emulator; resolves once it listens and the queues of `opts.queues` exist. */
export async function startSqsServer(opts: SqsServerOptions): Promise<SqsServer> {
  const host = opts.host ?? '127.0.0.1';
  const releaseLock = acquireLock(opts.dataDir);
  let store: SqsStore;
  try {
    store = SqsStore.open(opts.dataDir, { fsync: opts.fsync, releaseInFlight: opts.releaseInFlightOnStart });
    // A queue whose RedrivePolicy names another listed queue must come after it.
    const pending = [...(opts.queues ?? [])];
    while (pending.length > 0) {
      const ready = pending.findIndex((spec) => {
        const target = /"deadLetterTargetArn"\s*:\s*"arn:aws:sqs:[^:]*:[^:]*:([^"]+)"/.exec(spec.attributes?.RedrivePolicy ?? '')?.[1];
        return target === undefined || store.has(target) || !pending.some((p) => p.name === target);
      });
      const [spec] = pending.splice(Math.max(ready, 0), 1);
      if (spec) store.ensureQueue(spec);
    }
  } catch (err: unknown) {
    releaseLock();
    throw err;
  }

  let baseUrl = '';
  const queueUrl = (name: string) => `${baseUrl}/${ACCOUNT_ID}/${name}`;
  const waiters = new Map<string, Waiter[]>();
  const wakeTimers = new Map<string, NodeJS.Timeout>();
  const scheduled = new Set<string>();

  const serveWaiters = (queue: string) => {
    const list = waiters.get(queue) ?? [];
    while (list.length > 0 && store.has(queue)) {
      const [waiter] = list;
      if (!waiter) break;
      const messages = store.receive(queue, waiter.max, waiter.visibility);
      if (messages.length === 0) break;
      list.shift();
      clearTimeout(waiter.timer);
      waiter.resolve(messages);
    }
    const existing = wakeTimers.get(queue);
    if (existing) clearTimeout(existing);
    wakeTimers.delete(queue);
    if (list.length === 0) return;
    // Nothing is receivable now: wake when the next delayed or in-flight message becomes visible.
    const next = store.nextVisibleAt(queue);
    if (next !== undefined) {
      const timer = setTimeout(() => serveWaiters(queue), Math.min(Math.max(next - Date.now(), 0) + 1, 2 ** 31 - 1));
      wakeTimers.set(queue, timer);
    }
  };

  // Deferred so a send answers its own caller first and never re-enters the store mid-operation.
  store.onReceivable = (queue: string) => {
    if (scheduled.has(queue) || !waiters.get(queue)?.length) return;
    scheduled.add(queue);
    setImmediate(() => {
      scheduled.delete(queue);
      serveWaiters(queue);
    });
  };

  const queueName = (body: Body): string => {
    const url = requiredStr(body, 'QueueUrl');
    let segments: string[];
    try {
      segments = new URL(url).pathname.split('/').filter((s) => s !== '');
    } catch {
      throw errors.invalidAddress(url);
    }
    const name = segments[segments.length - 1];
    if (name === undefined || !store.has(name)) throw errors.queueDoesNotExist();
    return name;
  };

  /** One page of queue URLs, as ListQueues and ListDeadLetterSourceQueues page them (MaxResults, NextToken). */
  const pageOfQueues = (body: Body, member: string, sortedNames: string[]): Body => {
    const maxResults = int(body, 'MaxResults', 1, 1000);
    const token = str(body, 'NextToken', false);
    let names = sortedNames;
    if (token !== undefined) names = names.filter((n) => n > Buffer.from(token, 'base64').toString('utf8'));
    if (maxResults === undefined) return { [member]: names.slice(0, 1000).map(queueUrl) };
    const page = names.slice(0, maxResults);
    const last = page[page.length - 1];
    const out: Body = { [member]: page.map(queueUrl) };
    if (names.length > page.length && last !== undefined) out.NextToken = Buffer.from(last).toString('base64');
    return out;
  };

  const sendOne = (queue: string, entry: Body, req: http.IncomingMessage) => {
    const input: SendInput = {
      body: requiredStr(entry, 'MessageBody'),
      delaySeconds: int(entry, 'DelaySeconds', 0, 900),
      attributes: messageAttributes(entry),
      senderId: senderId(req),
    };
    const trace = record(entry, 'MessageSystemAttributes').AWSTraceHeader;
    if (typeof trace === 'object' && trace !== null && 'StringValue' in trace && typeof trace.StringValue === 'string') {
      input.traceHeader = trace.StringValue;
    }
    const m = store.send(queue, input);
    const out: Body = { MessageId: m.id, MD5OfMessageBody: m.md5 };
    const md5 = md5OfMessageAttributes(m.attributes);
    if (md5 !== undefined) out.MD5OfMessageAttributes = md5;
    return out;
  };

  const receive = (body: Body, res: http.ServerResponse): Promise<Body> => {
    const queue = queueName(body);
    const max = int(body, 'MaxNumberOfMessages', 1, 10) ?? 1;
    const visibility = int(body, 'VisibilityTimeout', 0, 43200);
    const wait = int(body, 'WaitTimeSeconds', 0, 20) ?? store.defaultWaitSeconds(queue);
    const systemNames = [...strings(body, 'AttributeNames'), ...strings(body, 'MessageSystemAttributeNames')];
    const attributeNames = strings(body, 'MessageAttributeNames');
    const reply = (messages: StoredMessage[]): Body => ({ Messages: messages.map((m) => toWire(m, systemNames, attributeNames)) });
    const now = store.receive(queue, max, visibility);
    if (now.length > 0 || wait === 0) return Promise.resolve(reply(now));
    return new Promise((resolve) => {
      const list = waiters.get(queue) ?? [];
      waiters.set(queue, list);
      const remove = () => {
        const i = list.indexOf(waiter);
        if (i >= 0) list.splice(i, 1);
      };
      const waiter: Waiter = {
        max,
        visibility,
        resolve: (messages) => resolve(reply(messages)),
        timer: setTimeout(() => {
          remove();
          resolve(reply([]));
        }, wait * 1000),
      };
      list.push(waiter);
      // A client that hangs up must not be handed messages it will never see.
      res.on('close', () => {
        if (!res.writableFinished) {
          clearTimeout(waiter.timer);
          remove();
        }
      });
      serveWaiters(queue);
    });
  };

  const actions: Record<string, (body: Body, req: http.IncomingMessage, res: http.ServerResponse) => Body | Promise<Body>> = {
    CreateQueue: (body) => {
      const name = requiredStr(body, 'QueueName');
      store.createQueue(name, stringMap(body, 'Attributes'));
      return { QueueUrl: queueUrl(name) };
    },
    GetQueueUrl: (body) => {
      const name = requiredStr(body, 'QueueName');
      if (!store.has(name)) throw errors.queueDoesNotExist();
      return { QueueUrl: queueUrl(name) };
    },
    ListQueues: (body) => {
      const prefix = str(body, 'QueueNamePrefix', false) ?? '';
      return pageOfQueues(
        body,
        'QueueUrls',
        store.queueNames().filter((n) => n.startsWith(prefix)),
      );
    },
    // The model names this result member in lower camel case, unlike every other.
    ListDeadLetterSourceQueues: (body) => pageOfQueues(body, 'queueUrls', store.deadLetterSources(queueName(body))),
    GetQueueAttributes: (body) => {
      const names = strings(body, 'AttributeNames');
      const attributes = store.getAttributes(queueName(body), names);
      return Object.keys(attributes).length > 0 ? { Attributes: attributes } : {};
    },
    SetQueueAttributes: (body) => {
      store.setAttributes(queueName(body), stringMap(body, 'Attributes'));
      return {};
    },
    SendMessage: (body, req) => sendOne(queueName(body), body, req),
    SendMessageBatch: (body, req) => {
      const queue = queueName(body);
      const list = entries(body);
      const total = list.reduce((n, e) => n + Buffer.byteLength(typeof e.MessageBody === 'string' ? e.MessageBody : ''), 0);
      const limit = Number(store.getAttributes(queue, ['MaximumMessageSize']).MaximumMessageSize);
      if (total > limit) throw errors.batchRequestTooLong(limit);
      return perEntry(list, (entry) => sendOne(queue, entry, req));
    },
    ReceiveMessage: (body, _req, res) => receive(body, res),
    DeleteMessage: (body) => {
      store.delete(queueName(body), requiredStr(body, 'ReceiptHandle'));
      return {};
    },
    DeleteMessageBatch: (body) => {
      const queue = queueName(body);
      return perEntry(entries(body), (entry) => {
        store.delete(queue, requiredStr(entry, 'ReceiptHandle'));
        return {};
      });
    },
    ChangeMessageVisibility: (body) => {
      const timeout = int(body, 'VisibilityTimeout', 0, 43200);
      if (timeout === undefined) throw errors.missingParameter('VisibilityTimeout');
      store.changeVisibility(queueName(body), requiredStr(body, 'ReceiptHandle'), timeout);
      return {};
    },
    ChangeMessageVisibilityBatch: (body) => {
      const queue = queueName(body);
      return perEntry(entries(body), (entry) => {
        const timeout = int(entry, 'VisibilityTimeout', 0, 43200);
        if (timeout === undefined) throw errors.missingParameter('VisibilityTimeout');
        store.changeVisibility(queue, requiredStr(entry, 'ReceiptHandle'), timeout);
        return {};
      });
    },
    PurgeQueue: (body) => {
      store.purge(queueName(body));
      return {};
    },
    DeleteQueue: (body) => {
      const queue = queueName(body);
      store.deleteQueue(queue);
      for (const waiter of waiters.get(queue) ?? []) {
        clearTimeout(waiter.timer);
        waiter.resolve([]);
      }
      waiters.delete(queue);
      return {};
    },
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse, wire: WireProtocol, requestId: string): Promise<void> => {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      const buf = chunk as Buffer;
      size += buf.length;
      if (size > MAX_REQUEST_BYTES) throw errors.invalidParameterValue('Request body too large.');
      chunks.push(buf);
    }
    const { action, input } = wire.decode(req, Buffer.concat(chunks));
    const fn = Object.hasOwn(actions, action) ? actions[action] : undefined;
    if (!fn) throw errors.invalidAction(action);
    const result = await fn(input, req, res);
    if (!res.destroyed) answer(res, 200, requestId, wire.encode(action, result, requestId));
  };

  const server = http.createServer((req, res) => {
    const wire = req.headers['x-amz-target'] === undefined ? queryProtocol : jsonProtocol;
    const requestId = randomUUID();
    handle(req, res, wire, requestId).catch((err: unknown) => {
      if (res.headersSent) return;
      const e = err instanceof SqsError ? err : new SqsError('InternalError', 'InternalError', 500, err instanceof Error ? err.message : String(err));
      answer(res, e.statusCode, requestId, wire.encodeError(e, requestId));
    });
  });
  // Long polls hold a request for up to 20 s; the SDK's keep-alive sockets must outlive that.
  server.keepAliveTimeout = 65_000;
  server.requestTimeout = 0;

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 9324, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err: unknown) {
    store.close();
    releaseLock();
    throw err;
  }
  const address = server.address() as AddressInfo;
  baseUrl = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;

  let closing: Promise<void> | undefined;
  return {
    url: baseUrl,
    queueUrl,
    close: () => {
      closing ??= (async () => {
        for (const list of waiters.values()) {
          for (const waiter of list) {
            clearTimeout(waiter.timer);
            waiter.resolve([]);
          }
        }
        waiters.clear();
        for (const timer of wakeTimers.values()) clearTimeout(timer);
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          // Let the just-resolved long polls flush their empty answers, then drop idle keep-alive sockets.
          setImmediate(() => server.closeIdleConnections());
          setTimeout(() => server.closeAllConnections(), 200).unref();
        });
        store.close();
        releaseLock();
      })();
      return closing;
    },
  };
}
