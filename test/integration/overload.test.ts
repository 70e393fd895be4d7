import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { imagesDir } from '../../src/shared/paths';
import { runLoad } from '../../src/tools/bench/load';
import { ensurePhotoVariants } from '../../src/tools/load/photo-variants';
import { API, authHeaders, call, lateBody, multipart, photo } from './helpers';

const MIME: Record<string, string> = { '.jpg': 'image/jpeg', '.png': 'image/png', '.webp': 'image/webp' };

/** A sum over every series of one metric in the stack's /metrics. */
async function metric(name: string): Promise<number> {
  const res = await fetch(`${API()}/metrics`, { headers: authHeaders() });
  const text = await res.text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

/** A photo no earlier request sent: the same pixels, a unique EXIF description. */
const freshPhoto = () =>
  sharp(photo('goldfish.jpg'))
    .withExif({ IFD0: { ImageDescription: randomUUID() } })
    .jpeg()
    .toBuffer();

describe('overload: a burst far beyond capacity is shed cleanly', () => {
  it('answers 503 with Retry-After, quickly, with no socket errors and no 500s, then recovers', async () => {
    // Prepare: distinct photos, each asked for with a different top-k in turn, so that no answer comes from the
    // response cache (whose key holds the top-k) and every request costs a decode and an inference.
    const dir = await ensurePhotoVariants(300, mkdtempSync(path.join(tmpdir(), 'sic-overload-')), imagesDir());
    const photos = readdirSync(dir)
      .filter((f) => MIME[path.extname(f)])
      .map((f) => ({ headers: { 'Content-Type': MIME[path.extname(f)] as string }, body: readFileSync(path.join(dir, f)) }));
    const requests = Array.from({ length: 20 }, (_, k) => photos.map((p) => ({ method: 'POST', path: `/predict?topK=${k + 1}`, ...p }))).flat();
    const shedEarlyBefore = await metric('requests_shed_early_total');
    // Act: 256 keep-alive clients with no think time, far beyond what 2 cores serve; they back off as told.
    const r = await runLoad({ url: API(), connections: 256, durationS: 8, requests, timeoutMs: 20_000, honorRetryAfter: true });
    // Assess
    expect(r.socketErrors).toBe(0);
    // The burst lands before any queue has stood for an interval, so it is admitted up to the route's deadline (3 s,
    // counted from its handler's start) on the service rate measured so far; a request whose deadline then passes in the queue is dropped
    // unclassified with 504 TIMEOUT instead of being computed for nobody. Only those, and rarely.
    expect(r.httpErrors).toBe(r.statuses['504'] ?? 0);
    expect(r.httpErrors).toBeLessThan(0.05 * r.requests);
    expect(r.ok).toBeGreaterThan(150);
    // Shedding itself takes no queue time, but 256 simultaneous uploads first wait in serverless-offline's one
    // event loop before our handler runs: measured shed p99 0.4–2 s here. Bounded, never a hang.
    expect(r.shedP99).toBeLessThan(5000);
    expect(r.shed).toBeGreaterThan(0);
    expect(r.shedWithoutRetryAfter).toBe(0);
    expect(
      Object.keys(r.statuses)
        .filter((status) => status !== '504')
        .sort(),
    ).toEqual(['200', '503']);
    // The queue stood, so most of the shedding happened before serverless-offline read the bodies.
    expect((await metric('requests_shed_early_total')) - shedEarlyBefore).toBeGreaterThan(0);
    // Back to normal service right after the burst.
    await new Promise((res) => setTimeout(res, 1000));
    const after = await call('POST', '/predict', { body: new Uint8Array(await freshPhoto()), headers: { 'Content-Type': 'image/jpeg' } });
    expect(after.status).toBe(200);
    expect(after.body.timings.totalMs).toBeLessThan(500);
  });
});

describe('deadlines', () => {
  it('drops work whose deadline passed before inference: 504 TIMEOUT, nothing classified', async () => {
    // Prepare: a 50 ms deadline, and a body that arrives 300 ms after the headers
    const classified = await metric('images_classified_total');
    const expired = await metric('inference_expired_requests_total');
    const bytes = new Uint8Array(await freshPhoto());
    // Act
    const res = await call('POST', '/predict', { body: lateBody(bytes, 300), headers: { 'Content-Type': 'image/jpeg', 'X-Request-Timeout': '50' } });
    // Assess
    expect(res.status).toBe(504);
    expect(res.body).toMatchObject({ code: 'TIMEOUT', message: expect.stringMatching(/before it reached the queue/) });
    expect(await metric('images_classified_total')).toBe(classified);
    expect(await metric('inference_expired_requests_total')).toBe(expired + 1);
  });

  it("counts a route's default deadline from when the body is in: a slow upload with no deadline of its own is classified", async () => {
    // Prepare: the body arrives 3.3 s after the headers, past /predict's 3 s default counted from the headers
    const bytes = new Uint8Array(await freshPhoto());
    // Act
    const res = await call('POST', '/predict', { body: lateBody(bytes, 3300), headers: { 'Content-Type': 'image/jpeg' } });
    // Assess
    expect(res.status).toBe(200);
  }, 15_000);

  it('accepts a grpc-timeout, and refuses a malformed deadline with 400', async () => {
    const ok = await call('POST', '/predict', {
      body: new Uint8Array(await freshPhoto()),
      headers: { 'Content-Type': 'image/jpeg', 'grpc-timeout': '5S' },
    });
    expect(ok.status).toBe(200);
    const bad = await call('POST', '/predict/batch', {
      body: multipart([{ field: 'files', name: 'a.jpg', data: await freshPhoto(), type: 'image/jpeg' }]),
      headers: { 'X-Request-Timeout': 'soon' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ code: 'BAD_REQUEST' });
  });
});

describe('response cache', () => {
  it('answers the same bytes, model and top-k from the cache: X-Cache hit, counted in /metrics', async () => {
    // Prepare
    const bytes = new Uint8Array(await freshPhoto());
    const hits = await metric('response_cache_hits_total');
    // Act
    const first = await call('POST', '/predict', { body: bytes, headers: { 'Content-Type': 'image/jpeg' } });
    const again = await call('POST', '/predict', { body: bytes, headers: { 'Content-Type': 'image/jpeg' } });
    const otherK = await call('POST', '/predict?topK=2', { body: bytes, headers: { 'Content-Type': 'image/jpeg' } });
    const batch = await call('POST', '/predict/batch', {
      body: multipart([{ field: 'files', name: 'a.jpg', data: Buffer.from(bytes), type: 'image/jpeg' }]),
    });
    // Assess
    expect([first.headers.get('x-cache'), again.headers.get('x-cache'), otherK.headers.get('x-cache'), batch.headers.get('x-cache')]).toEqual([
      'miss',
      'hit',
      'miss',
      'hit',
    ]);
    expect(again.body.predictions).toEqual(first.body.predictions);
    expect(again.body.timings.queueMs).toBe(0);
    expect((await metric('response_cache_hits_total')) - hits).toBe(2);
  });
});
