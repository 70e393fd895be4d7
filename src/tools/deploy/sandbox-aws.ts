// The local S3 and SQS as the AWS account of the Lambda sandbox: the bucket and queues the template names, and the
// sandbox options that point a function at them with its role's credentials.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type LocalS3, startS3Server } from '../../local/s3/server';
import { queueArn, type SqsServer, startSqsServer } from '../../local/sqs/server';
import type { SandboxOptions } from './sandbox';

export const QUEUE = 'infer-queue';
export const DLQ = 'infer-dlq';
/** The credentials Lambda would hand the function for its role; the local S3 checks every signature against them. */
export const ROLE_CREDENTIALS = { accessKeyId: 'AKIASANDBOXROLE', secretAccessKey: 'sandbox-role-secret' };

export interface SandboxAws {
  s3: LocalS3;
  sqs: SqsServer;
  queueUrl: string;
  queueArn: string;
  /** For LambdaSandbox.start: the template's queue Refs, the endpoints, the role's credentials. */
  options: SandboxOptions;
  close(): Promise<void>;
}

export async function startSandboxAws(bucket: string): Promise<SandboxAws> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'sandbox-aws-'));
  mkdirSync(path.join(dataDir, 'sqs'));
  const s3 = await startS3Server({
    port: 0,
    dataDir: path.join(dataDir, 's3'),
    buckets: [bucket],
    credentials: ROLE_CREDENTIALS,
    log: () => undefined,
  });
  const sqs = await startSqsServer({
    port: 0,
    dataDir: path.join(dataDir, 'sqs'),
    queues: [
      { name: DLQ },
      { name: QUEUE, attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: queueArn(DLQ), maxReceiveCount: 3 }) } },
    ],
  });
  return {
    s3,
    sqs,
    queueUrl: sqs.queueUrl(QUEUE),
    queueArn: queueArn(QUEUE),
    options: {
      refs: { InferQueue: sqs.queueUrl(QUEUE), InferDeadLetterQueue: sqs.queueUrl(DLQ) },
      // The local AWS stands in for AWS's endpoints; nothing else of the template is changed.
      overrides: {
        S3_ENDPOINT: s3.url,
        SQS_ENDPOINT: sqs.url,
        AWS_ACCESS_KEY_ID: ROLE_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: ROLE_CREDENTIALS.secretAccessKey,
        AWS_SESSION_TOKEN: 'sandbox-session',
      },
    },
    async close() {
      await s3.close();
      await sqs.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
