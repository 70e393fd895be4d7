// `npm start`: the whole system on one machine, no Docker, no AWS account. Starts the local S3 and SQS,
// then serverless-offline (the API and the functions, in one process with one inference pool), then the
// local event sources that turn bucket uploads and queue messages into function invocations.
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { FsModelCatalog, ModelLoadError } from '../adapters/fs-model-catalog';
import { config } from '../config';

export interface LocalStackOptions {
  httpPort: number;
  lambdaPort: number;
  s3Port: number;
  sqsPort: number;
  dataDir: string;
  /** Print serverless-offline's per-request log lines (slow under load). */
  verbose: boolean;
}

export interface LocalStack {
  url: string;
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
  };
}

async function waitReady(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`serverless-offline exited with code ${child.exitCode}`);
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

/** Starts everything and resolves once GET /health says the models are loaded and warm. */
export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  // Fail here, with the fix in the message, rather than on the first request.
  new FsModelCatalog({ dir: config().modelsDir, defaultModel: config().defaultModel, only: config().models, verify: true });

  const endpoints = {
    S3_ENDPOINT: `http://127.0.0.1:${options.s3Port}`,
    SQS_ENDPOINT: `http://127.0.0.1:${options.sqsPort}`,
    QUEUE_URL: `http://127.0.0.1:${options.sqsPort}/000000000000/infer-queue`,
    DLQ_URL: `http://127.0.0.1:${options.sqsPort}/000000000000/infer-dlq`,
  };
  const hook = path.join(root, 'src', 'local', 'offline', 'register-binary-media-types.mjs');
  const child = spawn(
    process.execPath,
    [
      path.join(root, 'node_modules', 'osls', 'bin', 'serverless.js'),
      'offline',
      'start',
      '--stage',
      'local',
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
        NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${hook}`.trim(),
        SLS_LOG_LEVEL: process.env.SLS_LOG_LEVEL || (options.verbose ? 'notice' : 'warning'),
        SLS_TELEMETRY_DISABLED: '1',
        POWERTOOLS_METRICS_DISABLED: process.env.POWERTOOLS_METRICS_DISABLED || 'true',
        POWERTOOLS_TRACE_ENABLED: process.env.POWERTOOLS_TRACE_ENABLED || 'false',
        POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL || 'WARN',
        AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID || 'local',
        AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY || 'local',
        AWS_REGION: process.env.AWS_REGION || 'us-east-1',
      },
    },
  );
  const url = `http://127.0.0.1:${options.httpPort}`;
  const stop = async () => {
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
  };
  try {
    await waitReady(url, child, 120_000);
  } catch (err: unknown) {
    await stop();
    throw err;
  }
  return { url, stop };
}

if (require.main === module) {
  const options = optionsFromEnv();
  startLocalStack(options).then(
    (stack) => {
      console.log(`\nimage-classifier is up: ${stack.url}  (POST /predict, POST /predict/batch, GET /health, /models, /metrics)`);
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
