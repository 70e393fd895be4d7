import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createPresignedPost, type PresignedPostOptions } from '@aws-sdk/s3-presigned-post';
import type { S3Event } from 'aws-lambda';
import type { LocalS3 } from '../../../../src/local/s3/server';
import { BUCKET, client, start, tempDir, waitFor } from './helpers';

// The forms come from the AWS SDK's createPresignedPost, and go over HTTP as a browser (or curl -F) sends them.
const KEY = 'uploads/job-1/a.jpg';
const bounded = (max: number, type: { exact: string } | { prefix: string }): Omit<PresignedPostOptions, 'Bucket'> => ({
  Key: KEY,
  Conditions: [
    'exact' in type ? ['eq', '$Content-Type', type.exact] : ['starts-with', '$Content-Type', type.prefix],
    ['content-length-range', 1, max],
  ],
  Fields: 'exact' in type ? { 'Content-Type': type.exact } : {},
  Expires: 600,
});

describe('local S3 POST Object (browser-based uploads)', () => {
  let dir: string;
  let server: LocalS3;
  let s3: S3Client;
  let events: S3Event[];

  beforeEach(async () => {
    dir = await tempDir();
    server = await start(dir, { retry: { baseMs: 20, maxMs: 100 } });
    s3 = client(server);
    events = [];
    server.onObjectCreated(async (event) => {
      events.push(event);
    });
  });

  afterEach(async () => {
    s3.destroy();
    await server.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const presign = (options: Omit<PresignedPostOptions, 'Bucket'>, signer: S3Client = s3) =>
    createPresignedPost(signer, { Bucket: BUCKET, ...options });

  /** Every field, then the file last, as S3 requires. */
  async function post(
    url: string,
    fields: Record<string, string>,
    file: Buffer,
    filename = 'a.jpg',
  ): Promise<{ status: number; headers: Headers; text: string }> {
    const form = new FormData();
    for (const [name, value] of Object.entries(fields)) form.append(name, value);
    form.append('file', new Blob([new Uint8Array(file)]), filename);
    const res = await fetch(url, { method: 'POST', body: form });
    return { status: res.status, headers: res.headers, text: await res.text() };
  }

  const stored = async (key = KEY) =>
    s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key })).then(
      () => true,
      (err: unknown) => ((err as { name?: string }).name === 'NotFound' ? false : Promise.reject(err)),
    );

  /** Files left in the store's temp dir: none once a request is answered, whatever the answer. */
  const leftovers = async () => (await fs.readdir(path.join(dir, 'tmp'))).length;

  it('stores an upload within its policy, answers 204 with ETag and Location, and notifies ObjectCreated:Post', async () => {
    // Prepare
    const body = Buffer.from('\xff\xd8\xff a small jpeg, honestly', 'latin1');
    const form = await presign(bounded(1000, { exact: 'image/jpeg' }));
    // Act
    const res = await post(form.url, form.fields, body);
    // Assess
    expect(res.status).toBe(204);
    const etag = `"${createHash('md5').update(body).digest('hex')}"`;
    expect(res.headers.get('etag')).toBe(etag);
    expect(res.headers.get('location')).toBe(`${server.url}/${BUCKET}/uploads/job-1/a.jpg`);
    const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: KEY, ChecksumMode: 'ENABLED' }));
    expect(got.ContentType).toBe('image/jpeg');
    expect(Buffer.from((await got.Body?.transformToByteArray()) ?? [])).toEqual(body);
    expect(got.ChecksumCRC64NVME).toBeDefined();
    await waitFor(() => events.length >= 1);
    expect(events[0]?.Records[0]).toMatchObject({
      eventName: 'ObjectCreated:Post',
      s3: { bucket: { name: BUCKET }, object: { key: KEY, size: body.length, eTag: etag.replace(/"/g, '') } },
    });
  });

  it('answers success_action_status 201 with a PostResponse document', async () => {
    const form = await presign({ ...bounded(1000, { prefix: 'image/' }), Fields: { success_action_status: '201' } });
    const res = await post(form.url, { ...form.fields, 'Content-Type': 'image/png' }, Buffer.from('png bytes'));
    expect(res.status).toBe(201);
    expect(res.text).toContain(`<Key>${KEY}</Key>`);
    expect(res.text).toContain('<PostResponse');
  });

  it('refuses another content type than the policy allows with 403 AccessDenied, storing and notifying nothing', async () => {
    const exact = await presign(bounded(1000, { exact: 'image/jpeg' }));
    const prefixed = await presign(bounded(1000, { prefix: 'image/' }));
    for (const [form, type] of [
      [exact, 'text/html'],
      [prefixed, 'text/html'],
      [prefixed, 'application/zip'],
    ] as const) {
      const res = await post(form.url, { ...form.fields, 'Content-Type': type }, Buffer.from('<script>alert(1)</script>'));
      expect({ type, status: res.status, code: /<Code>(\w+)<\/Code>/.exec(res.text)?.[1] }).toEqual({ type, status: 403, code: 'AccessDenied' });
      expect(res.text).toContain('Policy Condition failed');
    }
    expect(await stored()).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(events).toEqual([]);
    expect(await leftovers()).toBe(0);
  });

  it('refuses a form whose key was changed, or that has no policy, with 403', async () => {
    const form = await presign(bounded(1000, { exact: 'image/jpeg' }));
    const moved = await post(form.url, { ...form.fields, key: 'uploads/job-2/a.jpg' }, Buffer.from('x'));
    expect(moved.status).toBe(403);
    const { Policy: _policy, ...unsigned } = form.fields;
    expect((await post(form.url, unsigned, Buffer.from('x'))).status).toBe(403);
    expect(await stored('uploads/job-2/a.jpg')).toBe(false);
    expect(await stored()).toBe(false);
  });

  it('refuses an over-size file with 400 EntityTooLarge, storing nothing', async () => {
    const form = await presign(bounded(1000, { exact: 'image/jpeg' }));
    const res = await post(form.url, form.fields, Buffer.alloc(1001, 7));
    expect(res.status).toBe(400);
    expect(res.text).toContain('<Code>EntityTooLarge</Code>');
    expect(res.text).toContain('<MaxSizeAllowed>1000</MaxSizeAllowed>');
    expect(await stored()).toBe(false);
    expect(events).toEqual([]);
    expect(await leftovers()).toBe(0);
    // An exact fit passes.
    expect((await post(form.url, form.fields, Buffer.alloc(1000, 7))).status).toBe(204);
  });

  it('cuts off an over-size upload at the maximum: it answers early and closes rather than read the rest', async () => {
    // Prepare: 64 MiB offered against a 1,000-byte limit.
    const form = await presign(bounded(1000, { exact: 'image/jpeg' }));
    const total = 64 * 1024 * 1024;
    // Act
    const res = await streamPost(form.url, form.fields, total);
    // Assess: answered, and the client could hand over no more than what socket buffers hold (a few MiB).
    expect(res.status).toBe(400);
    expect(res.body).toContain('<Code>EntityTooLarge</Code>');
    expect(res.sent).toBeLessThan(total / 4);
    expect(await stored()).toBe(false);
    expect(await leftovers()).toBe(0);
  });

  it('reads no file of a form whose policy is missing or forged: a forged size limit cannot make the upload unbounded', async () => {
    // Prepare: the SDK's form with its size limit widened to 1 GB (its signature no longer matches), and one without a policy.
    const form = await presign(bounded(1000, { exact: 'image/jpeg' }));
    const policy = JSON.parse(Buffer.from(form.fields.Policy ?? '', 'base64').toString('utf8')) as { conditions: unknown[] };
    policy.conditions = policy.conditions.map((c) => (Array.isArray(c) && c[0] === 'content-length-range' ? ['content-length-range', 1, 1e9] : c));
    const widened = { ...form.fields, Policy: Buffer.from(JSON.stringify(policy)).toString('base64') };
    const { Policy: _policy, ...none } = form.fields;
    const total = 64 * 1024 * 1024;
    for (const [what, fields, code] of [
      ['forged', widened, 'SignatureDoesNotMatch'],
      ['missing', none, 'AccessDenied'],
    ] as const) {
      // Act
      const res = await streamPost(form.url, fields, total);
      // Assess
      expect({ what, status: res.status, code: /<Code>(\w+)<\/Code>/.exec(res.body)?.[1] }).toEqual({ what, status: 403, code });
      expect(res.sent).toBeLessThan(total / 4);
    }
    expect(await stored()).toBe(false);
    expect(await leftovers()).toBe(0);
  });

  it('refuses an expired policy with 403', async () => {
    // A client whose clock runs two hours behind signs a policy that expired before it was sent.
    const slow = client(server, { systemClockOffset: -2 * 3600 * 1000 });
    try {
      const form = await presign(bounded(1000, { exact: 'image/jpeg' }), slow);
      const res = await post(form.url, form.fields, Buffer.from('x'));
      expect(res.status).toBe(403);
      expect(res.text).toContain('Policy expired');
      expect(await stored()).toBe(false);
    } finally {
      slow.destroy();
    }
  });

  it("lets a browser's preflight POST to the bucket", async () => {
    const res = await fetch(`${server.url}/${BUCKET}`, {
      method: 'OPTIONS',
      headers: { Origin: 'https://app.example.com', 'Access-Control-Request-Method': 'POST' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-methods')).toContain('POST');
  });
});

/**
 * A POST Object whose file part offers `total` bytes, written as fast as the connection takes them; `sent` is how
 * many it took before the server answered and hung up.
 */
function streamPost(url: string, fields: Record<string, string>, total: number): Promise<{ status: number; body: string; sent: number }> {
  const boundary = '----bounded-upload-test';
  const head = Buffer.from(
    `${Object.entries(fields)
      .map(([name, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`)
      .join('')}--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const chunk = Buffer.alloc(64 * 1024, 7);
  return new Promise((resolve, reject) => {
    let sent = 0;
    let answer: { status: number; body: string } | undefined;
    const req = http.request(url, {
      method: 'POST',
      headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}`, 'Content-Length': String(head.length + total + tail.length) },
    });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => {
        answer = { status: res.statusCode ?? 0, body };
        settle();
      });
    });
    // Done once answered and the body is either all written (a server that read it all) or cut off.
    let over = false;
    let wait: NodeJS.Timeout | undefined;
    const settle = () => {
      if (!answer || !over) return;
      clearTimeout(wait);
      resolve({ ...answer, sent });
    };
    // The server closing mid-body shows here as EPIPE or ECONNRESET: expected, not a failure of the test.
    req.on('error', () => undefined);
    req.on('finish', () => {
      over = true;
      settle();
    });
    req.on('close', () => {
      over = true;
      // The response may still be ending when the socket closes; on a busy machine that can take a while, and the
      // wait only ends early when the answer is in.
      wait = setTimeout(() => (answer ? settle() : reject(new Error(`no answer after ${sent} bytes`))), 2000);
    });
    const pump = () => {
      while (sent < total && !req.destroyed) {
        sent += chunk.length;
        if (!req.write(chunk)) {
          req.once('drain', pump);
          return;
        }
      }
      if (!req.destroyed) req.end(tail);
    };
    req.write(head);
    pump();
  });
}
