import { S3Client } from '@aws-sdk/client-s3';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';
import { S3Error } from '../../../../src/local/s3/errors';
import { checkPostSize, verifyPostFields } from '../../../../src/local/s3/post-policy';

// The forms come from the AWS SDK's own createPresignedPost: a client we did not write.
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const client = new S3Client({ region: 'us-east-1', endpoint: 'http://127.0.0.1:1', forcePathStyle: true, credentials });
afterAll(() => client.destroy());

async function form(extra: Record<string, string> = {}): Promise<Map<string, string>> {
  const post = await createPresignedPost(client, {
    Bucket: 'images',
    Key: 'uploads/job-1/a.jpg',
    Conditions: [
      ['content-length-range', 1, 1000],
      ['eq', '$Content-Type', 'image/jpeg'],
    ],
    Fields: { 'Content-Type': 'image/jpeg' },
    Expires: 600,
  });
  return new Map(Object.entries({ ...post.fields, ...extra }).map(([k, v]) => [k.toLowerCase(), v]));
}

const failure = (fn: () => unknown): S3Error => {
  try {
    fn();
  } catch (err: unknown) {
    if (err instanceof S3Error) return err;
    throw err;
  }
  throw new Error('expected an S3 error');
};
const verify = (fields: Map<string, string>, bucket = 'images', now = new Date(), creds = credentials) =>
  verifyPostFields(fields, bucket, 'x.jpg', now, creds);

test('a form the SDK signed passes before the file is read, naming the key, type, status and size range', async () => {
  expect(verify(await form())).toEqual({
    upload: { key: 'uploads/job-1/a.jpg', contentType: 'image/jpeg', userMetadata: {}, successStatus: 204 },
    range: { min: 1, max: 1000 },
  });
});

test('a file over or under the range is refused as S3 refuses it', () => {
  const range = { min: 1, max: 1000 };
  expect(failure(() => checkPostSize(range, 1001))).toMatchObject({ code: 'EntityTooLarge', statusCode: 400 });
  expect(failure(() => checkPostSize(range, 0))).toMatchObject({ code: 'EntityTooSmall', statusCode: 400 });
  expect(() => checkPostSize(range, 1000)).not.toThrow();
});

test('another content type, key or bucket breaks a condition', async () => {
  expect(failure(() => verify(new Map())).code).toBe('AccessDenied');
  const wrongType = await form({ 'Content-Type': 'text/html' });
  expect(failure(() => verify(wrongType))).toMatchObject({ code: 'AccessDenied', message: expect.stringContaining('Policy Condition failed') });
  const otherKey = await form({ key: 'uploads/job-2/a.jpg' });
  expect(failure(() => verify(otherKey)).code).toBe('AccessDenied');
  const honest = await form();
  expect(failure(() => verify(honest, 'other-bucket')).code).toBe('AccessDenied');
});

test('a field no condition names is refused; x-ignore- fields are not', async () => {
  const extra = await form({ 'x-amz-meta-owner': 'mallory' });
  expect(failure(() => verify(extra)).message).toContain('Extra input fields: x-amz-meta-owner');
  const ignored = new Map([...extra].filter(([k]) => k !== 'x-amz-meta-owner').concat([['x-ignore-note', 'hi']]));
  expect(() => verify(ignored)).not.toThrow();
});

test('a tampered policy or signature, or other credentials, do not verify', async () => {
  const f = await form();
  const policy = JSON.parse(Buffer.from(f.get('policy') ?? '', 'base64').toString('utf8')) as { conditions: unknown[] };
  policy.conditions = policy.conditions.map((c) => (Array.isArray(c) && c[0] === 'content-length-range' ? ['content-length-range', 1, 1e9] : c));
  const widened = new Map(f).set('policy', Buffer.from(JSON.stringify(policy)).toString('base64'));
  expect(failure(() => verify(widened)).code).toBe('SignatureDoesNotMatch');
  const forged = new Map(f).set('x-amz-signature', '0'.repeat(64));
  expect(failure(() => verify(forged)).code).toBe('SignatureDoesNotMatch');
  expect(failure(() => verify(f, 'images', new Date(), { accessKeyId: 'local', secretAccessKey: 'other' })).code).toBe('SignatureDoesNotMatch');
});

test('an expired policy is refused', async () => {
  const f = await form();
  expect(failure(() => verify(f, 'images', new Date(Date.now() + 601_000))).message).toContain('Policy expired');
});
