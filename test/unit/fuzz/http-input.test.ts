import type { APIGatewayProxyEvent } from 'aws-lambda';
import fc from 'fast-check';
import sharp from 'sharp';
import { parseConfig } from '../../../src/config';
import { isAppError } from '../../../src/core/errors';
import { readImages } from '../../../src/handlers/middleware/http-input';
import { budget, escapes, mutate, mutationArb } from '../../hostile/fuzz';
import { multipartBody, type Part } from '../../hostile/multipart';

// Issue 11: property-based fuzzing of the request parsers. Whatever the body and content type, readImages resolves or
// rejects with one of our 4xx errors (never anything a client would see as a 5xx), promptly, and nothing escapes it.

const limits = parseConfig({}).limits;
const TYPES = ['multipart/form-data', 'application/json', 'image/jpeg', 'image/png', 'image/webp', 'application/octet-stream', 'text/plain', ''];

interface Request {
  body: Uint8Array | string;
  contentType: string;
  headerName: string;
  base64: boolean;
}

/** An API Gateway proxy event as the gateway builds it: binary bodies base64-encoded, others as text. */
const eventOf = (r: Request): APIGatewayProxyEvent =>
  ({
    httpMethod: 'POST',
    headers: { [r.headerName]: r.contentType },
    body: r.base64 ? Buffer.from(r.body).toString('base64') : typeof r.body === 'string' ? r.body : Buffer.from(r.body).toString('utf8'),
    isBase64Encoded: r.base64,
  }) as unknown as APIGatewayProxyEvent;

type Verdict = { ok: true; images: Uint8Array[]; fields: Record<string, unknown> } | { ok: false; status: number; code: string };

/** What readImages made of a request; anything but our own 4xx error is a failure of the property. */
async function verdictOf(r: Request, batch: boolean): Promise<Verdict> {
  try {
    const input = await readImages(eventOf(r), limits, batch);
    return { ok: true, images: input.images, fields: input.fields };
  } catch (err: unknown) {
    if (isAppError(err) && err.statusCode >= 400 && err.statusCode < 500) return { ok: false, status: err.statusCode, code: err.code };
    throw new Error(`readImages threw what would be a 5xx: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
  }
}

const headerNameArb = fc.constantFrom('Content-Type', 'content-type', 'CONTENT-TYPE');
/** RFC 2046 boundary characters; the content type quotes them, as ( ) , / : = ? require. */
const boundaryArb = fc.stringMatching(/^[A-Za-z0-9'()+_,./:=?-]{1,40}$/);
const imageArb = fc.oneof(fc.uint8Array({ maxLength: 2048 }), fc.constant(new Uint8Array(0)));
let jpeg: Buffer = Buffer.alloc(0);

beforeAll(async () => {
  jpeg = await sharp({ create: { width: 32, height: 24, channels: 3, background: '#486' } })
    .jpeg()
    .toBuffer();
});

/** A well-formed multipart body: optional documented fields, then one file part. */
const formArb = fc.record({
  boundary: boundaryArb,
  topK: fc.option(fc.integer({ min: 1, max: 20 }).map(String), { nil: undefined }),
  model: fc.option(fc.constantFrom('mobilenetv2-int8', 'mobilenet-v1-0.75-fp32'), { nil: undefined }),
  image: fc.oneof(imageArb, fc.constant('jpeg' as const)),
});
type Form = typeof formArb extends fc.Arbitrary<infer F> ? F : never;
const partsOf = (f: Form): { parts: Part[]; image: Buffer } => {
  const image = f.image === 'jpeg' ? jpeg : Buffer.from(f.image);
  const parts: Part[] = [];
  if (f.topK !== undefined) parts.push({ name: 'topK', data: f.topK });
  if (f.model !== undefined) parts.push({ name: 'model', data: f.model });
  parts.push({ name: 'file', filename: 'a.jpg', type: 'image/jpeg', data: image });
  return { parts, image };
};

describe('readImages under fuzzing', () => {
  it('random bytes under random content types: a 4xx or images, never a 5xx, a hang or an escaped error', async () => {
    const escaped = await escapes(() =>
      fc.assert(
        fc.asyncProperty(
          fc.uint8Array({ maxLength: 8192 }),
          fc.oneof(fc.constantFrom(...TYPES), fc.mixedCase(fc.constantFrom(...TYPES)), fc.string({ maxLength: 80 })),
          fc.option(boundaryArb, { nil: undefined }),
          headerNameArb,
          fc.boolean(),
          fc.boolean(),
          async (body, type, boundary, headerName, base64, batch) => {
            const contentType = boundary === undefined ? type : `${type}; boundary=${boundary}`;
            await verdictOf({ body, contentType, headerName, base64 }, batch);
          },
        ),
        budget(1000, { perRunMs: 2000, budgetMs: 8000 }),
      ),
    );
    expect(escaped).toEqual([]);
  }, 30_000);

  it('mutated multipart bodies (truncated, flipped, spliced): a 4xx or images, never a 5xx, a hang or an escaped error', async () => {
    const escaped = await escapes(() =>
      fc.assert(
        fc.asyncProperty(formArb, fc.array(mutationArb, { minLength: 1, maxLength: 4 }), fc.boolean(), async (f, mutations, batch) => {
          const body = mutate(multipartBody(partsOf(f).parts, { boundary: f.boundary }), mutations);
          await verdictOf({ body, contentType: `multipart/form-data; boundary="${f.boundary}"`, headerName: 'Content-Type', base64: true }, batch);
        }),
        budget(1000, { perRunMs: 2000, budgetMs: 8000 }),
      ),
    );
    expect(escaped).toEqual([]);
  }, 30_000);

  it('a well-formed multipart body comes out exactly as sent, whatever the casing of its media type (the parser half of defect 8)', async () => {
    await fc.assert(
      fc.asyncProperty(formArb, fc.mixedCase(fc.constant('multipart/form-data')), fc.mixedCase(fc.constant('boundary')), async (f, type, param) => {
        const { parts, image } = partsOf(f);
        const v = await verdictOf(
          {
            body: multipartBody(parts, { boundary: f.boundary }),
            contentType: `${type}; ${param}="${f.boundary}"`,
            headerName: 'Content-Type',
            base64: true,
          },
          false,
        );
        expect(v).toEqual({
          ok: true,
          images: [new Uint8Array(image)],
          fields: { ...(f.topK === undefined ? {} : { topK: f.topK }), ...(f.model === undefined ? {} : { model: f.model }) },
        });
      }),
      budget(300, { perRunMs: 2000, budgetMs: 6000 }),
    );
  }, 30_000);

  it('more than 20 form fields are refused, never silently dropped (defect 10)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 21, max: 400 }), fc.integer({ min: 0, max: 400 }), fc.boolean(), async (n, topKAt, batch) => {
        const fields: Part[] = Array.from({ length: n }, (_, i) =>
          i === topKAt % n ? { name: 'topK', data: '3' } : { name: `f${i}`, data: `v${i}` },
        );
        const body = multipartBody([...fields, { name: 'file', filename: 'a.jpg', type: 'image/jpeg', data: jpeg }]);
        const v = await verdictOf(
          { body, contentType: 'multipart/form-data; boundary=hostile-3f9a', headerName: 'Content-Type', base64: true },
          batch,
        );
        expect(v.ok).toBe(false);
      }),
      budget(200, { perRunMs: 2000, budgetMs: 6000 }),
    );
  }, 30_000);

  it('mutated and arbitrary JSON bodies, deep nesting included: a 4xx or images, never a 5xx, a hang or an escaped error', async () => {
    const valid = () => JSON.stringify({ image: jpeg.toString('base64'), topK: 3, model: 'mobilenetv2-int8' });
    const bodyArb = fc.oneof(
      fc.jsonValue().map((v) => JSON.stringify(v) ?? 'null'),
      fc.record({ image: fc.jsonValue(), topK: fc.jsonValue(), model: fc.jsonValue() }).map((v) => JSON.stringify(v)),
      fc.array(mutationArb, { minLength: 1, maxLength: 4 }).map((m) => mutate(Buffer.from(valid()), m).toString('latin1')),
      fc.tuple(fc.integer({ min: 1, max: 200_000 }), fc.constantFrom('[', '{"a":', '{"image":[')).map(([depth, open]) => open.repeat(depth)),
      fc.string({ maxLength: 200 }).map((s) => `{"image":"${s}"}`),
    );
    const escaped = await escapes(() =>
      fc.assert(
        fc.asyncProperty(
          bodyArb,
          fc.mixedCase(fc.constant('application/json')),
          fc.boolean(),
          fc.boolean(),
          async (body, contentType, base64, batch) => {
            await verdictOf({ body, contentType, headerName: 'Content-Type', base64 }, batch);
          },
        ),
        budget(600, { perRunMs: 2000, budgetMs: 8000 }),
      ),
    );
    expect(escaped).toEqual([]);
  }, 30_000);
});
