// Operator CLI: `npm run ingest:replay -- --queue <IngestFailureQueueUrl> --function <ingest function name> [--max N]`.
// Each message of the queue is Lambda's on-failure record of an S3 event ingest gave up on; this invokes ingest
// with that event again and deletes the record once ingest succeeded. Ingest is idempotent, so a replay of an
// upload that was meanwhile ingested changes nothing.
import { parseArgs } from 'node:util';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { DeleteMessageCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';

/** Lambda's destination record for an asynchronous invocation that failed (the fields this reads). */
interface FailureRecord {
  requestContext?: { condition?: string; approximateInvokeCount?: number };
  requestPayload?: { Records?: unknown[] };
  responsePayload?: { errorType?: string; errorMessage?: string };
}

export interface ReplayOutcome {
  replayed: number;
  failed: Array<{ messageId: string; reason: string }>;
}

/** The two calls a replay makes, so it can be driven without AWS. */
export interface ReplayPorts {
  receive(max: number): Promise<Array<{ messageId: string; receiptHandle: string; body: string }>>;
  invoke(payload: string): Promise<{ ok: boolean; error?: string }>;
  remove(receiptHandle: string): Promise<void>;
}

/** Replays up to `max` failure records; a record that fails again stays in the queue for the next try. */
export async function replayIngestFailures(ports: ReplayPorts, max: number): Promise<ReplayOutcome> {
  const outcome: ReplayOutcome = { replayed: 0, failed: [] };
  while (outcome.replayed + outcome.failed.length < max) {
    const batch = await ports.receive(Math.min(10, max - outcome.replayed - outcome.failed.length));
    if (batch.length === 0) break;
    for (const m of batch) {
      let record: FailureRecord;
      try {
        record = JSON.parse(m.body) as FailureRecord;
      } catch {
        outcome.failed.push({ messageId: m.messageId, reason: 'not JSON' });
        continue;
      }
      if (!Array.isArray(record.requestPayload?.Records)) {
        outcome.failed.push({ messageId: m.messageId, reason: 'no S3 event in requestPayload' });
        continue;
      }
      const result = await ports.invoke(JSON.stringify(record.requestPayload));
      if (!result.ok) {
        outcome.failed.push({ messageId: m.messageId, reason: result.error ?? 'ingest failed again' });
        continue;
      }
      await ports.remove(m.receiptHandle);
      outcome.replayed += 1;
    }
  }
  return outcome;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      queue: { type: 'string', default: process.env.INGEST_FAILURE_QUEUE_URL },
      function: { type: 'string', default: process.env.INGEST_FUNCTION },
      max: { type: 'string', default: '1000' },
      region: { type: 'string', default: process.env.AWS_REGION || 'us-east-1' },
    },
  });
  if (!values.queue || !values.function) {
    throw new Error('usage: npm run ingest:replay -- --queue <IngestFailureQueueUrl> --function <image-classifier-STAGE-ingest> [--max N]');
  }
  const queueUrl = values.queue;
  const functionName = values.function;
  const sqs = new SQSClient({ region: values.region });
  const lambda = new LambdaClient({ region: values.region });
  const outcome = await replayIngestFailures(
    {
      async receive(max) {
        const out = await sqs.send(
          new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: max, WaitTimeSeconds: 1, VisibilityTimeout: 120 }),
        );
        return (out.Messages ?? []).map((m) => ({ messageId: m.MessageId ?? '', receiptHandle: m.ReceiptHandle ?? '', body: m.Body ?? '' }));
      },
      async invoke(payload) {
        const out = await lambda.send(
          new InvokeCommand({ FunctionName: functionName, InvocationType: 'RequestResponse', Payload: new TextEncoder().encode(payload) }),
        );
        return out.FunctionError ? { ok: false, error: `${out.FunctionError}: ${new TextDecoder().decode(out.Payload)}` } : { ok: true };
      },
      async remove(receiptHandle) {
        await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: receiptHandle }));
      },
    },
    Number(values.max),
  );
  console.log(JSON.stringify(outcome, null, 2));
  if (outcome.failed.length > 0) process.exitCode = 1;
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
