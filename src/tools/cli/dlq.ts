// Operator CLI for the dead-letter queue: `npm run dlq -- list|redrive [--queue <dlq-url>] [--to <source-url>] [--max N]`.
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
  type SQSClientConfig,
} from '@aws-sdk/client-sqs';
import { exitCodeOf, parseFlags, UsageError } from './args';

const LOCAL_DLQ_URL = 'http://127.0.0.1:9324/000000000000/infer-dlq';
const LOCAL_QUEUE_URL = 'http://127.0.0.1:9324/000000000000/infer-queue';

/** A dead-lettered message as `list` prints it. */
export interface DlqMessage {
  messageId: string;
  body: string;
  sentTimestamp: string | undefined;
  receiveCount: string | undefined;
  sourceArn: string | undefined;
  messageAttributes: Record<string, MessageAttributeValue>;
}

/** Parsed command line. */
export interface DlqCommand {
  action: 'list' | 'redrive';
  queueUrl: string;
  toUrl: string;
  max: number;
}

// Long enough that a listing of many pages never meets the same message twice, short enough to be harmless if we die.
const PEEK_VISIBILITY_SECONDS = 20;

async function receiveBatch(client: SQSClient, queueUrl: string, max: number, visibility: number): Promise<Message[]> {
  const out = await client.send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: Math.min(10, max),
      VisibilityTimeout: visibility,
      // One second of long polling so a distributed SQS that samples servers still finds sparse messages.
      WaitTimeSeconds: 1,
      MessageSystemAttributeNames: ['All'],
      MessageAttributeNames: ['All'],
    }),
  );
  return out.Messages ?? [];
}

/** Reads up to `max` messages without consuming them: each is made visible again before returning. */
export async function listDlq(client: SQSClient, queueUrl: string, max: number): Promise<DlqMessage[]> {
  const seen = new Map<string, Message>();
  try {
    while (seen.size < max) {
      const batch = await receiveBatch(client, queueUrl, max - seen.size, PEEK_VISIBILITY_SECONDS);
      const fresh = batch.filter((m) => !seen.has(m.MessageId ?? ''));
      if (fresh.length === 0) break;
      for (const m of fresh) seen.set(m.MessageId ?? '', m);
    }
  } finally {
    const held = [...seen.values()];
    for (let i = 0; i < held.length; i += 10) {
      await client.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: queueUrl,
          Entries: held.slice(i, i + 10).map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0 })),
        }),
      );
    }
  }
  return [...seen.values()].map((m) => ({
    messageId: m.MessageId ?? '',
    body: m.Body ?? '',
    sentTimestamp: m.Attributes?.SentTimestamp,
    receiveCount: m.Attributes?.ApproximateReceiveCount,
    sourceArn: m.Attributes?.DeadLetterQueueSourceArn,
    messageAttributes: m.MessageAttributes ?? {},
  }));
}

/**
 * Moves up to `max` messages from the DLQ back to the source queue: send first, then delete, so a crash in between
 * duplicates a message (harmless for an idempotent consumer) and never loses one.
 */
export async function redriveDlq(client: SQSClient, fromUrl: string, toUrl: string, max: number): Promise<{ moved: string[] }> {
  const moved: string[] = [];
  while (moved.length < max) {
    const batch = await receiveBatch(client, fromUrl, max - moved.length, 60);
    if (batch.length === 0) break;
    for (const m of batch) {
      await client.send(new SendMessageCommand({ QueueUrl: toUrl, MessageBody: m.Body, MessageAttributes: m.MessageAttributes }));
      await client.send(new DeleteMessageCommand({ QueueUrl: fromUrl, ReceiptHandle: m.ReceiptHandle }));
      moved.push(m.MessageId ?? '');
    }
  }
  return { moved };
}

const USAGE = 'usage: npm run dlq -- list|redrive [--queue <dlq-url>] [--to <source-url>] [--max N]';

/**
 * Parses argv (after the script name): the command, or `help` for --help; a line it cannot run is a UsageError.
 * The queues default to DLQ_URL and QUEUE_URL, else the local stack's.
 */
export function parseArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): DlqCommand | { action: 'help' } {
  const { values, positionals } = parseFlags(
    {
      args: argv,
      options: { queue: { type: 'string' }, to: { type: 'string' }, max: { type: 'string', default: '1000' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
    },
    USAGE,
  );
  if (values.help) return { action: 'help' };
  const [action, ...extra] = positionals;
  if ((action !== 'list' && action !== 'redrive') || extra.length > 0) throw new UsageError(USAGE);
  const max = Number(values.max);
  if (!Number.isInteger(max) || max < 1) throw new UsageError(`--max must be a positive integer\n${USAGE}`);
  return { action, queueUrl: values.queue ?? (env.DLQ_URL || LOCAL_DLQ_URL), toUrl: values.to ?? (env.QUEUE_URL || LOCAL_QUEUE_URL), max };
}

/** An SDK client for the queue: the local emulator when SQS_ENDPOINT is set or the URL is on loopback, else AWS. */
export function clientFor(queueUrl: string, env: NodeJS.ProcessEnv = process.env): SQSClient {
  const config: SQSClientConfig = { region: env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1' };
  const isLoopback = /^http:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?\//.test(queueUrl);
  const endpoint = env.SQS_ENDPOINT || (isLoopback ? new URL(queueUrl).origin : undefined);
  if (endpoint) {
    config.endpoint = endpoint;
    // The emulator ignores signatures; static credentials keep the SDK from probing instance metadata offline.
    if (!env.AWS_ACCESS_KEY_ID) config.credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
  }
  return new SQSClient(config);
}

/** Runs one command, printing JSON lines to `out`; returns the exit code (2 and the usage on `err` for a bad line). */
export function main(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  out: (line: string) => void = console.log,
  err: (line: string) => void = console.error,
): Promise<number> {
  return exitCodeOf(async () => {
    const command = parseArgs(argv, env);
    if (command.action === 'help') {
      out(USAGE);
      return 0;
    }
    const client = clientFor(command.queueUrl, env);
    try {
      if (command.action === 'list') {
        const messages = await listDlq(client, command.queueUrl, command.max);
        for (const m of messages) out(JSON.stringify(m));
        out(JSON.stringify({ queue: command.queueUrl, listed: messages.length }));
      } else {
        const { moved } = await redriveDlq(client, command.queueUrl, command.toUrl, command.max);
        out(JSON.stringify({ from: command.queueUrl, to: command.toUrl, moved: moved.length, messageIds: moved }));
      }
      return 0;
    } finally {
      client.destroy();
    }
  }, err);
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      console.error(e instanceof Error ? e.message : String(e));
      process.exitCode = 1;
    },
  );
}
