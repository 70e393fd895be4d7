import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type CaseExpectation, type HostileCase, hostileCorpus, leakIn } from '../hostile/corpus';
import type { Outcome } from '../hostile/images';
import { seed, seedTop1 } from '../hostile/seeds';
import { type RawResponse, send } from '../hostile/send';
import { API, authHeaders, call } from './helpers';

// Issue 11, "The corpus, as a test": every generated hostile request over HTTP against the local stack, each with the
// status and error code it must get; no stack trace or internal path in any body; the service healthy afterwards.

/** SVG references point here; any request it gets is a reference that was followed. */
let canary: Server;
const canaryHits: string[] = [];
const corpus: HostileCase[] = hostileCorpus({
  canaryUrl: () => `http://127.0.0.1:${(canary.address() as AddressInfo).port}`,
});

/** Top-1 of each image posted raw, so that an EXIF-rotated twin can be compared with its upright original. */
const top1ByImage = new Map<string, number>();

/** When the function process started, from /health: a restart moves it. */
async function processStart(): Promise<number> {
  const res = await call('GET', '/health');
  expect(res.status).toBe(200);
  return Date.now() - (res.body.uptimeSeconds as number) * 1000;
}

/** An error and its causes, read by shape: fetch's errors come from Node's realm, not Jest's. */
function errorChain(err: unknown): string {
  const parts: string[] = [];
  for (
    let e = err as { name?: string; code?: string; message?: string; cause?: unknown } | undefined;
    e && parts.length < 5;
    e = e.cause as typeof e
  ) {
    parts.push(`${e.name ?? 'Error'}${e.code ? ` ${e.code}` : ''}: ${e.message ?? String(e)}`);
  }
  return parts.join(' <- ');
}

const describeOutcome = (o: Outcome) => (o.code ? `${o.status} ${o.code}` : String(o.status));

function assess(c: HostileCase, res: RawResponse): void {
  const e: CaseExpectation = c.expect;
  const { text } = res;
  const body = res.json ?? {};
  const actual: Outcome = { status: res.status, ...(typeof body.code === 'string' ? { code: body.code } : {}) };
  const matched = e.accept.find((o) => o.status === actual.status && (o.code === undefined || o.code === actual.code));
  if (!matched) {
    throw new Error(`${c.name}: got ${describeOutcome(actual)}, expected ${e.accept.map(describeOutcome).join(' or ')}; body ${text.slice(0, 300)}`);
  }
  expect({ case: c.name, leak: leakIn(text) }).toEqual({ case: c.name, leak: undefined });
  if (matched.code !== undefined) {
    // One of our errors: the documented shape, whatever went wrong.
    expect({ message: typeof body.message, requestId: typeof body.requestId, error: typeof body.error }).toEqual({
      message: 'string',
      requestId: 'string',
      error: 'string',
    });
  }
  if (e.maxMs !== undefined) expect({ case: c.name, fast: res.ms <= e.maxMs, ms: Math.round(res.ms) }).toMatchObject({ case: c.name, fast: true });
  if (e.noCredentials) expect(res.headers['access-control-allow-credentials']).not.toBe('true');
  if (res.status !== 200 || !Array.isArray(body.predictions)) return;
  const top1 = body.predictions[0]?.index as number | undefined;
  if (e.predictions !== undefined) expect(body.predictions).toHaveLength(e.predictions);
  if (e.top1 !== undefined) expect({ case: c.name, top1 }).toEqual({ case: c.name, top1: e.top1 });
  if (e.sameTop1As !== undefined) expect({ case: c.name, top1 }).toEqual({ case: c.name, top1: top1ByImage.get(e.sameTop1As) });
  if (c.name.startsWith('raw ') && top1 !== undefined) top1ByImage.set(c.name.slice('raw '.length), top1);
}

describe('hostile input: the generated corpus over HTTP', () => {
  let startedAt = 0;

  beforeAll(async () => {
    canary = createServer((req, res) => {
      canaryHits.push(`${req.method} ${req.url}`);
      res.end('canary');
    });
    await new Promise<void>((resolve) => canary.listen(0, '127.0.0.1', resolve));
    startedAt = await processStart();
  });

  afterAll(async () => {
    await new Promise((resolve) => canary.close(resolve));
  });

  it('names every case once (a report line must point at one request)', () => {
    const names = corpus.map((c) => c.name);
    expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
  });

  it.each(corpus.map((c) => [c.defect ? `${c.name} [defect ${c.defect}]` : c.name, c] as const))('%s', async (_name, c) => {
    // Prepare
    const req = await c.request();
    // Act
    const res = await send(API(), req, authHeaders()).catch((err: unknown) => {
      // A reset connection is an answer too, and the wrong one: say which.
      throw new Error(`${c.name}: no HTTP answer (${errorChain(err)})`);
    });
    // Assess
    assess(c, res);
  });

  it('followed no reference of any SVG (the canary server got no request)', async () => {
    await new Promise((r) => setTimeout(r, 500));
    expect(canaryHits).toEqual([]);
  });

  it('is healthy afterwards, never restarted, and still classifies a real photo', async () => {
    const health = await call('GET', '/health');
    expect(health.status).toBe(200);
    expect(health.body.ready).toBe(true);
    // uptimeSeconds is rounded to the second.
    expect(Math.abs((await processStart()) - startedAt)).toBeLessThan(2500);
    const res = await call('POST', '/predict', { body: new Uint8Array(seed('pelican.jpeg')), headers: { 'Content-Type': 'image/jpeg' } });
    expect(res.status).toBe(200);
    expect(res.body.predictions[0].index).toBe(seedTop1('pelican.jpeg'));
  });
});
