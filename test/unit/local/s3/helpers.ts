import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { type LocalS3, type S3ServerOptions, startS3Server } from '../../../../src/local/s3/server';

export const BUCKET = 'image-classifier-local';
export const CREDENTIALS = { accessKeyId: 'LOCALKEY', secretAccessKey: 'local-secret' };

/** A fresh data dir per test, removed afterwards. */
export async function tempDir(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), 'local-s3-'));
}

/** Starts the server on an ephemeral port with the service bucket, accepting requests signed with CREDENTIALS. */
export function start(dataDir: string, extra: Partial<S3ServerOptions> = {}): Promise<LocalS3> {
  return startS3Server({ port: 0, dataDir, buckets: [BUCKET], credentials: CREDENTIALS, log: () => undefined, ...extra });
}

/**
 * A raw request signed in an `Authorization` header by the SDK's own SigV4 signer (the client's), for what the
 * SDK would not send as is (hand-framed bodies, a method the key was not signed for).
 */
export async function signedFetch(
  s3: S3Client,
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: Buffer | string; signingDate?: Date } = {},
): Promise<Response> {
  const u = new URL(url);
  const signer = await s3.config.signer();
  const signed = await signer.sign(
    {
      method: init.method ?? 'GET',
      protocol: u.protocol,
      hostname: u.hostname,
      port: Number(u.port),
      path: u.pathname,
      query: Object.fromEntries(u.searchParams),
      headers: { host: u.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', ...init.headers },
      body: init.body,
    },
    init.signingDate === undefined ? {} : { signingDate: init.signingDate },
  );
  return fetch(url, { method: init.method ?? 'GET', headers: signed.headers, ...(init.body === undefined ? {} : { body: init.body }) });
}

/** A real, default-configured S3Client pointed at the local server. */
export function client(server: LocalS3, extra: Partial<S3ClientConfig> = {}): S3Client {
  return new S3Client({
    endpoint: server.url,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: CREDENTIALS,
    ...extra,
  });
}

/** Resolves once `predicate` holds, polling; rejects after `timeoutMs`. */
export async function waitFor(predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
