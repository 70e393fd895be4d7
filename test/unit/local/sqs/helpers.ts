import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SQSClient } from '@aws-sdk/client-sqs';
import { type QueueSpec, type SqsServer, startSqsServer } from '../../../../src/local/sqs/server';

/** A fresh data dir under the OS temp dir. */
export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'local-sqs-'));
}

/** Server on an ephemeral loopback port plus a real SDK client pointed at it. */
export async function startLocal(options: { dataDir?: string; queues?: QueueSpec[] } = {}): Promise<{
  server: SqsServer;
  client: SQSClient;
  dataDir: string;
  stop(): Promise<void>;
}> {
  const dataDir = options.dataDir ?? tempDir();
  const server = await startSqsServer({ port: 0, dataDir, queues: options.queues });
  const client = clientFor(server.url);
  return {
    server,
    client,
    dataDir,
    stop: async () => {
      client.destroy();
      await server.close();
    },
  };
}

/** An SDK client as the service builds one for local mode. */
export function clientFor(endpoint: string): SQSClient {
  return new SQSClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local' } });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns a value or `timeoutMs` passes. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(25);
  }
}
