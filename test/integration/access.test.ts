// Access control over HTTP against the real local stack: keys on every route but /health, the operator route, a
// token bucket per client that holds a noisy client back without slowing the others, and jobs readable by their owner.
import { randomUUID } from 'node:crypto';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { localCredentials } from '../../src/handlers/deps/local-credentials';
import { postUpload, type UploadForm } from '../../src/tools/cli/upload';
import { API, authHeaders, call, keyOf, photo } from './helpers';

/** One request with exactly these headers (no suite key added, unlike `call`). */
async function send(method: string, path: string, headers: Record<string, string> = {}, body?: Uint8Array) {
  const t0 = performance.now();
  const res = await fetch(`${API()}${path}`, { method, headers, ...(body ? { body } : {}) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, ms: performance.now() - t0 };
}

const goldfish = new Uint8Array(photo('goldfish.jpg'));
const JPEG = { 'Content-Type': 'image/jpeg' };
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

/** Every keyed route, with a request that would succeed (or fail on its own terms) with a key. */
const ROUTES: Array<[string, string, Record<string, string>, Uint8Array | undefined]> = [
  ['POST', '/predict', JPEG, goldfish],
  ['POST', '/predict/batch', JPEG, goldfish],
  ['GET', '/models', {}, undefined],
  ['GET', '/metrics', {}, undefined],
  ['POST', '/jobs', { 'Content-Type': 'application/json' }, new TextEncoder().encode('{"count": 1}')],
  ['GET', '/jobs/no-such-job', {}, undefined],
  ['GET', '/jobs/no-such-job/results', {}, undefined],
];

describe('access: API keys', () => {
  it.each(ROUTES)(
    '%s %s answers 401 without a key and with a wrong one, naming the scheme and echoing nothing',
    async (method, path, headers, body) => {
      // Prepare
      const wrong = 'wrong-key-0123456789-abcdef';
      // Act
      const none = await send(method, path, headers, body);
      const bad = await send(method, path, { ...headers, 'x-api-key': wrong }, body);
      // Assess
      for (const res of [none, bad]) {
        expect(res.status).toBe(401);
        expect(JSON.parse(res.text)).toMatchObject({ error: 'Unauthorized', code: 'UNAUTHORIZED', requestId: expect.any(String) });
        expect(res.headers.get('www-authenticate')).toBe('ApiKey realm="image-classifier", header="x-api-key"');
        expect(res.headers.get('ratelimit')).toBeNull();
      }
      expect(bad.text).not.toContain(wrong);
      expect(JSON.parse(none.text).message).toMatch(/x-api-key/);
    },
  );

  it('serves the same routes to a valid key', async () => {
    const models = await call('GET', '/models');
    expect(models.status).toBe(200);
    expect((await call('GET', '/jobs/no-such-job')).status).toBe(404);
    expect((await call('POST', '/predict', { body: goldfish, headers: JPEG })).status).toBe(200);
  });

  it('leaves GET /health open, without RateLimit fields', async () => {
    const res = await send('GET', '/health');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toMatchObject({ status: 'ok' });
    expect(res.headers.get('ratelimit')).toBeNull();
  });

  it('answers a CORS preflight without a key, allowing the x-api-key header', async () => {
    const res = await send('OPTIONS', '/predict', {
      Origin: 'https://app.example.com',
      'Access-Control-Request-Method': 'POST',
      'Access-Control-Request-Headers': 'x-api-key, content-type',
    });
    expect(res.status).toBeLessThan(300);
    expect(res.headers.get('access-control-allow-origin')).toBeTruthy();
    expect(res.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('x-api-key');
  });

  it("keeps GET /metrics to operator keys: another client's valid key gets 403", async () => {
    const operator = await send('GET', '/metrics', authHeaders());
    expect(operator.status).toBe(200);
    expect(operator.text).toMatch(/# TYPE http_requests_total counter/);
    const other = await send('GET', '/metrics', { 'x-api-key': keyOf('other') });
    expect(other.status).toBe(403);
    expect(JSON.parse(other.text)).toMatchObject({ code: 'FORBIDDEN' });
  });

  it('states each key its limits on every answer, readable by a browser', async () => {
    const res = await send('GET', '/models', { 'x-api-key': keyOf('other'), Origin: 'https://app.example.com' });
    expect(res.status).toBe(200);
    // `other` has the defaults: 50/s, burst 100.
    expect(res.headers.get('ratelimit-policy')).toBe('"default";q=100;w=2');
    expect(res.headers.get('ratelimit')).toMatch(/^"default";r=\d+;t=\d+$/);
    const exposed = res.headers.get('access-control-expose-headers') ?? '';
    for (const h of ['RateLimit', 'RateLimit-Policy', 'Retry-After']) expect(exposed).toContain(h);
  });
});

describe('access: a token bucket per client', () => {
  // B's photos differ in a few bytes after the JPEG's end: each is classified, never answered from the response cache
  // in a few ms, so its latency means inference. B sends at most one request per 50 ms (20/s, well under its 50/s
  // with burst 100): unpaced, a fast machine answers it in under 10 ms and B would exhaust its own bucket.
  const paceMs = 50;
  let n = 0;
  const distinct = () => new Uint8Array(Buffer.concat([goldfish, Buffer.from(`#${n++}`)]));

  it("answers a client flooding past its rate 429 with Retry-After, while another client's requests all pass as fast as when idle", async () => {
    // Prepare: client B's idle latency, at the pace it keeps during the flood (after a warm-up pair).
    const other = { ...JPEG, 'x-api-key': keyOf('other') };
    const paced = async () => {
      const sentAt = performance.now();
      const r = await send('POST', '/predict', other, distinct());
      await new Promise((res) => setTimeout(res, Math.max(0, paceMs - (performance.now() - sentAt))));
      return r;
    };
    for (let i = 0; i < 2; i++) await send('POST', '/predict', other, goldfish);
    const idle: number[] = [];
    for (let i = 0; i < 10; i++) {
      const r = await paced();
      expect(r.status).toBe(200);
      idle.push(r.ms);
    }

    // Act: A (2 requests/s, burst 4) sends 25 requests/s for 3 s, not waiting for answers; B keeps going meanwhile.
    const noisy = { ...JPEG, 'x-api-key': keyOf('noisy') };
    const floodS = 3;
    const flood: Array<Promise<Awaited<ReturnType<typeof send>>>> = [];
    const started = performance.now();
    const timer = setInterval(() => flood.push(send('POST', '/predict', noisy, goldfish)), 40);
    const during: Array<Awaited<ReturnType<typeof send>>> = [];
    while (performance.now() - started < floodS * 1000) during.push(await paced());
    clearInterval(timer);
    const a = await Promise.all(flood);

    // Assess: A got its burst and its rate, no more; each refusal says when to come back, in both ways.
    const served = a.filter((r) => r.status === 200).length;
    const refused = a.filter((r) => r.status === 429);
    expect(a.length).toBeGreaterThan(50);
    expect(served).toBeGreaterThanOrEqual(4);
    expect(served).toBeLessThanOrEqual(4 + 2 * (floodS + 1));
    expect(refused.length).toBe(a.length - served);
    for (const r of refused) {
      const retryAfter = r.headers.get('retry-after');
      expect(retryAfter).toMatch(/^[1-9]\d*$/);
      expect(r.headers.get('ratelimit-policy')).toBe('"default";q=4;w=2');
      expect(r.headers.get('ratelimit')).toBe(`"default";r=0;t=${retryAfter}`);
      expect(JSON.parse(r.text)).toMatchObject({ code: 'RATE_LIMITED' });
    }
    // B: every request served, at its idle pace.
    expect(during.length).toBeGreaterThan(5);
    expect(during.map((r) => r.status).filter((s) => s !== 200)).toEqual([]);
    expect(median(during.map((r) => r.ms))).toBeLessThanOrEqual(2 * median(idle));
  });
});

describe("access: a job is its creator's", () => {
  // The global setup's clients: `suite` is the only operator (OPERATOR_KEYS), `other` a plain client.
  const asOther = { 'x-api-key': keyOf('other') };
  const s3 = new S3Client({ endpoint: `http://127.0.0.1:${process.env.S3_PORT}`, forcePathStyle: true, region: 'us-east-1', ...localCredentials() });
  afterAll(() => s3.destroy());

  async function settled(jobId: string): Promise<Record<string, any>> {
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const res = await call('GET', `/jobs/${jobId}`);
      if (res.status === 200 && (res.body.status === 'done' || res.body.status === 'failed')) return res.body;
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`job ${jobId} did not finish`);
  }

  /** What a client learns from an answer: its status, its body with the id it names blanked, and its header names. */
  const seen = (res: Awaited<ReturnType<typeof send>>, jobId: string) => {
    const { requestId, ...body } = JSON.parse(res.text) as Record<string, unknown>;
    expect(requestId).toEqual(expect.any(String));
    return {
      status: res.status,
      body: JSON.parse(JSON.stringify(body).replaceAll(jobId, '<id>')),
      headers: [...res.headers.keys()].filter((h) => h !== 'date').sort(),
    };
  };
  const paths = (jobId: string) => [`/jobs/${jobId}`, `/jobs/${jobId}/results`, `/jobs/${jobId}/results?format=csv&limit=1`];

  /** Asserts that `jobId`, asked by `headers`, answers every job route exactly as an id that was never created. */
  async function answersAsUnknown(jobId: string, headers: Record<string, string>) {
    const unknown = randomUUID().slice(0, jobId.length).padEnd(jobId.length, '0');
    for (const [path, never] of paths(jobId).map((p, i) => [p, paths(unknown)[i] ?? ''] as const)) {
      const theirs = seen(await send('GET', path, headers), jobId);
      const none = seen(await send('GET', never, headers), unknown);
      expect({ path, ...theirs }).toEqual({ path, ...none });
      expect({ path, status: theirs.status, code: theirs.body.code }).toEqual({ path, status: 404, code: 'JOB_NOT_FOUND' });
    }
  }

  it("another client's job, its results and its downloads answer 404, exactly as an unknown id; its owner reads them", async () => {
    // Prepare: the suite's job, one photo uploaded with its form, finished.
    const created = await call('POST', '/jobs', {
      body: JSON.stringify({ names: ['goldfish.jpg'] }),
      headers: { 'Content-Type': 'application/json' },
    });
    expect(created.status).toBe(201);
    const jobId = String(created.body.jobId);
    const [form] = created.body.uploads as UploadForm[];
    if (!form) throw new Error('POST /jobs gave no upload form');
    expect((await postUpload(form, goldfish, 'goldfish.jpg', 'image/jpeg')).status).toBe(204);
    const done = await settled(jobId);
    // Act + Assess: the owner sees it all.
    expect(done.results.download.jsonl).toEqual(expect.stringContaining(`results-${done.revision}.jsonl`));
    for (const path of paths(jobId)) expect({ path, status: (await send('GET', path, authHeaders())).status }).toEqual({ path, status: 200 });
    // Another client learns nothing, not even that it exists.
    await answersAsUnknown(jobId, asOther);
  });

  it('a job a bucket drop created has no owner: an operator reads it, another client gets 404 as for an unknown id', async () => {
    // Prepare: dropped straight into the bucket, as anyone with bucket rights may.
    const jobId = `drop-${Date.now()}`;
    await s3.send(new PutObjectCommand({ Bucket: 'image-classifier-local', Key: `uploads/${jobId}/goldfish.jpg`, Body: photo('goldfish.jpg') }));
    // Act: the suite's key is an operator's.
    const done = await settled(jobId);
    // Assess
    expect(done).toMatchObject({ status: 'done', explicit: false, counts: { done: 1 } });
    await answersAsUnknown(jobId, asOther);
  });
});
