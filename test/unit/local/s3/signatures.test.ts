import { promises as fs } from 'node:fs';
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { LocalS3 } from '../../../../src/local/s3/server';
import { BUCKET, client, signedFetch, start, tempDir } from './helpers';

// What S3 itself answers a private bucket: unsigned requests are anonymous and refused; a presigned URL is good for
// its one method, key and expiry; header-signed requests must be fresh.
describe('local S3 signatures', () => {
  let dir: string;
  let server: LocalS3;
  let s3: S3Client;
  let presigner: S3Client;

  const code = async (res: Response) => ({ status: res.status, code: /<Code>([^<]+)<\/Code>/.exec(await res.text())?.[1] });
  const objectUrl = (key: string) => `${server.url}/${BUCKET}/${key}`;
  const exists = (key: string) =>
    s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key })).then(
      () => true,
      (err: { name?: string }) => (err.name === 'NoSuchKey' ? false : Promise.reject(err)),
    );

  beforeEach(async () => {
    dir = await tempDir();
    server = await start(dir);
    s3 = client(server);
    presigner = client(server, { requestChecksumCalculation: 'WHEN_REQUIRED' });
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'uploads/j/kept.jpg', Body: 'kept' }));
  });

  afterEach(async () => {
    s3.destroy();
    presigner.destroy();
    await server.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('refuses unsigned PUT, GET, LIST and DELETE with 403 AccessDenied, storing and removing nothing', async () => {
    // Act
    const put = await fetch(objectUrl('uploads/j/anon.jpg'), { method: 'PUT', body: 'x' });
    const get = await fetch(objectUrl('uploads/j/kept.jpg'));
    const list = await fetch(`${server.url}/${BUCKET}?list-type=2`);
    const del = await fetch(objectUrl('uploads/j/kept.jpg'), { method: 'DELETE' });
    // Assess
    for (const res of [put, get, list, del]) expect(await code(res)).toEqual({ status: 403, code: 'AccessDenied' });
    expect(await exists('uploads/j/anon.jpg')).toBe(false);
    expect(await exists('uploads/j/kept.jpg')).toBe(true);
  });

  it('accepts what the SDK signs, in a header or as a presigned URL', async () => {
    // Prepare
    const getUrl = await getSignedUrl(s3, new GetObjectCommand({ Bucket: BUCKET, Key: 'uploads/j/kept.jpg' }), { expiresIn: 60 });
    // Act
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'uploads/' }));
    const viaUrl = await fetch(getUrl);
    const viaHeader = await signedFetch(s3, objectUrl('uploads/j/kept.jpg'));
    // Assess
    expect(listed.Contents?.map((o) => o.Key)).toEqual(['uploads/j/kept.jpg']);
    expect(await viaUrl.text()).toBe('kept');
    expect(await viaHeader.text()).toBe('kept');
  });

  it('binds a presigned URL to its key, expiry and query: a tampered URL is SignatureDoesNotMatch', async () => {
    // Prepare
    const url = await getSignedUrl(presigner, new PutObjectCommand({ Bucket: BUCKET, Key: 'uploads/j/a.jpg' }), { expiresIn: 60 });
    const tampered = {
      key: url.replace('/uploads/j/a.jpg?', '/uploads/other/a.jpg?'),
      expiry: url.replace('X-Amz-Expires=60', 'X-Amz-Expires=604800'),
      query: `${url}&x-id=GetObject`,
      signature: url.replace(/X-Amz-Signature=([0-9a-f])/, (_m, c: string) => `X-Amz-Signature=${c === '0' ? '1' : '0'}`),
    };
    // Act
    const results = Object.fromEntries(
      await Promise.all(Object.entries(tampered).map(async ([what, u]) => [what, await code(await fetch(u, { method: 'PUT', body: 'x' }))])),
    );
    // Assess
    for (const what of Object.keys(tampered)) expect({ what, ...results[what] }).toEqual({ what, status: 403, code: 'SignatureDoesNotMatch' });
    expect(await exists('uploads/j/a.jpg')).toBe(false);
    expect(await exists('uploads/other/a.jpg')).toBe(false);
    expect((await fetch(url, { method: 'PUT', body: 'x' })).status).toBe(200);
  });

  it('binds a presigned URL to its method: a PUT URL neither deletes nor reads', async () => {
    // Prepare
    const url = await getSignedUrl(presigner, new PutObjectCommand({ Bucket: BUCKET, Key: 'uploads/j/kept.jpg' }), { expiresIn: 60 });
    // Act
    const del = await fetch(url, { method: 'DELETE' });
    const get = await fetch(url);
    // Assess
    expect(await code(del)).toEqual({ status: 403, code: 'SignatureDoesNotMatch' });
    expect(await code(get)).toEqual({ status: 403, code: 'SignatureDoesNotMatch' });
    expect(await exists('uploads/j/kept.jpg')).toBe(true);
  });

  it('refuses an expired presigned URL with AccessDenied, however it was signed', async () => {
    // Prepare
    const url = await getSignedUrl(presigner, new DeleteObjectCommand({ Bucket: BUCKET, Key: 'uploads/j/kept.jpg' }), {
      expiresIn: 60,
      signingDate: new Date(Date.now() - 61_000),
    });
    // Act
    const res = await fetch(url, { method: 'DELETE' });
    // Assess
    expect(await code(res)).toEqual({ status: 403, code: 'AccessDenied' });
    expect(await exists('uploads/j/kept.jpg')).toBe(true);
  });

  it('refuses a header-signed request from another key or signed over 15 minutes ago', async () => {
    // Prepare
    const stranger = client(server, { credentials: { accessKeyId: 'someone-else', secretAccessKey: 'local-secret' } });
    // Act
    const wrongKey = await stranger.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'uploads/j/kept.jpg' })).catch((err: unknown) => err);
    const stale = await signedFetch(s3, objectUrl('uploads/j/kept.jpg'), { signingDate: new Date(Date.now() - 16 * 60 * 1000) });
    const fresh = await signedFetch(s3, objectUrl('uploads/j/kept.jpg'), { signingDate: new Date(Date.now() - 14 * 60 * 1000) });
    // Assess
    expect(wrongKey).toMatchObject({ name: 'InvalidAccessKeyId', $metadata: { httpStatusCode: 403 } });
    expect(await code(stale)).toEqual({ status: 403, code: 'RequestTimeTooSkewed' });
    expect(fresh.status).toBe(200);
    stranger.destroy();
  });

  it('wants x-amz-content-sha256 on a header-signed request, as S3 does', async () => {
    // Prepare: what `curl --aws-sigv4` 7.88 sends, signed for an empty payload without saying so.
    const signer = await s3.config.signer();
    const u = new URL(objectUrl('uploads/j/kept.jpg'));
    const signed = await signer.sign({
      method: 'GET',
      protocol: u.protocol,
      hostname: u.hostname,
      port: Number(u.port),
      path: u.pathname,
      query: {},
      headers: { host: u.host },
    });
    const { 'x-amz-content-sha256': _omitted, ...headers } = signed.headers;
    // Act
    const res = await fetch(u, { headers });
    // Assess
    expect(await code(res)).toEqual({ status: 400, code: 'InvalidRequest' });
  });
});
