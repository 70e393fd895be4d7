import { runLoad } from '../../src/bench/load';
import { photoNames } from '../fixtures/paths';
import { API, call, mimeOf, photo } from './helpers';

describe('overload: a burst far beyond capacity is shed cleanly', () => {
  it('answers 503 with Retry-After, quickly, with no socket errors and no 500s, then recovers', async () => {
    // Prepare
    const requests = photoNames().map((n) => ({ method: 'POST', path: '/predict', headers: { 'Content-Type': mimeOf(n) }, body: photo(n) }));
    // Act: 256 keep-alive connections with no think time, ~2× what 2 cores can serve.
    const r = await runLoad({ url: API(), connections: 256, durationS: 8, requests, timeoutMs: 20_000 });
    // Assess
    expect(r.socketErrors).toBe(0);
    expect(r.httpErrors).toBe(0);
    expect(r.ok).toBeGreaterThan(100);
    expect(r.shed).toBeGreaterThan(0);
    expect(r.shedWithoutRetryAfter).toBe(0);
    expect(Object.keys(r.statuses).sort()).toEqual(['200', '503']);
    // Back to normal service right after the burst.
    await new Promise((res) => setTimeout(res, 1000));
    const after = await call('POST', '/predict', { body: new Uint8Array(photo('goldfish.jpg')), headers: { 'Content-Type': 'image/jpeg' } });
    expect(after.status).toBe(200);
    expect(after.body.timings.totalMs).toBeLessThan(500);
  });
});
