// Every error code a client can get, provoked over real HTTP against the local stack: the whole JSON body, the status
// and the headers that go with it. `typeof body.error === 'string'` let `"error": "App"` through; `toEqual` does not.
// Two codes no request can provoke from a ready, healthy stack: NOT_READY (models still loading) and INTERNAL (a fault
// of ours); test/unit/core/errors.test.ts shows what a client sees of them.
import { randomUUID } from 'node:crypto';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import { localCredentials } from '../../src/handlers/deps/local-credentials';
import { ERROR_CODES } from '../../src/openapi/document';
import { buildZip } from '../unit/adapters/zip-builder';
import { API, authHeaders, call, type Json, keyOf, lateBody, multipart, photo } from './helpers';

const REQUEST_ID = expect.stringMatching(/^[\w-]{8,}$/);
const BUCKET = 'image-classifier-local';
const s3 = new S3Client({ endpoint: `http://127.0.0.1:${process.env.S3_PORT}`, forcePathStyle: true, region: 'us-east-1', ...localCredentials() });
afterAll(() => s3.destroy());
const put = (key: string, body: Buffer | string) => s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
const JPEG = { 'Content-Type': 'image/jpeg' };
const JSON_BODY = { 'Content-Type': 'application/json' };

/** The body every error answer has: its class, its code, its message, and the id of the request. */
const errorBody = (error: string, code: string, message: string | ReturnType<typeof expect.stringMatching>, extra: Record<string, unknown> = {}) => ({
  error,
  code,
  message,
  requestId: REQUEST_ID,
  ...extra,
});

/** The codes the answers of this file carried, to show that none the API documents went unasserted. */
const provoked = new Set<string>();

/** What a client learns from an error answer; the request id must be the one X-Request-Id names. */
const seen = (res: Json) => {
  expect(res.body.requestId).toBe(res.headers.get('x-request-id'));
  provoked.add(String(res.body.code));
  return { status: res.status, body: res.body };
};

/** A photo no earlier request sent (a unique EXIF description), so no answer comes from the response cache. */
const freshPhoto = async () =>
  new Uint8Array(
    await sharp(photo('goldfish.jpg'))
      .withExif({ IFD0: { ImageDescription: randomUUID() } })
      .jpeg()
      .toBuffer(),
  );

describe('error bodies over HTTP: 4xx', () => {
  it('400 BAD_REQUEST: malformed JSON', async () => {
    const res = await call('POST', '/predict', { body: '{"image":', headers: JSON_BODY });
    expect(seen(res)).toEqual({
      status: 400,
      body: errorBody('BadRequest', 'BAD_REQUEST', 'the body is not valid JSON; send an object like {"image": "<base64>"}'),
    });
  });

  it('400 BAD_REQUEST with details: the upload name at fault', async () => {
    const res = await call('POST', '/jobs', { body: JSON.stringify({ names: ['ok.jpg', '..'] }), headers: JSON_BODY });
    expect(seen(res)).toEqual({
      status: 400,
      body: errorBody('BadRequest', 'BAD_REQUEST', expect.stringMatching(/^names\[1\] /), { details: { index: 1 } }),
    });
  });

  it('400 BAD_REQUEST: a malformed X-Request-Timeout', async () => {
    const res = await call('POST', '/predict', { body: new Uint8Array(photo('goldfish.jpg')), headers: { ...JPEG, 'X-Request-Timeout': 'soon' } });
    expect(seen(res)).toEqual({
      status: 400,
      body: errorBody('BadRequest', 'BAD_REQUEST', 'X-Request-Timeout must be a positive whole number of milliseconds'),
    });
  });

  it('400 INVALID_IMAGE: bytes that are no image (the error crossed the worker thread and comes back typed)', async () => {
    const res = await call('POST', '/predict', {
      body: new Uint8Array(Buffer.from('GIF89a-but-not-really')),
      headers: { 'Content-Type': 'image/gif' },
    });
    expect(seen(res)).toEqual({ status: 400, body: errorBody('InvalidImage', 'INVALID_IMAGE', 'the body is not a decodable image') });
  });

  it('401 UNAUTHORIZED: no key, and a wrong one, with WWW-Authenticate', async () => {
    const noKey: Record<string, string> = {};
    for (const headers of [noKey, { 'x-api-key': 'wrong-key-0123456789-abcdef' }]) {
      const raw = await fetch(`${API()}/models`, { headers });
      const res: Json = { status: raw.status, headers: raw.headers, body: (await raw.json()) as Json['body'] };
      expect(res.headers.get('www-authenticate')).toBe('ApiKey realm="image-classifier", header="x-api-key"');
      const message = 'x-api-key' in headers ? 'the API key is not valid' : 'this route needs an API key: send it in the x-api-key header';
      expect(seen(res)).toEqual({ status: 401, body: errorBody('Unauthorized', 'UNAUTHORIZED', message) });
    }
  });

  it("403 FORBIDDEN: an operator route with a client's key", async () => {
    const res = await call('GET', '/metrics', { headers: { 'x-api-key': keyOf('other') } });
    expect(seen(res)).toEqual({ status: 403, body: errorBody('Forbidden', 'FORBIDDEN', 'this route needs an operator key') });
  });

  it('404 MODEL_NOT_FOUND, JOB_NOT_FOUND and NOT_FOUND', async () => {
    const model = await call('POST', '/predict?model=resnet-9000', { body: new Uint8Array(photo('goldfish.jpg')), headers: JPEG });
    expect(seen(model)).toEqual({
      status: 404,
      body: errorBody('NotFound', 'MODEL_NOT_FOUND', 'unknown model "resnet-9000"; known: mobilenet-v1-0.75-fp32, mobilenetv2-int8'),
    });
    const job = await call('GET', '/jobs/no-such-job');
    expect(seen(job)).toEqual({ status: 404, body: errorBody('NotFound', 'JOB_NOT_FOUND', 'no job "no-such-job"') });
    const asset = await call('GET', '/console/no-such-asset.js');
    expect(seen(asset)).toEqual({ status: 404, body: errorBody('NotFound', 'NOT_FOUND', 'no such console asset') });
  });

  it('409 JOB_UNREADABLE: a job record overwritten by hand', async () => {
    // Prepare
    const jobId = String((await call('POST', '/jobs', { body: JSON.stringify({ count: 1 }), headers: JSON_BODY })).body.jobId);
    await put(`jobs/${jobId}/job.json`, 'not json');
    // Act
    const res = await call('GET', `/jobs/${jobId}`);
    // Assess
    expect(seen(res)).toEqual({
      status: 409,
      body: errorBody('JobUnreadable', 'JOB_UNREADABLE', `the record of job "${jobId}" is unreadable (not JSON)`),
    });
  });

  it('413 PAYLOAD_TOO_LARGE: an image over the size limit, and too many images', async () => {
    const big = await call('POST', '/predict', { body: new Uint8Array(Buffer.alloc(4_400_000, 1)), headers: JPEG });
    expect(seen(big)).toEqual({
      status: 413,
      body: errorBody('PayloadTooLarge', 'PAYLOAD_TOO_LARGE', `the image is 4400000 bytes, over the limit of ${4 * 1024 * 1024}`),
    });
    const files = Array.from({ length: 17 }, (_, i) => ({ field: 'files', name: `${i}.jpg`, data: photo('goldfish.jpg'), type: 'image/jpeg' }));
    const many = await call('POST', '/predict/batch', { body: multipart(files) });
    expect(seen(many)).toEqual({ status: 413, body: errorBody('PayloadTooLarge', 'PAYLOAD_TOO_LARGE', 'at most 16 images per request') });
  });

  it('415 UNSUPPORTED_MEDIA_TYPE', async () => {
    const res = await call('POST', '/predict', { body: 'hello', headers: { 'Content-Type': 'text/plain' } });
    expect(seen(res)).toEqual({
      status: 415,
      body: errorBody(
        'UnsupportedMediaType',
        'UNSUPPORTED_MEDIA_TYPE',
        'unsupported content type "text/plain"; send image/jpeg, image/png, image/webp, image/gif, image/tiff, image/avif, multipart/form-data or application/json',
      ),
    });
  });

  it('422 UNUSABLE_IMAGE: over the pixel limit, with the figures in details', async () => {
    const bomb = await sharp({ create: { width: 8000, height: 6000, channels: 3, background: '#808080' } })
      .png()
      .toBuffer();
    const res = await call('POST', '/predict', { body: new Uint8Array(bomb), headers: { 'Content-Type': 'image/png' } });
    expect(seen(res)).toEqual({
      status: 422,
      body: errorBody('UnusableImage', 'UNUSABLE_IMAGE', 'the image has 48000000 pixels, over the limit of 40000000', {
        details: { width: 8000, height: 6000, maxPixels: 40_000_000 },
      }),
    });
  });

  it('429 RATE_LIMITED with Retry-After: a client over its rate', async () => {
    // Prepare: `noisy` is held to 2 requests/s, burst 4.
    const headers = { 'x-api-key': keyOf('noisy') };
    // Act
    const answers = await Promise.all(Array.from({ length: 8 }, () => call('GET', '/models', { headers })));
    // Assess
    const refused = answers.find((a) => a.status === 429);
    if (!refused) throw new Error(`no 429 among ${answers.map((a) => a.status).join(', ')}`);
    expect(refused.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
    expect(seen(refused)).toEqual({ status: 429, body: errorBody('RateLimited', 'RATE_LIMITED', "over this key's rate of 2 requests/s (burst 4)") });
    // The next test file may count on the noisy client's full burst: 4 tokens at 2/s.
    await new Promise((r) => setTimeout(r, 2500));
  });
});

describe('error bodies over HTTP: 5xx a client is meant to read', () => {
  it('504 TIMEOUT with Retry-After: the deadline (X-Request-Timeout) passed before the request reached the queue, nothing was classified', async () => {
    // Prepare: the body arrives 300 ms after the headers, so the 50 ms deadline has passed before the handler runs
    const body = lateBody(await freshPhoto(), 300);
    // Act
    const res = await call('POST', '/predict', { body, headers: { ...JPEG, 'X-Request-Timeout': '50' } });
    // Assess
    expect(res.headers.get('retry-after')).toBe('1');
    expect(seen(res)).toEqual({
      status: 504,
      body: errorBody(
        'Timeout',
        'TIMEOUT',
        expect.stringMatching(/^the request's deadline passed \d+ ms before it reached the queue; nothing was classified$/),
      ),
    });
  });

  it('503 OVERLOADED with Retry-After: a batch that cannot finish before its deadline behind queued work', async () => {
    // Prepare: a 2-image probe asks 100 ms. Enough images are queued ahead of it to take three times that at the pool's
    // measured time per image, counted beyond what the pool's slots hold (cores and speed vary, so the depth is sized
    // from the stack, and reached before the probe is sent). A body of a few kilobytes reaches the handler well within
    // 100 ms, so the probe is shed on arrival for its deadline, not timed out. Small images arrive at once and decode
    // cheaply, but each costs a whole inference (every image is resized to the model's input).
    const deadlineMs = 100;
    const small = async () =>
      new Uint8Array(
        await sharp(photo('goldfish.jpg'))
          .resize(64, 64)
          .withExif({ IFD0: { ImageDescription: randomUUID() } })
          .jpeg()
          .toBuffer(),
      );
    const batchOf = async (n: number) =>
      multipart(
        await Promise.all(
          Array.from({ length: n }, async (_, i) => ({ field: 'files', name: `${i}.jpg`, data: Buffer.from(await small()), type: 'image/jpeg' })),
        ),
      );
    const engine = async () => (await call('GET', '/health')).body.engine as { workers: number; queued: number; perImageMs: number };
    let shed: Json | undefined;
    const seenStatuses: string[] = [];
    for (let attempt = 0; attempt < 3 && !shed; attempt++) {
      const { workers, perImageMs } = await engine();
      const ahead = Math.ceil((3 * deadlineMs) / perImageMs);
      // Within the queue's cap (256 images), so the probe is refused for its deadline, not for a full queue.
      const images = Math.min(240, ahead + 2 * workers);
      const bodies = await Promise.all(Array.from({ length: Math.ceil(images / 16) }, () => batchOf(16)));
      const probe = await batchOf(2);
      // Act
      const queued = bodies.map((body) => call('POST', '/predict/batch', { body }));
      const until = Date.now() + 2000;
      while ((await engine()).queued < Math.min(ahead, images - 2 * workers) && Date.now() < until) await new Promise((r) => setTimeout(r, 2));
      const res = await call('POST', '/predict/batch', { body: probe, headers: { 'X-Request-Timeout': String(deadlineMs) } });
      seenStatuses.push(`${res.status} (${images} images, ${perImageMs.toFixed(1)} ms each)`);
      if (res.status === 503) shed = res;
      await Promise.all(queued);
    }
    // Assess
    if (!shed) throw new Error(`the probe was not shed in 3 attempts: ${seenStatuses.join(', ')}`);
    expect(shed.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
    expect(seen(shed)).toEqual({
      status: 503,
      body: errorBody(
        'Overloaded',
        'OVERLOADED',
        expect.stringMatching(
          /^cannot finish before the request's deadline: \d+ images ahead (in its lane, which drains )?at \d+\.\d ms per image: predicted wait \d+ ms$/,
        ),
      ),
    });
    expect(Number(/predicted wait (\d+) ms/.exec(String(shed.body.message))?.[1])).toBeGreaterThan(deadlineMs);
  });
});

describe('POST /predict/batch: per-item errors', () => {
  it('a corrupt image fails its own slot with the same public error a lone one gets; the good one is classified', async () => {
    // Prepare
    const files = [
      { field: 'files', name: 'goldfish.jpg', data: photo('goldfish.jpg'), type: 'image/jpeg' },
      { field: 'files', name: 'corrupt.jpg', data: Buffer.from('not an image'), type: 'image/jpeg' },
    ];
    // Act
    const res = await call('POST', '/predict/batch', { body: multipart(files, { topK: '1' }) });
    // Assess
    expect(res.status).toBe(200);
    expect({ count: res.body.count, failed: res.body.failed }).toEqual({ count: 2, failed: 1 });
    expect(res.body.results[0]).toMatchObject({ index: 0, ok: true, predictions: [{ index: 1, label: 'goldfish' }] });
    expect(res.body.results[1]).toEqual({
      index: 1,
      ok: false,
      error: { error: 'InvalidImage', code: 'INVALID_IMAGE', status: 400, message: 'the body is not a decodable image' },
    });
  });
});

describe('batch jobs: the error of each record GET /jobs/{id}/results serves', () => {
  it('every code an upload, a zip entry, a manifest line or an image can end with, as code and message', async () => {
    // Prepare: a job made by a bucket drop, of uploads that each fail in their own way.
    const jobId = `errors-${Date.now()}`;
    const up = (name: string) => `uploads/${jobId}/${name}`;
    const uploads: Array<[string, Buffer | string]> = [
      ['broken.zip', 'not a zip at all'],
      ['photos.zip', buildZip([{ name: '../escape.jpg', data: photo('pelican.jpeg') }])],
      ['manifest.csv', `key\nmissing.jpg\nuploads/someone-else/a.jpg\nnested.zip\n`],
      ['second.manifest.csv', '"open,1\nb.jpg\n'],
      ['corrupt.jpg', 'not an image'],
      ['big.jpg', Buffer.alloc(4 * 1024 * 1024 + 1, 1)],
    ];
    // Act
    for (const [name, body] of uploads) await put(up(name), body);
    // Assess
    const deadline = Date.now() + 60_000;
    let report: Json | undefined;
    while (Date.now() < deadline) {
      report = await call('GET', `/jobs/${jobId}`);
      if (report.status === 200 && report.body.counts.failed === 8) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(report?.body).toMatchObject({ status: 'failed', counts: { expected: 8, ingested: 8, done: 0, failed: 8 } });
    const res = await fetch(`${API()}/jobs/${jobId}/results?format=jsonl`, { headers: authHeaders() });
    const records = (await res.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { key: string; ok: boolean; error?: unknown });
    const errorsByKey = Object.fromEntries(records.map((r) => [r.key, { ok: r.ok, error: r.error }]));
    const failed = (code: string, message: string) => ({ ok: false, error: { code, message } });
    expect(errorsByKey).toEqual({
      [up('broken.zip')]: failed('INVALID_ARCHIVE', 'not a zip archive (no end of central directory)'),
      [`${up('photos.zip')}#../escape.jpg`]: failed('INVALID_ARCHIVE_ENTRY', 'the entry\'s name cannot be a key: it has a ".." segment'),
      [up('missing.jpg')]: failed('OBJECT_NOT_FOUND', `s3://${BUCKET}/${up('missing.jpg')} does not exist`),
      [`${up('manifest.csv')}#line 3`]: failed('KEY_OUTSIDE_JOB', `"uploads/someone-else/a.jpg" lies outside this job's uploads (uploads/${jobId}/)`),
      [`${up('manifest.csv')}#line 4`]: failed(
        'INVALID_MANIFEST_LINE',
        '"nested.zip" is no image key (ingest ignores it, or reads it as a zip or a manifest)',
      ),
      [up('second.manifest.csv')]: failed('INVALID_MANIFEST', 'the manifest is not valid CSV: a quote is never closed'),
      [up('corrupt.jpg')]: failed('INVALID_IMAGE', 'the body is not a decodable image'),
      [up('big.jpg')]: failed('PAYLOAD_TOO_LARGE', `${4 * 1024 * 1024 + 1} bytes, over ${4 * 1024 * 1024}`),
    });
  });
});

describe('coverage', () => {
  it('the answers above carried every code the API documents but NOT_READY and INTERNAL', () => {
    expect([...provoked].sort()).toEqual(ERROR_CODES.filter((c) => c !== 'NOT_READY' && c !== 'INTERNAL').sort());
  });
});
