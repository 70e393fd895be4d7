// `npm start`: the whole system on one machine, no Docker, no AWS account. Starts the local S3 and SQS,
// then serverless-offline (the API and the functions, in one process with one inference pool), then the
// local event sources that turn bucket uploads and queue messages into function invocations, as AWS does.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { FsModelCatalog } from '../adapters/fs-model-catalog';
import { config } from '../config';
import { ModelLoadError } from '../core/errors';
import { localCredentials } from '../handlers/deps/local-credentials';
import { type LocalKeys, localApiKeys } from './dev-key';
import { startS3Server } from './s3/server';
import { startSqsEventSource } from './sqs/event-source';
import { queueArn, startSqsServer } from './sqs/server';

export interface LocalStackOptions {
  httpPort: number;
  lambdaPort: number;
  s3Port: number;
  sqsPort: number;
  dataDir: string;
  /** Print serverless-offline's per-request log lines (slow under load). */
  verbose: boolean;
  /** Visibility timeout of the local work queue: 6× the worker's local timeout, as in serverless.yml. */
  visibilityTimeoutSeconds: number;
}

const SERVICE = 'image-classifier';
const STAGE = 'local';
const QUEUE = 'infer-queue';
const DLQ = 'infer-dlq';
/**
 * Mirrors serverless.yml's inferSqs batchSize and maximumBatchingWindow; maximumConcurrency is scaled to one
 * machine: 4 batches in flight keep the pool busy while other batches wait on S3.
 */
const WORKER = { batchSize: 10, batchingWindowSeconds: 1, maxConcurrency: 4 };

export interface LocalStack {
  url: string;
  /** A key the API accepts (the development key unless API_KEYS is set), for the repo's own clients. */
  apiKey: string;
  keys: LocalKeys;
  /** The work queue's event source mapping, as `aws lambda update-event-source-mapping --[no-]enabled` toggles it. */
  workers: { enable(): void; disable(): Promise<void> };
  stop(): Promise<void>;
}

const root = path.resolve(__dirname, '..', '..', '..');

export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): LocalStackOptions {
  const port = (name: string, fallback: number) => Number(env[name] || fallback);
  return {
    httpPort: port('HTTP_PORT', 3000),
    lambdaPort: port('LAMBDA_PORT', 3002),
    s3Port: port('S3_PORT', 4569),
    sqsPort: port('SQS_PORT', 9324),
    dataDir: path.resolve(env.LOCAL_DATA_DIR || path.join(root, '.local-data')),
    verbose: env.OFFLINE_VERBOSE === '1',
    visibilityTimeoutSeconds: Number(env.LOCAL_VISIBILITY_TIMEOUT || 60),
  };
}

async function waitReady(url: string, child: () => ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child().exitCode !== null) throw new Error(`serverless-offline exited with code ${child().exitCode}`);
    try {
      const res = await fetch(`${url}/health`);
      if (res.status === 200) return;
      const body = (await res.json()) as { status?: string; error?: string };
      if (body.status === 'failed') throw new ModelLoadError(body.error ?? 'model load failed');
    } catch (err: unknown) {
      if (err instanceof ModelLoadError) throw err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the API did not become ready within ${timeoutMs} ms`);
}

/**
 * Invokes a function of the serverless-offline process through its Lambda Invoke API, as the AWS event
 * sources do; a function error rejects, so the caller's retry semantics (S3 outbox, SQS visibility) apply.
 */
function lambdaInvoker(lambdaPort: number, fn: string) {
  return async (event: unknown): Promise<unknown> => {
    const res = await fetch(`http://127.0.0.1:${lambdaPort}/2015-03-31/functions/${SERVICE}-${STAGE}-${fn}/invocations`, {
      method: 'POST',
      body: JSON.stringify(event),
      headers: { 'Content-Type': 'application/json', 'X-Amz-Invocation-Type': 'RequestResponse' },
    });
    const text = await res.text();
    if (res.status !== 200 || res.headers.get('x-amz-function-error')) throw new Error(`${fn} failed (${res.status}): ${text.slice(0, 500)}`);
    return text ? (JSON.parse(text) as unknown) : undefined;
  };
}

/** Starts everything and resolves once GET /health says the models are loaded and warm. */
export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  // Fail here, with the fix in the message, rather than on the first request.
  new FsModelCatalog({ dir: config().modelsDir, defaultModel: config().defaultModel, only: config().models }).verifyFiles();
  const bucket = config().batch.bucket;
  const { credentials } = localCredentials();
  for (const d of ['sqs', 's3']) mkdirSync(path.join(options.dataDir, d), { recursive: true });
  const keys = localApiKeys(options.dataDir);

  const sqs = await startSqsServer({
    port: options.sqsPort,
    dataDir: path.join(options.dataDir, 'sqs'),
    queues: [
      { name: DLQ, attributes: { MessageRetentionPeriod: '1209600' } },
      {
        name: QUEUE,
        attributes: {
          VisibilityTimeout: String(options.visibilityTimeoutSeconds),
          RedrivePolicy: JSON.stringify({ deadLetterTargetArn: queueArn(DLQ), maxReceiveCount: 3 }),
        },
      },
    ],
  });
  const s3 = await startS3Server({
    port: options.s3Port,
    dataDir: path.join(options.dataDir, 's3'),
    buckets: [bucket],
    // serverless.yml's `rules: - prefix: uploads/`
    notificationFilter: { prefix: 'uploads/' },
    // The key the functions sign with: every request must be signed, as S3 requires, so a missing or broken
    // signature fails here as it would in AWS.
    credentials,
  });

  const endpoints = {
    S3_ENDPOINT: s3.url,
    SQS_ENDPOINT: sqs.url,
    QUEUE_URL: sqs.queueUrl(QUEUE),
    DLQ_URL: sqs.queueUrl(DLQ),
    BUCKET_NAME: bucket,
  };
  const hook = path.join(root, 'src', 'local', 'offline', 'register-offline-hooks.mjs');
  const url = `http://127.0.0.1:${options.httpPort}`;
  let stopping = false;
  let child: ChildProcess;
  const launch = (): ChildProcess => {
    const c = spawn(
      process.execPath,
      [
        path.join(root, 'node_modules', 'osls', 'bin', 'serverless.js'),
        'offline',
        'start',
        '--stage',
        STAGE,
        '--httpPort',
        String(options.httpPort),
        '--lambdaPort',
        String(options.lambdaPort),
      ],
      {
        cwd: root,
        stdio: ['ignore', 'inherit', 'inherit'],
        env: {
          ...process.env,
          ...endpoints,
          API_KEYS: keys.apiKeys,
          NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${hook}`.trim(),
          SLS_LOG_LEVEL: process.env.SLS_LOG_LEVEL || (options.verbose ? 'notice' : 'warning'),
          SLS_TELEMETRY_DISABLED: '1',
          POWERTOOLS_METRICS_DISABLED: process.env.POWERTOOLS_METRICS_DISABLED || 'true',
          POWERTOOLS_TRACE_ENABLED: process.env.POWERTOOLS_TRACE_ENABLED || 'false',
          POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL || 'WARN',
          AWS_ACCESS_KEY_ID: credentials.accessKeyId,
          AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
          AWS_REGION: process.env.AWS_REGION || 'us-east-1',
        },
      },
    );
    // A dead function process is replaced, as Lambda replaces a dead container; queued work is redelivered.
    c.once('exit', (code, signal) => {
      if (stopping) return;
      console.error(`[local] serverless-offline exited (${code ?? signal}); restarting`);
      setTimeout(() => {
        child = launch();
      }, 500);
    });
    return c;
  };
  child = launch();

  const sqsClient = new SQSClient({
    endpoint: sqs.url,
    region: 'us-east-1',
    credentials,
  });
  const invokeInfer = lambdaInvoker(options.lambdaPort, 'inferSqs');
  const invokeIngest = lambdaInvoker(options.lambdaPort, 'ingest');
  let worker: ReturnType<typeof startSqsEventSource> | undefined;

  const stop = async () => {
    stopping = true;
    await worker?.stop();
    // Bucket notifications in flight finish (or stay in the outbox) before the functions go away.
    await s3.close();
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise<void>((r) => {
        const t = setTimeout(() => {
          child.kill('SIGKILL');
          r();
        }, 5000);
        child.once('exit', () => {
          clearTimeout(t);
          r();
        });
      });
    }
    sqsClient.destroy();
    await sqs.close();
  };
  try {
    await waitReady(url, () => child, 120_000);
  } catch (err: unknown) {
    await stop();
    throw err;
  }
  // Bucket notifications (filtered to uploads/, as in serverless.yml) → the ingest function.
  s3.onObjectCreated(async (event) => {
    await invokeIngest(event);
  });
  const enable = () => {
    worker ??= startSqsEventSource({
      client: sqsClient,
      queueUrl: sqs.queueUrl(QUEUE),
      queueArn: queueArn(QUEUE),
      batchSize: WORKER.batchSize,
      maximumBatchingWindowSeconds: WORKER.batchingWindowSeconds,
      maxConcurrency: WORKER.maxConcurrency,
      functionName: `${SERVICE}-${STAGE}-inferSqs`,
      handler: (event, _context: Context) => invokeInfer(event),
    });
  };
  const disable = async () => {
    const running = worker;
    worker = undefined;
    await running?.stop();
  };
  enable();
  return { url, apiKey: keys.apiKey, keys, workers: { enable, disable }, stop };
}

if (require.main === module) {
  const options = optionsFromEnv();
  startLocalStack(options).then(
    (stack) => {
      console.log(`\nimage-classifier is up: ${stack.url}  (POST /predict, POST /predict/batch, GET /health, /models, /metrics)`);
      if (stack.keys.devKeyFile) {
        console.log(`API key (${stack.keys.created ? 'new' : 'kept'} in ${stack.keys.devKeyFile}; set API_KEYS for others): ${stack.apiKey}`);
        console.log(`  curl -H 'x-api-key: ${stack.apiKey}' -H 'Content-Type: image/jpeg' --data-binary @cat.jpg ${stack.url}/predict`);
      } else {
        console.log(`API keys: the ${stack.keys.apiKeys.split(',').length} client(s) of API_KEYS`);
      }
      const shutdown = () => {
        void stack.stop().then(() => process.exit(0));
      };
      process.on('SIGINT', shutdown);
      process.on('SIGTERM', shutdown);
    },
    (err: unknown) => {
      console.error(`npm start failed: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  );
}
