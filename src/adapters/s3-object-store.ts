import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { ObjectStore, PresignedPost, StoredObject, UploadPolicy } from '../core/jobs/ports';

/** Checksum settings of every client the batch path's store is given. */
export const s3ChecksumSettings = {
  // Otherwise the SDK signs a CRC32 of the *empty* body into presigned PUT URLs, and S3 refuses the real upload (BadDigest).
  requestChecksumCalculation: 'WHEN_REQUIRED',
  // By default every GET and HEAD also computes the object's CRC in JavaScript; S3 already verified it on
  // upload, and the batch path's reads are its hottest calls (skipping it saves about a third of a GET's CPU).
  responseChecksumValidation: 'WHEN_REQUIRED',
} as const;

const isMissing = (err: unknown): boolean => {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
};

/** A conditional write lost: the key exists (412), or another conditional write to it is in progress (409). */
const isConflict = (err: unknown): boolean => {
  const status = (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
  return status === 412 || status === 409;
};

const unquote = (etag: string | undefined): string => (etag ?? '').replace(/^"|"$/g, '');

/** The batch path's bucket on S3 (or the local S3), with an injected client. */
export class S3ObjectStore implements ObjectStore {
  constructor(
    private readonly client: S3Client,
    readonly bucket: string,
  ) {}

  async get(key: string): Promise<StoredObject | undefined> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      const body = res.Body ? await res.Body.transformToByteArray() : new Uint8Array();
      return { body, etag: unquote(res.ETag), metadata: res.Metadata ?? {} };
    } catch (err: unknown) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async head(key: string): Promise<{ etag: string; size: number; metadata: Record<string, string> } | undefined> {
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { etag: unquote(res.ETag), size: res.ContentLength ?? 0, metadata: res.Metadata ?? {} };
    } catch (err: unknown) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async put(key: string, body: Uint8Array | string, options: { contentType?: string; metadata?: Record<string, string> } = {}): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: body,
        ...(options.contentType ? { ContentType: options.contentType } : {}),
        ...(options.metadata ? { Metadata: options.metadata } : {}),
      }),
    );
  }

  async create(key: string, body: Uint8Array | string, options: { contentType?: string; metadata?: Record<string, string> } = {}): Promise<boolean> {
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: body,
          IfNoneMatch: '*',
          ...(options.contentType ? { ContentType: options.contentType } : {}),
          ...(options.metadata ? { Metadata: options.metadata } : {}),
        }),
      );
      return true;
    } catch (err: unknown) {
      if (isConflict(err)) return false;
      throw err;
    }
  }

  async list(prefix: string): Promise<Array<{ key: string; size: number; etag: string }>> {
    const out: Array<{ key: string; size: number; etag: string }> = [];
    let token: string | undefined;
    do {
      const res = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }));
      for (const o of res.Contents ?? []) if (o.Key) out.push({ key: o.Key, size: o.Size ?? 0, etag: unquote(o.ETag) });
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  /**
   * A POST policy rather than a presigned PUT: a PUT URL takes any content type and any size, and the size would be
   * found out only after a worker had read the whole object. The SDK adds the exact key and each preset field.
   */
  presignPost(key: string, policy: UploadPolicy): Promise<PresignedPost> {
    const typed = 'contentType' in policy;
    return createPresignedPost(this.client, {
      Bucket: this.bucket,
      Key: key,
      Conditions: [
        ['content-length-range', 1, policy.maxBytes],
        ...(typed ? [] : [['starts-with', '$Content-Type', policy.contentTypePrefix] as ['starts-with', string, string]]),
      ],
      Fields: typed ? { 'Content-Type': policy.contentType } : {},
      Expires: policy.expiresSeconds,
    });
  }

  presignGet(key: string, expiresSeconds: number): Promise<string> {
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: key }), { expiresIn: expiresSeconds });
  }
}
