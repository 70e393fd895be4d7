import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { LocalS3 } from '../../../../src/local/s3/server';
import { BUCKET, CREDENTIALS, client, start, tempDir } from './helpers';

describe('local S3 presigned URLs and CORS', () => {
  let dir: string;
  let server: LocalS3;

  beforeEach(async () => {
    dir = await tempDir();
  });

  afterEach(async () => {
    await server.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('accepts a presigned PUT via fetch (signature verified) and serves it to GetObject and a presigned GET', async () => {
    // Prepare
    server = await start(dir, { credentials: CREDENTIALS });
    // The presigning client must not bake an empty-body CRC32 into the URL (see the next test).
    const presigner = client(server, { requestChecksumCalculation: 'WHEN_REQUIRED' });
    const s3 = client(server);
    const data = randomBytes(150 * 1024);
    const key = 'uploads/j 1/photo é.jpg';
    const putUrl = await getSignedUrl(presigner, new PutObjectCommand({ Bucket: BUCKET, Key: key, ContentType: 'image/jpeg' }), {
      expiresIn: 60,
    });
    // Act
    const put = await fetch(putUrl, { method: 'PUT', body: data, headers: { 'content-type': 'image/jpeg' } });
    const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    const bytes = Buffer.from(await (got.Body?.transformToByteArray() ?? Promise.resolve(new Uint8Array())));
    const getUrl = await getSignedUrl(s3, new GetObjectCommand({ Bucket: BUCKET, Key: key }), { expiresIn: 60 });
    const viaUrl = await fetch(getUrl);
    // Assess
    expect(put.status).toBe(200);
    expect(put.headers.get('etag')).toBe(got.ETag);
    expect(bytes.equals(data)).toBe(true);
    expect(got.ContentType).toBe('image/jpeg');
    expect(viaUrl.status).toBe(200);
    expect(Buffer.from(await viaUrl.arrayBuffer()).equals(data)).toBe(true);
    presigner.destroy();
    s3.destroy();
  });

  it('rejects a body that does not match the CRC32 a default client signs into a PUT URL, as S3 does', async () => {
    // Prepare
    server = await start(dir);
    const s3 = client(server);
    const url = await getSignedUrl(s3, new PutObjectCommand({ Bucket: BUCKET, Key: 'k.jpg' }), { expiresIn: 60 });
    // Act
    const res = await fetch(url, { method: 'PUT', body: 'not empty' });
    // Assess
    expect(url).toContain('x-amz-checksum-crc32=AAAAAA%3D%3D');
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('<Code>BadDigest</Code>');
    s3.destroy();
  });

  it('rejects an expired presigned URL with 403 AccessDenied "Request has expired"', async () => {
    // Prepare
    server = await start(dir);
    const s3 = client(server, { requestChecksumCalculation: 'WHEN_REQUIRED' });
    const url = await getSignedUrl(s3, new PutObjectCommand({ Bucket: BUCKET, Key: 'late.jpg' }), {
      expiresIn: 60,
      signingDate: new Date(Date.now() - 120_000),
    });
    // Act
    const res = await fetch(url, { method: 'PUT', body: 'x' });
    const text = await res.text();
    // Assess
    expect(res.status).toBe(403);
    expect(text).toContain('<Code>AccessDenied</Code>');
    expect(text).toContain('<Message>Request has expired</Message>');
    await expect(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'late.jpg' }))).rejects.toMatchObject({ name: 'NoSuchKey' });
    s3.destroy();
  });

  it('rejects a wrong secret with SignatureDoesNotMatch when credentials are configured, on URLs and headers', async () => {
    // Prepare
    server = await start(dir, { credentials: CREDENTIALS });
    const wrong = new S3Client({
      endpoint: server.url,
      forcePathStyle: true,
      region: 'us-east-1',
      credentials: { accessKeyId: CREDENTIALS.accessKeyId, secretAccessKey: 'not-the-secret' },
      requestChecksumCalculation: 'WHEN_REQUIRED',
    });
    const url = await getSignedUrl(wrong, new PutObjectCommand({ Bucket: BUCKET, Key: 'forged.jpg' }), { expiresIn: 60 });
    // Act
    const res = await fetch(url, { method: 'PUT', body: 'x' });
    const viaSdk = wrong.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'forged.jpg', Body: 'x' }));
    // Assess
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('<Code>SignatureDoesNotMatch</Code>');
    await expect(viaSdk).rejects.toMatchObject({ name: 'SignatureDoesNotMatch' });
    wrong.destroy();
  });

  it('answers CORS for any origin, as an AllowedOrigins * rule does, never allowing credentials', async () => {
    // Prepare
    server = await start(dir);
    const s3 = client(server, { requestChecksumCalculation: 'WHEN_REQUIRED' });
    const url = await getSignedUrl(s3, new PutObjectCommand({ Bucket: BUCKET, Key: 'uploads/x.jpg' }), { expiresIn: 60 });
    // Act
    const preflight = await fetch(`${server.url}/${BUCKET}/uploads/x.jpg`, {
      method: 'OPTIONS',
      headers: { origin: 'http://localhost:5173', 'access-control-request-method': 'PUT', 'access-control-request-headers': 'content-type' },
    });
    const put = await fetch(url, { method: 'PUT', body: 'x', headers: { origin: 'http://localhost:5173' } });
    const unsigned = await fetch(`${server.url}/${BUCKET}/uploads/x.jpg`, { headers: { origin: 'https://evil.example' } });
    // Assess
    expect(preflight.status).toBe(200);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
    expect(preflight.headers.get('access-control-allow-methods')).toContain('PUT');
    expect(preflight.headers.get('access-control-allow-headers')).toBe('content-type');
    expect(put.status).toBe(200);
    expect(put.headers.get('access-control-allow-origin')).toBe('*');
    expect(put.headers.get('access-control-expose-headers')).toContain('ETag');
    expect(unsigned.status).toBe(403);
    for (const res of [preflight, put, unsigned]) expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    s3.destroy();
  });
});
