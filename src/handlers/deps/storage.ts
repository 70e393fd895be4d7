import { S3Client } from '@aws-sdk/client-s3';
import { S3ObjectStore, s3ChecksumSettings } from '../../adapters/s3-object-store';
import { config } from '../../config';
import type { ObjectStore } from '../../core/jobs/ports';
import { localCredentials } from './local-credentials';

let store: ObjectStore | undefined;

/** The bucket, through one S3 client per container. */
export const objectStore = (): ObjectStore => {
  if (store) return store;
  const { batch } = config();
  const s3 = new S3Client({
    region: batch.region,
    ...s3ChecksumSettings,
    ...(batch.s3Endpoint ? { endpoint: batch.s3Endpoint, forcePathStyle: true, ...localCredentials() } : {}),
  });
  store = new S3ObjectStore(s3, batch.bucket);
  return store;
};

/** What a job's upload URLs and downloads are bounded by. */
export const jobLimits = () => {
  const { limits, batch } = config();
  return { maxImageBytes: limits.maxImageBytes, maxPresignedUrls: batch.maxPresignedUrls, presignExpiresSeconds: batch.presignExpiresSeconds };
};
