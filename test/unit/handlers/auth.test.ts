import type { APIGatewayProxyEvent } from 'aws-lambda';
import { type Config, parseApiKeys, parseConfig } from '../../../src/config';
import { RateLimiter } from '../../../src/core/rate-limit';
import { accessGate, keyLookup } from '../../../src/handlers/middleware/auth';

const KEY_A = 'a-key-of-client-a-0123456789';
const KEY_B = 'b-key-of-client-b-0123456789';

/** A REST proxy event with just what the gate reads. */
const event = (headers: Record<string, string> = {}, apiKeyId: string | null = null): APIGatewayProxyEvent =>
  ({ headers, requestContext: { identity: { apiKeyId } } }) as unknown as APIGatewayProxyEvent;

const keysAuth = (operators = ['*']): Config['auth'] => ({
  mode: 'keys',
  keys: parseApiKeys(`a:${KEY_A}:2:3,b:${KEY_B}`),
  operators,
});

describe('API_KEYS', () => {
  it('reads name:key[:rps[:burst]], with 50 requests/s and a burst of twice the rate by default', () => {
    expect(parseApiKeys(` a:${KEY_A}:2:3 , b:${KEY_B}, c:${KEY_A}x:0.5`)).toEqual([
      { name: 'a', key: KEY_A, ratePerSecond: 2, burst: 3 },
      { name: 'b', key: KEY_B, ratePerSecond: 50, burst: 100 },
      { name: 'c', key: `${KEY_A}x`, ratePerSecond: 0.5, burst: 1 },
    ]);
    expect(parseApiKeys(undefined)).toEqual([]);
    expect(parseApiKeys('')).toEqual([]);
  });

  it.each([
    [`${KEY_A}`, /entry 1: expected name:key/],
    [`a:${KEY_A}:1:2:3`, /entry 1: expected name:key/],
    [`-a:${KEY_A}`, /entry 1: the name must be/],
    ['a:short', /entry 1 \("a"\): the key must be 16 to 256/],
    [`a:${KEY_A}:0`, /entry 1 \("a"\): rate "0" must be a positive number/],
    [`a:${KEY_A}:fast`, /rate "fast"/],
    [`a:${KEY_A}:5:1.5`, /burst "1.5" must be an integer/],
    [`a:${KEY_A},a:${KEY_B}`, /entry 2 \("a"\): the name is used twice/],
    [`a:${KEY_A},b:${KEY_A}`, /entry 2 \("b"\): the same key as "a"/],
  ])('refuses %s naming the entry, never printing its key', (raw, message) => {
    let error: unknown;
    try {
      parseApiKeys(raw);
    } catch (err: unknown) {
      error = err;
    }
    expect(String(error)).toMatch(message);
    expect(String(error)).not.toContain(KEY_A);
    expect(String(error)).not.toContain(KEY_B);
  });

  it('is parsed with the rest of the config: mode keys unless told, no operator unless named', () => {
    expect(parseConfig({ API_KEYS: `a:${KEY_A}` }).auth).toEqual({
      mode: 'keys',
      keys: [{ name: 'a', key: KEY_A, ratePerSecond: 50, burst: 100 }],
      operators: [],
    });
    expect(parseConfig({ OPERATOR_KEYS: '*' }).auth.operators).toEqual(['*']);
    expect(parseConfig({ AUTH_MODE: 'gateway', OPERATOR_KEYS: 'ops, k1' }).auth).toEqual({ mode: 'gateway', keys: [], operators: ['ops', 'k1'] });
    expect(() => parseConfig({ AUTH_MODE: 'none' })).toThrow(/AUTH_MODE=none: expected one of keys, gateway/);
  });

  it('refuses gateway mode under serverless-offline, whose one placeholder key id would make every client the same', () => {
    expect(() => parseConfig({ AUTH_MODE: 'gateway', IS_OFFLINE: 'true' })).toThrow(/AUTH_MODE=gateway cannot run under serverless-offline/);
    expect(parseConfig({ AUTH_MODE: 'keys', IS_OFFLINE: 'true' }).auth.mode).toBe('keys');
  });
});

describe('keyLookup', () => {
  it('finds the entry of an exact key only', () => {
    const find = keyLookup(parseApiKeys(`a:${KEY_A},b:${KEY_B}`));
    expect(find(KEY_B)?.name).toBe('b');
    expect(find(KEY_A)?.name).toBe('a');
    for (const wrong of ['', KEY_A.slice(0, -1), `${KEY_A} `, KEY_A.toUpperCase(), `${KEY_A}${KEY_B}`]) expect(find(wrong)).toBeUndefined();
  });
});

describe('accessGate, AUTH_MODE=keys', () => {
  const gate = () => accessGate(keysAuth(['b']), new RateLimiter(() => 0));

  it('lets anyone call a public route, with no key and no RateLimit fields', () => {
    expect(gate()(event(), 'public')).toEqual({ headers: {} });
  });

  it('refuses a missing or unknown key with 401, before any bucket is charged', () => {
    // Prepare
    const g = gate();
    // Act
    const missing = g(event(), 'client');
    const unknown = g(event({ 'X-Api-Key': 'not-a-key-of-anyone-0000' }), 'client');
    const known = g(event({ 'x-api-key': KEY_A }), 'client');
    // Assess
    expect(missing.refusal).toMatchObject({ code: 'UNAUTHORIZED', statusCode: 401, message: expect.stringMatching(/x-api-key header/) });
    expect(unknown.refusal).toMatchObject({ code: 'UNAUTHORIZED', statusCode: 401 });
    expect(unknown.refusal?.message).not.toContain('not-a-key');
    expect(missing.headers).toEqual({});
    // A's bucket is whole: the refusals took nothing from anyone.
    expect(known.headers.RateLimit).toBe('"default";r=2;t=1');
  });

  it("admits a known key as its name, charging one token and stating the key's policy", () => {
    const admission = gate()(event({ 'x-api-key': KEY_A }), 'client');
    expect(admission).toEqual({
      principal: { id: 'a', operator: false },
      headers: { 'RateLimit-Policy': '"default";q=3;w=2', RateLimit: '"default";r=2;t=1' },
    });
  });

  it('answers 429 with Retry-After once the burst is spent, and the fields say the same instant', () => {
    // Prepare
    const g = gate();
    // Act: a's burst is 3 and its clock stands still.
    const answers = Array.from({ length: 4 }, () => g(event({ 'x-api-key': KEY_A }), 'client'));
    const b = g(event({ 'x-api-key': KEY_B }), 'client');
    // Assess
    expect(answers.map((a) => a.refusal?.statusCode)).toEqual([undefined, undefined, undefined, 429]);
    const refused = answers[3];
    expect(refused?.refusal).toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: 1 });
    expect(refused?.headers).toEqual({ 'RateLimit-Policy': '"default";q=3;w=2', RateLimit: '"default";r=0;t=1' });
    expect(b.refusal).toBeUndefined();
  });

  it('keeps operator routes to operator keys, after charging the bucket', () => {
    const g = gate();
    const b = g(event({ 'x-api-key': KEY_B }), 'operator');
    expect(b.principal).toEqual({ id: 'b', operator: true });
    expect(b.refusal).toBeUndefined();
    const a = g(event({ 'x-api-key': KEY_A }), 'operator');
    expect(a.refusal).toMatchObject({ code: 'FORBIDDEN', statusCode: 403 });
    expect(a.headers.RateLimit).toBe('"default";r=2;t=1');
  });

  it('refuses everything but public routes when no key is configured', () => {
    const g = accessGate({ mode: 'keys', keys: [], operators: ['*'] }, new RateLimiter(() => 0));
    expect(g(event({ 'x-api-key': KEY_A }), 'client').refusal?.statusCode).toBe(401);
    expect(g(event(), 'public').refusal).toBeUndefined();
  });
});

describe('accessGate, AUTH_MODE=gateway', () => {
  const gate = (operators = ['*']) => accessGate({ mode: 'gateway', keys: [], operators }, new RateLimiter(() => 0));

  it("takes API Gateway's key id as the principal, and the gateway's usage plan as the limit", () => {
    // The header is not read: API Gateway has checked it, and no API_KEYS exist in AWS.
    expect(gate()(event({ 'x-api-key': 'whatever' }, 'k1abc'), 'client')).toEqual({ principal: { id: 'k1abc', operator: true }, headers: {} });
  });

  it('refuses a request without a key id with 401 anyway: a route deployed without private: true', () => {
    expect(gate()(event({ 'x-api-key': KEY_A }, null), 'client').refusal).toMatchObject({ code: 'UNAUTHORIZED', statusCode: 401 });
    expect(gate()(event({}, null), 'public').refusal).toBeUndefined();
  });

  it('names operators by key id', () => {
    expect(gate(['ops1'])(event({}, 'ops1'), 'operator').refusal).toBeUndefined();
    expect(gate(['ops1'])(event({}, 'k1abc'), 'operator').refusal).toMatchObject({ code: 'FORBIDDEN' });
  });
});
