import { SQSClient } from '@aws-sdk/client-sqs';
import { SqsWorkQueue } from '../../adapters/sqs-work-queue';
import { config } from '../../config';
import type { WorkQueue } from '../../core/jobs/ports';
import { localCredentials } from './local-credentials';

let queue: WorkQueue | undefined;

/** The inference work queue, through one SQS client per container. */
export const workQueue = (): WorkQueue => {
  if (queue) return queue;
  const { batch } = config();
  const sqs = new SQSClient({ region: batch.region, ...(batch.sqsEndpoint ? { endpoint: batch.sqsEndpoint, ...localCredentials() } : {}) });
  queue = new SqsWorkQueue(sqs, batch.queueUrl);
  return queue;
};
