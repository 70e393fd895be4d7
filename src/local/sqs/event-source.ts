// Local counterpart of a Lambda SQS event source mapping with FunctionResponseTypes: [ReportBatchItemFailures].
import { DeleteMessageBatchCommand, type Message, type MessageAttributeValue, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSEvent, SQSMessageAttributes, SQSRecord } from 'aws-lambda';
import { createLambdaContext } from '../lambda-context';

/** Options of {@link startSqsEventSource}; the first six mirror the event source mapping's settings. */
export interface SqsEventSourceOptions {
  client: SQSClient;
  queueUrl: string;
  queueArn: string;
  /** 1–10000 as on AWS; batches above 10 are gathered from several receives within the batching window. */
  batchSize: number;
  maximumBatchingWindowSeconds: number;
  /** Batches in flight at once (the mapping's ScalingConfig.MaximumConcurrency). */
  maxConcurrency: number;
  /** Overrides the queue's visibility timeout on receive. */
  visibilityTimeout?: number;
  /** Called as Lambda would: `handler(event, context)`; may return an SQSBatchResponse. */
  handler: (event: SQSEvent, context: Context) => Promise<unknown>;
  functionName?: string;
  /** The function's timeout: a batch still running after it counts as failed, as on AWS. Defaults to none. */
  timeoutSeconds?: number;
  region?: string;
  /** Told about handler errors, invalid responses and SQS errors; the default logs to stderr. */
  onError?: (err: unknown, detail: { phase: 'receive' | 'invoke' | 'response' | 'delete'; messageIds: string[] }) => void;
}

/** A running event source. */
export interface SqsEventSource {
  /** Stops polling and waits for the batches in flight to finish (and their deletes). */
  stop(): Promise<void>;
}

function toRecordAttributes(attributes: Record<string, MessageAttributeValue> | undefined): SQSMessageAttributes {
  const out: SQSMessageAttributes = {};
  for (const [name, value] of Object.entries(attributes ?? {})) {
    // Key order as in Lambda's JSON: stringValue, binaryValue, stringListValues, binaryListValues, dataType.
    out[name] = {
      ...(value.StringValue === undefined ? {} : { stringValue: value.StringValue }),
      ...(value.BinaryValue === undefined ? {} : { binaryValue: Buffer.from(value.BinaryValue).toString('base64') }),
      stringListValues: [],
      binaryListValues: [],
      dataType: value.DataType ?? 'String',
    };
  }
  return out;
}

/** Shapes a received message exactly as Lambda puts it in `event.Records`. */
export function toSqsRecord(message: Message, queueArn: string, region: string): SQSRecord {
  const attrs = message.Attributes ?? {};
  const record: SQSRecord = {
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes: {
      ApproximateReceiveCount: attrs.ApproximateReceiveCount ?? '1',
      SentTimestamp: attrs.SentTimestamp ?? '',
      SenderId: attrs.SenderId ?? '',
      ApproximateFirstReceiveTimestamp: attrs.ApproximateFirstReceiveTimestamp ?? '',
    },
    messageAttributes: toRecordAttributes(message.MessageAttributes),
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: region,
  };
  if (attrs.AWSTraceHeader !== undefined) record.attributes.AWSTraceHeader = attrs.AWSTraceHeader;
  if (attrs.DeadLetterQueueSourceArn !== undefined) record.attributes.DeadLetterQueueSourceArn = attrs.DeadLetterQueueSourceArn;
  if (message.MD5OfMessageAttributes !== undefined) record.md5OfMessageAttributes = message.MD5OfMessageAttributes;
  return record;
}

/**
 * Reads a handler's result as Lambda does with ReportBatchItemFailures: the ids to keep, or undefined when the
 * response is invalid and the whole batch counts as failed.
 */
export function failedMessageIds(result: unknown, batchIds: ReadonlySet<string>): Set<string> | undefined {
  if (result === undefined || result === null) return new Set();
  if (typeof result !== 'object' || Array.isArray(result)) return undefined;
  if (!('batchItemFailures' in result)) return new Set();
  const failures = result.batchItemFailures;
  if (failures === undefined || failures === null) return new Set();
  if (!Array.isArray(failures)) return undefined;
  const ids = new Set<string>();
  for (const failure of failures) {
    const id: unknown = typeof failure === 'object' && failure !== null ? (failure as Record<string, unknown>).itemIdentifier : undefined;
    if (typeof id !== 'string' || !batchIds.has(id)) return undefined;
    ids.add(id);
  }
  return ids;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });

/** Long-polls `queueUrl` and invokes `handler` with batches, deleting what succeeded; returns at once. */
export function startSqsEventSource(opts: SqsEventSourceOptions): SqsEventSource {
  const region = opts.region ?? opts.queueArn.split(':')[3] ?? 'us-east-1';
  const functionName = opts.functionName ?? 'local-sqs-consumer';
  const maxConcurrency = Math.max(1, Math.floor(opts.maxConcurrency));
  const batchSize = Math.max(1, Math.floor(opts.batchSize));
  const onError =
    opts.onError ??
    ((err: unknown, detail: { phase: string; messageIds: string[] }) => {
      console.error(
        JSON.stringify({
          level: 'ERROR',
          source: 'local-sqs-event-source',
          queueUrl: opts.queueUrl,
          ...detail,
          error: err instanceof Error ? err.message : String(err),
        }),
      );
    });
  const stopping = new AbortController();
  const inFlight = new Set<Promise<void>>();
  let slotFreed: (() => void) | undefined;

  const receive = async (max: number, waitSeconds: number): Promise<Message[]> => {
    const out = await opts.client.send(
      new ReceiveMessageCommand({
        QueueUrl: opts.queueUrl,
        MaxNumberOfMessages: Math.min(10, max),
        WaitTimeSeconds: waitSeconds,
        VisibilityTimeout: opts.visibilityTimeout,
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
      { abortSignal: stopping.signal },
    );
    return out.Messages ?? [];
  };

  // Like Lambda: invoke as soon as the batch is full, the window has passed, or (window 0) after one receive.
  const gather = async (): Promise<Message[]> => {
    const batch = await receive(batchSize, 20);
    if (batch.length === 0) return batch;
    const deadline = Date.now() + opts.maximumBatchingWindowSeconds * 1000;
    while (batch.length < batchSize && !stopping.signal.aborted) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      let more: Message[];
      try {
        more = await receive(batchSize - batch.length, Math.floor(left / 1000));
      } catch (err: unknown) {
        // What was already received is in flight: hand it to the handler rather than let it sit out its timeout.
        if (!stopping.signal.aborted) onError(err, { phase: 'receive', messageIds: [] });
        break;
      }
      for (const m of more) {
        // A message whose visibility ran out during the window comes back with a new handle: keep one copy, newest handle.
        const i = batch.findIndex((b) => b.MessageId === m.MessageId);
        if (i >= 0) batch[i] = m;
        else batch.push(m);
      }
      // Sub-second remainders cannot be long-polled (WaitTimeSeconds is whole seconds): short-poll sparingly.
      if (more.length === 0 && left < 1000) await sleep(Math.min(left, 100), stopping.signal);
    }
    return batch;
  };

  const deleteMessages = async (messages: Message[]) => {
    for (let i = 0; i < messages.length; i += 10) {
      const chunk = messages.slice(i, i + 10);
      try {
        const out = await opts.client.send(
          new DeleteMessageBatchCommand({
            QueueUrl: opts.queueUrl,
            Entries: chunk.map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle })),
          }),
        );
        if (out.Failed && out.Failed.length > 0) {
          onError(new Error(`DeleteMessageBatch failed for ${out.Failed.length} message(s)`), {
            phase: 'delete',
            messageIds: out.Failed.map((f) => chunk[Number(f.Id)]?.MessageId ?? ''),
          });
        }
      } catch (err: unknown) {
        onError(err, { phase: 'delete', messageIds: chunk.map((m) => m.MessageId ?? '') });
      }
    }
  };

  const invoke = async (messages: Message[]) => {
    const event: SQSEvent = { Records: messages.map((m) => toSqsRecord(m, opts.queueArn, region)) };
    const ids = new Set(event.Records.map((r) => r.messageId));
    const timeoutMs = opts.timeoutSeconds === undefined ? undefined : opts.timeoutSeconds * 1000;
    const context = createLambdaContext({ functionName, timeoutMs: timeoutMs ?? 900_000, region });
    let timer: NodeJS.Timeout | undefined;
    let result: unknown;
    try {
      const run = opts.handler(event, context);
      result =
        timeoutMs === undefined
          ? await run
          : await Promise.race([
              run,
              new Promise<never>((_, reject) => {
                timer = setTimeout(() => reject(new Error(`Task timed out after ${opts.timeoutSeconds} seconds`)), timeoutMs);
              }),
            ]);
    } catch (err: unknown) {
      // A failed invocation deletes nothing: every message reappears when its visibility timeout ends.
      onError(err, { phase: 'invoke', messageIds: [...ids] });
      return;
    } finally {
      clearTimeout(timer);
    }
    const failed = failedMessageIds(result, ids);
    if (failed === undefined) {
      onError(new Error('invalid ReportBatchItemFailures response: the whole batch is retried'), { phase: 'response', messageIds: [...ids] });
      return;
    }
    await deleteMessages(messages.filter((m) => !failed.has(m.MessageId ?? '')));
  };

  const loop = async () => {
    while (!stopping.signal.aborted) {
      if (inFlight.size >= maxConcurrency) {
        await new Promise<void>((resolve) => {
          slotFreed = resolve;
        });
        continue;
      }
      let messages: Message[];
      try {
        messages = await gather();
      } catch (err: unknown) {
        if (stopping.signal.aborted) break;
        onError(err, { phase: 'receive', messageIds: [] });
        await sleep(1000, stopping.signal);
        continue;
      }
      if (messages.length === 0) continue;
      const run: Promise<void> = invoke(messages).finally(() => {
        inFlight.delete(run);
        slotFreed?.();
        slotFreed = undefined;
      });
      inFlight.add(run);
    }
  };
  const looping = loop();

  return {
    stop: async () => {
      stopping.abort();
      slotFreed?.();
      await looping;
      await Promise.all([...inFlight]);
    },
  };
}
