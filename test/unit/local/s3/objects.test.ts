import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  NoSuchBucket,
  NoSuchKey,
  NoSuchUpload,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { LocalS3 } from '../../../../src/local/s3/server';
import { BUCKET, client, signedFetch, start, tempDir } from './helpers';

/** Captures the headers the SDK really sent, to prove which wire format a test exercised. */
function captureHeaders(s3: S3Client): Array<Record<string, string>> {
  const seen: Array<Record<string, string>> = [];
  s3.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { headers?: Record<string, string> };
      if (request.headers) seen.push({ ...request.headers });
      return next(args);
    },
    { step: 'finalizeRequest', priority: 'low' },
  );
  return seen;
}

async function bodyOf(s3: S3Client, key: string, extra: { Range?: string } = {}): Promise<Buffer> {
  const out = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key, ...extra }));
  if (!out.Body) throw new Error('no body');
  return Buffer.from(await out.Body.transformToByteArray());
}

describe('local S3 objects', () => {
  let dir: string;
  let server: LocalS3;
  let s3: S3Client;

  beforeEach(async () => {
    // Prepare
    dir = await tempDir();
    server = await start(dir);
    s3 = client(server);
  });

  afterEach(async () => {
    s3.destroy();
    await server.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('round-trips 200 KB byte-exact through the default client, Buffer body (checksum header)', async () => {
    // Prepare
    const data = randomBytes(200 * 1024);
    const sent = captureHeaders(s3);
    // Act
    const put = await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'uploads/j1/a.bin', Body: data, ContentType: 'image/png' }));
    const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'uploads/j1/a.bin', ChecksumMode: 'ENABLED' }));
    const bytes = Buffer.from(await (got.Body?.transformToByteArray() ?? Promise.resolve(new Uint8Array())));
    // Assess
    expect(sent[0]?.['x-amz-checksum-crc32']).toBeDefined();
    expect(put.ChecksumCRC32).toBe(sent[0]?.['x-amz-checksum-crc32']);
    expect(bytes.equals(data)).toBe(true);
    expect(got.ContentLength).toBe(data.length);
    expect(got.ContentType).toBe('image/png');
    expect(got.ETag).toBe(put.ETag);
    expect(got.ChecksumCRC32).toBe(put.ChecksumCRC32);
    expect(got.LastModified).toBeInstanceOf(Date);
  });

  it('round-trips byte-exact when the default client streams aws-chunked with a CRC32 trailer', async () => {
    // Prepare
    const data = randomBytes(200 * 1024);
    const sent = captureHeaders(s3);
    // Act
    await s3.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: 'stream.bin',
        Body: Readable.from([data.subarray(0, 70_000), data.subarray(70_000, 150_001), data.subarray(150_001)]),
        ContentLength: data.length,
      }),
    );
    const bytes = await bodyOf(s3, 'stream.bin');
    // Assess
    expect(sent[0]?.['content-encoding']).toContain('aws-chunked');
    expect(sent[0]?.['x-amz-trailer']).toBe('x-amz-checksum-crc32');
    expect(bytes.length).toBe(data.length);
    expect(bytes.equals(data)).toBe(true);
  });

  it('round-trips byte-exact with requestChecksumCalculation WHEN_REQUIRED (no checksum, plain body)', async () => {
    // Prepare
    const plain = client(server, { requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
    const sent = captureHeaders(plain);
    const data = randomBytes(200 * 1024 + 7);
    // Act
    const put = await plain.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'plain.bin', Body: data }));
    const bytes = await bodyOf(plain, 'plain.bin');
    plain.destroy();
    // The default client asks for checksums on GET and validates the CRC64NVME S3 computes by default.
    const validated = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'plain.bin', ChecksumMode: 'ENABLED' }));
    const validatedBytes = Buffer.from(await (validated.Body?.transformToByteArray() ?? Promise.resolve(new Uint8Array())));
    // Assess
    expect(validated.ChecksumCRC64NVME).toMatch(/^[A-Za-z0-9+/]{11}=$/);
    expect(validatedBytes.equals(data)).toBe(true);
    expect(Object.keys(sent[0] ?? {}).some((h) => h.startsWith('x-amz-checksum-'))).toBe(false);
    expect(put.ChecksumCRC32).toBeUndefined();
    expect(bytes.equals(data)).toBe(true);
  });

  it('rejects a body whose aws-chunked trailer checksum does not match, storing nothing', async () => {
    // Prepare
    const payload = Buffer.from('hello world');
    const framed = Buffer.concat([
      Buffer.from(`${payload.length.toString(16)}\r\n`),
      payload,
      Buffer.from('\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n'),
    ]);
    // Act
    const res = await signedFetch(s3, `${server.url}/${BUCKET}/bad.txt`, {
      method: 'PUT',
      body: framed,
      headers: {
        'content-encoding': 'aws-chunked',
        'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
        'x-amz-trailer': 'x-amz-checksum-crc32',
        'x-amz-decoded-content-length': String(payload.length),
      },
    });
    // Assess
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('<Code>BadDigest</Code>');
    await expect(s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'bad.txt' }))).rejects.toMatchObject({
      $metadata: { httpStatusCode: 404 },
    });
  });

  it('rejects a Content-MD5 that does not match with BadDigest', async () => {
    // Act
    const call = s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'md5.txt', Body: 'abc', ContentMD5: Buffer.alloc(16).toString('base64') }));
    // Assess
    await expect(call).rejects.toMatchObject({ name: 'BadDigest', $metadata: { httpStatusCode: 400 } });
  });

  it('serves ranges, metadata and HEAD like S3', async () => {
    // Prepare
    const data = Buffer.from('0123456789abcdef');
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'r.txt', Body: data, ContentType: 'text/plain', Metadata: { jobid: 'j-1' } }));
    // Act
    const middle = await bodyOf(s3, 'r.txt', { Range: 'bytes=2-5' });
    const tail = await bodyOf(s3, 'r.txt', { Range: 'bytes=-3' });
    const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'r.txt' }));
    // Assess
    expect(middle.toString()).toBe('2345');
    expect(tail.toString()).toBe('def');
    expect(head.ContentLength).toBe(16);
    expect(head.ContentType).toBe('text/plain');
    expect(head.Metadata).toEqual({ jobid: 'j-1' });
    expect(head.ETag).toBe('"4032af8d61035123906e58e067140cc5"');
    await expect(bodyOf(s3, 'r.txt', { Range: 'bytes=99-' })).rejects.toMatchObject({ name: 'InvalidRange' });
  });

  it('surfaces NoSuchKey, NoSuchBucket and HEAD 404 as named SDK errors', async () => {
    await expect(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'missing' }))).rejects.toBeInstanceOf(NoSuchKey);
    await expect(s3.send(new GetObjectCommand({ Bucket: 'no-such-bucket', Key: 'k' }))).rejects.toBeInstanceOf(NoSuchBucket);
    await expect(s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'missing' }))).rejects.toMatchObject({
      name: 'NotFound',
      $metadata: { httpStatusCode: 404 },
    });
    await expect(s3.send(new HeadBucketCommand({ Bucket: 'no-such-bucket' }))).rejects.toMatchObject({
      $metadata: { httpStatusCode: 404 },
    });
  });

  it('creates, heads and lists buckets', async () => {
    // Act
    await s3.send(new CreateBucketCommand({ Bucket: 'second-bucket' }));
    await s3.send(new HeadBucketCommand({ Bucket: 'second-bucket' }));
    const list = await s3.send(new ListBucketsCommand({}));
    // Assess
    expect(list.Buckets?.map((b) => b.Name)).toEqual(['image-classifier-local', 'second-bucket']);
    await expect(s3.send(new CreateBucketCommand({ Bucket: 'Bad_Name' }))).rejects.toMatchObject({ name: 'InvalidBucketName' });
  });

  it('lists with prefix, delimiter + CommonPrefixes and pagination', async () => {
    // Prepare
    const keys = [
      'jobs/j1.json',
      'jobs/j2.json',
      'results/j1/out.json',
      'uploads/j1/a.jpg',
      'uploads/j1/b.jpg',
      'uploads/j2/c.jpg',
      'uploads/top.zip',
    ];
    for (const key of keys) await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: key }));
    // Act
    const top = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Delimiter: '/' }));
    const uploads = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'uploads/', Delimiter: '/' }));
    const pages: string[][] = [];
    let token: string | undefined;
    do {
      const page: ListObjectsV2CommandOutput = await s3.send(
        new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'uploads/', MaxKeys: 2, ContinuationToken: token }),
      );
      pages.push((page.Contents ?? []).map((c) => c.Key ?? ''));
      token = page.NextContinuationToken;
      expect(page.IsTruncated).toBe(token !== undefined);
    } while (token !== undefined);
    const prefixPages: string[][] = [];
    token = undefined;
    do {
      const page: ListObjectsV2CommandOutput = await s3.send(
        new ListObjectsV2Command({ Bucket: BUCKET, Delimiter: '/', MaxKeys: 1, ContinuationToken: token }),
      );
      prefixPages.push((page.CommonPrefixes ?? []).map((c) => c.Prefix ?? ''));
      expect(page.KeyCount).toBe(1);
      token = page.NextContinuationToken;
    } while (token !== undefined);
    const after = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, StartAfter: 'uploads/j1/b.jpg' }));
    // Assess
    expect(top.Contents).toBeUndefined();
    expect(top.CommonPrefixes?.map((p) => p.Prefix)).toEqual(['jobs/', 'results/', 'uploads/']);
    expect(top.KeyCount).toBe(3);
    expect(uploads.Contents?.map((c) => c.Key)).toEqual(['uploads/top.zip']);
    expect(uploads.CommonPrefixes?.map((p) => p.Prefix)).toEqual(['uploads/j1/', 'uploads/j2/']);
    expect(pages).toEqual([
      ['uploads/j1/a.jpg', 'uploads/j1/b.jpg'],
      ['uploads/j2/c.jpg', 'uploads/top.zip'],
    ]);
    expect(prefixPages).toEqual([['jobs/'], ['results/'], ['uploads/']]);
    expect(after.Contents?.map((c) => c.Key)).toEqual(['uploads/j2/c.jpg', 'uploads/top.zip']);
    const first = uploads.Contents?.[0];
    expect(first?.Size).toBe('uploads/top.zip'.length);
    expect(first?.ETag).toMatch(/^"[0-9a-f]{32}"$/);
    expect(first?.StorageClass).toBe('STANDARD');
  });

  it('round-trips keys with spaces, unicode, plus signs and reserved characters', async () => {
    // Prepare
    const keys = ['uploads/j 1/my photo (1).jpg', 'uploads/j1/été/日本語 画像.png', 'a+b=c&d?e#f%g.txt', 'emoji/😀 smile.gif'];
    // Act
    for (const key of keys) await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: `body of ${key}` }));
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET }));
    // Assess
    for (const key of keys) expect((await bodyOf(s3, key)).toString()).toBe(`body of ${key}`);
    expect(new Set(listed.Contents?.map((c) => c.Key))).toEqual(new Set(keys));
  });

  it('deletes single objects and batches', async () => {
    // Prepare
    for (const key of ['d/1', 'd/2', 'd/3']) await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: key }));
    // Act
    await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'd/1' }));
    await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'never-existed' }));
    const batch = await s3.send(new DeleteObjectsCommand({ Bucket: BUCKET, Delete: { Objects: [{ Key: 'd/2' }, { Key: 'd/3' }] } }));
    const left = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'd/' }));
    // Assess
    expect(batch.Deleted?.map((d) => d.Key)).toEqual(['d/2', 'd/3']);
    expect(left.KeyCount).toBe(0);
  });

  it('copies objects, keeping or replacing metadata', async () => {
    // Prepare
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'src key.txt', Body: 'copy me', ContentType: 'text/plain', Metadata: { a: '1' } }));
    // Act
    const kept = await s3.send(new CopyObjectCommand({ Bucket: BUCKET, Key: 'dst/kept.txt', CopySource: `${BUCKET}/src%20key.txt` }));
    await s3.send(
      new CopyObjectCommand({
        Bucket: BUCKET,
        Key: 'dst/replaced.txt',
        CopySource: `${BUCKET}/src%20key.txt`,
        MetadataDirective: 'REPLACE',
        ContentType: 'application/json',
        Metadata: { b: '2' },
      }),
    );
    const headKept = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'dst/kept.txt' }));
    const headReplaced = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'dst/replaced.txt' }));
    // Assess
    expect((await bodyOf(s3, 'dst/kept.txt')).toString()).toBe('copy me');
    expect(kept.CopyObjectResult?.ETag).toBe(headKept.ETag);
    expect(headKept.Metadata).toEqual({ a: '1' });
    expect(headKept.ContentType).toBe('text/plain');
    expect(headReplaced.Metadata).toEqual({ b: '2' });
    expect(headReplaced.ContentType).toBe('application/json');
    await expect(s3.send(new CopyObjectCommand({ Bucket: BUCKET, Key: 'x', CopySource: `${BUCKET}/missing` }))).rejects.toBeInstanceOf(NoSuchKey);
  });

  it('honours If-None-Match: * on PUT (conditional create)', async () => {
    // Act
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'jobs/j9.json', Body: '{}', IfNoneMatch: '*' }));
    const second = s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'jobs/j9.json', Body: '{"x":1}', IfNoneMatch: '*' }));
    // Assess
    await expect(second).rejects.toMatchObject({ name: 'PreconditionFailed', $metadata: { httpStatusCode: 412 } });
    expect((await bodyOf(s3, 'jobs/j9.json')).toString()).toBe('{}');
  });

  it('completes a multipart upload byte-exact with an S3-style ETag and composite checksum', async () => {
    // Prepare
    const part1 = randomBytes(5 * 1024 * 1024);
    const part2 = randomBytes(300 * 1024);
    const created = await s3.send(
      new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: 'uploads/j3/big.zip', ContentType: 'application/zip', ChecksumAlgorithm: 'CRC32' }),
    );
    const UploadId = created.UploadId;
    // Act
    const p1 = await s3.send(new UploadPartCommand({ Bucket: BUCKET, Key: 'uploads/j3/big.zip', UploadId, PartNumber: 1, Body: part1 }));
    const p2 = await s3.send(new UploadPartCommand({ Bucket: BUCKET, Key: 'uploads/j3/big.zip', UploadId, PartNumber: 2, Body: part2 }));
    const done = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: BUCKET,
        Key: 'uploads/j3/big.zip',
        UploadId,
        MultipartUpload: {
          Parts: [
            { PartNumber: 1, ETag: p1.ETag, ChecksumCRC32: p1.ChecksumCRC32 },
            { PartNumber: 2, ETag: p2.ETag, ChecksumCRC32: p2.ChecksumCRC32 },
          ],
        },
      }),
    );
    const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'uploads/j3/big.zip', ChecksumMode: 'ENABLED' }));
    const bytes = Buffer.from(await (got.Body?.transformToByteArray() ?? Promise.resolve(new Uint8Array())));
    // Assess
    expect(done.ETag).toMatch(/^"[0-9a-f]{32}-2"$/);
    expect(done.ChecksumCRC32).toMatch(/-2$/);
    expect(bytes.equals(Buffer.concat([part1, part2]))).toBe(true);
    expect(got.ETag).toBe(done.ETag);
    expect(got.ContentType).toBe('application/zip');
    await expect(s3.send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: 'uploads/j3/big.zip', UploadId }))).rejects.toBeInstanceOf(
      NoSuchUpload,
    );
  });

  it('rejects undersized non-final parts and aborts uploads', async () => {
    // Prepare
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: 'small.zip' }));
    const p1 = await s3.send(new UploadPartCommand({ Bucket: BUCKET, Key: 'small.zip', UploadId, PartNumber: 1, Body: 'tiny' }));
    const p2 = await s3.send(new UploadPartCommand({ Bucket: BUCKET, Key: 'small.zip', UploadId, PartNumber: 2, Body: 'tiny' }));
    // Act
    const complete = s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: BUCKET,
        Key: 'small.zip',
        UploadId,
        MultipartUpload: {
          Parts: [
            { PartNumber: 1, ETag: p1.ETag },
            { PartNumber: 2, ETag: p2.ETag },
          ],
        },
      }),
    );
    // Assess
    await expect(complete).rejects.toMatchObject({ name: 'EntityTooSmall' });
    await s3.send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: 'small.zip', UploadId }));
    await expect(s3.send(new UploadPartCommand({ Bucket: BUCKET, Key: 'small.zip', UploadId, PartNumber: 3, Body: 'x' }))).rejects.toBeInstanceOf(
      NoSuchUpload,
    );
  });

  it('keeps objects across a restart', async () => {
    // Prepare
    const data = randomBytes(64 * 1024);
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'results/j1/out.json', Body: data, Metadata: { m: 'v' } }));
    s3.destroy();
    await server.close();
    // Act
    server = await start(dir, { buckets: [] });
    s3 = client(server);
    const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'results/j1/out.json' }));
    // Assess
    expect((await bodyOf(s3, 'results/j1/out.json')).equals(data)).toBe(true);
    expect(head.Metadata).toEqual({ m: 'v' });
  });

  it('answers errors as S3 XML', async () => {
    // Act
    const res = await signedFetch(s3, `${server.url}/${BUCKET}/nope`);
    const text = await res.text();
    // Assess
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toBe('application/xml');
    expect(text).toMatch(
      /^<\?xml version="1.0" encoding="UTF-8"\?>\n<Error><Code>NoSuchKey<\/Code><Message>The specified key does not exist.<\/Message><Key>nope<\/Key><RequestId>[0-9A-F]{16}<\/RequestId>/,
    );
  });
});
