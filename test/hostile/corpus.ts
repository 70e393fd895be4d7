import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { type HostileImage, hostileImages, type ImageExpectation, type Outcome, ok, REFUSE_FAST_MS, refused } from './images';
import { BOUNDARY, fillerFields, multipartBody, type Part } from './multipart';
import { DEFAULT_MODEL, lazy, randomBytes, seed, seedTop1 } from './seeds';

/** A request exactly as the test sends it (headers as given: case, odd values and all). */
export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT' | 'OPTIONS';
  path: string;
  headers: Record<string, string>;
  body?: Uint8Array | string;
}

export interface CaseExpectation extends ImageExpectation {
  /** For a 200 from /predict*: how many predictions (topK honoured). */
  predictions?: number;
  /** Defect 12: no `Access-Control-Allow-Credentials: true`, whatever Origin is sent. */
  noCredentials?: boolean;
}

/** One request of the corpus and the answer it must get. */
export interface HostileCase {
  name: string;
  /** Issue 11 defect number this case reproduces. */
  defect?: number;
  request: () => Promise<HttpRequest>;
  expect: CaseExpectation;
}

/** What the corpus needs from the test: where its canary server listens (SVG references must never reach it). */
export interface CorpusContext {
  canaryUrl: () => string;
}

/**
 * An answer of the gateway itself (hapi or Node's HTTP parser in serverless-offline, API Gateway in AWS), before any
 * function runs: there is no error code of ours to assert, only the status.
 */
const gateway = (...statuses: number[]): Outcome[] => statuses.map((status) => ({ status }));
const oneOf = (...outcomes: Outcome[]): ImageExpectation => ({ accept: outcomes });
const okWith = (extra: Omit<CaseExpectation, 'accept'>): CaseExpectation => ({ accept: [{ status: 200 }], ...extra });
const u8 = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

const post = (path: string, type: string | undefined, body: Buffer | string, headers: Record<string, string> = {}): HttpRequest => ({
  method: 'POST',
  path,
  headers: { ...(type === undefined ? {} : { 'Content-Type': type }), ...headers },
  body: typeof body === 'string' ? body : u8(body),
});
const get = (path: string, headers: Record<string, string> = {}): HttpRequest => ({ method: 'GET', path, headers });
const form = (path: string, parts: readonly Part[], options: { type?: string; close?: boolean } = {}): HttpRequest =>
  post(path, options.type ?? `multipart/form-data; boundary=${BOUNDARY}`, multipartBody(parts, { close: options.close ?? true }));
const json = (path: string, value: unknown): HttpRequest => post(path, 'application/json', JSON.stringify(value));

const GOLDFISH = 'goldfish.jpg';
const goldfish = () => seed(GOLDFISH);
const filePart = (data: Buffer, filename = 'photo.jpg', type = 'image/jpeg'): Part => ({ name: 'file', filename, type, data });
const b64 = (b: Buffer) => b.toString('base64');
const tinyJpeg = lazy(() =>
  sharp({ create: { width: 16, height: 16, channels: 3, background: '#3a6' } })
    .jpeg()
    .toBuffer(),
);

const BAD = refused(400, 'BAD_REQUEST');
const UNSUPPORTED = refused(415, 'UNSUPPORTED_MEDIA_TYPE');
const TOO_LARGE = refused(413, 'PAYLOAD_TOO_LARGE');
const NO_MODEL = refused(404, 'MODEL_NOT_FOUND');
/** Defect 10: refuse what is past the field limit. The issue says "refuse", not with which of the two codes. */
const TOO_MANY_FIELDS: ImageExpectation = oneOf({ status: 400, code: 'BAD_REQUEST' }, { status: 413, code: 'PAYLOAD_TOO_LARGE' });
/** A job id or path that walks out of its place: refused by our validation (400), the router (404) or as unknown (404). */
const TRAVERSAL: ImageExpectation = oneOf({ status: 400, code: 'BAD_REQUEST' }, { status: 404, code: 'JOB_NOT_FOUND' }, { status: 404 });
/** Node's HTTP parser answers an oversized request head with 431 (headers) or 400; some servers say 414 for a URI. */
const HEAD_TOO_LARGE: ImageExpectation = { accept: gateway(400, 414, 431) };

/** Every image of the corpus as a raw body and as a multipart file part (the part's own type is not checked). */
function imageCases(images: readonly HostileImage[]): HostileCase[] {
  const cases: HostileCase[] = [];
  for (const img of images) {
    if (img.raw !== false) {
      cases.push({
        name: `raw ${img.name}`,
        ...(img.defect ? { defect: img.defect } : {}),
        request: async () => post('/predict', img.type, await img.bytes()),
        expect: img.expect,
      });
    }
    if (!img.name.startsWith('exif/')) {
      cases.push({
        name: `multipart ${img.name}`,
        ...(img.defect ? { defect: img.defect } : {}),
        request: async () => form('/predict', [filePart(await img.bytes(), img.file, img.type)]),
        expect: img.expect,
      });
    }
  }
  return cases;
}

function multipartCases(): HostileCase[] {
  const top = seedTop1(GOLDFISH);
  return [
    {
      // The exact 120-byte request that took the service down.
      name: 'multipart truncated: no closing boundary (the 120-byte crash request)',
      defect: 1,
      request: async () => post('/predict', 'multipart/form-data; boundary=B', CRASH_BODY),
      expect: BAD,
    },
    {
      name: 'multipart truncated mid-photo',
      defect: 1,
      request: async () => form('/predict', [filePart(goldfish().subarray(0, 20_000))], { close: false }),
      expect: BAD,
    },
    {
      name: 'multipart truncated in the part headers',
      defect: 1,
      request: async () => post('/predict', `multipart/form-data; boundary=${BOUNDARY}`, `--${BOUNDARY}\r\nContent-Disposition: form-da`),
      expect: BAD,
    },
    // hapi (serverless-offline) refuses a multipart type without a boundary itself; in AWS our function says 400.
    {
      name: 'multipart without a boundary parameter',
      request: async () => post('/predict', 'multipart/form-data', multipartBody([filePart(goldfish())])),
      expect: oneOf({ status: 400, code: 'BAD_REQUEST' }, { status: 400 }),
    },
    {
      name: 'multipart whose boundary is not the one declared',
      request: async () => post('/predict', 'multipart/form-data; boundary=other', multipartBody([filePart(goldfish())])),
      expect: BAD,
    },
    // Found by the fuzzer (test/unit/fuzz): a part whose Content-Disposition has no name.
    {
      name: 'multipart file part without a name',
      request: async () =>
        post(
          '/predict',
          'multipart/form-data; boundary=B',
          '--B\r\nContent-Disposition: form-data; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\nabc\r\n--B--\r\n',
        ),
      expect: oneOf({ status: 400, code: 'BAD_REQUEST' }, { status: 400, code: 'INVALID_IMAGE' }),
    },
    {
      name: 'multipart field part without a name',
      request: async () => post('/predict', 'multipart/form-data; boundary=B', '--B\r\nContent-Disposition: form-data\r\n\r\nvalue\r\n--B--\r\n'),
      expect: BAD,
    },
    { name: 'multipart with only fields, no file', request: async () => form('/predict', fillerFields(3)), expect: BAD },
    {
      name: 'multipart with an empty body',
      request: async () => post('/predict', `multipart/form-data; boundary=${BOUNDARY}`, Buffer.alloc(0)),
      expect: BAD,
    },
    {
      name: 'multipart with two files to /predict',
      request: async () => form('/predict', [filePart(goldfish()), filePart(goldfish(), 'b.jpg')]),
      expect: TOO_LARGE,
    },
    {
      name: 'multipart quoted boundary',
      request: async () => post('/predict', `multipart/form-data; boundary="${BOUNDARY}"`, multipartBody([filePart(goldfish())])),
      expect: ok({ top1: top }),
    },
    {
      name: 'multipart Multipart/Form-Data casing',
      defect: 8,
      request: async () => form('/predict', [filePart(goldfish())], { type: `Multipart/Form-Data; boundary=${BOUNDARY}` }),
      expect: ok({ top1: top }),
    },
    {
      name: 'multipart MULTIPART/FORM-DATA casing',
      defect: 8,
      request: async () => form('/predict', [filePart(goldfish())], { type: `MULTIPART/FORM-DATA; Boundary=${BOUNDARY}` }),
      expect: ok({ top1: top }),
    },
    {
      name: 'multipart filename with traversal (names are never used as paths)',
      request: async () => form('/predict', [filePart(goldfish(), '../../../etc/passwd')]),
      expect: ok({ top1: top }),
    },
    // The control: the documented fields, each once, are honoured.
    {
      name: 'multipart model and topK fields, then the file: honoured',
      request: async () => form('/predict', [{ name: 'model', data: DEFAULT_MODEL }, { name: 'topK', data: '3' }, filePart(goldfish())]),
      expect: okWith({ top1: top, predictions: 3 }),
    },
    {
      name: 'multipart 21 fields',
      defect: 10,
      request: async () => form('/predict', [...fillerFields(21), filePart(goldfish())]),
      expect: TOO_MANY_FIELDS,
    },
    {
      name: 'multipart topK sent after 20 other fields',
      defect: 10,
      request: async () => form('/predict', [...fillerFields(20), { name: 'topK', data: '3' }, filePart(goldfish())]),
      expect: TOO_MANY_FIELDS,
    },
    {
      name: 'multipart 10,000 fields',
      defect: 10,
      request: async () => form('/predict', [...fillerFields(10_000), filePart(goldfish())]),
      expect: { ...TOO_MANY_FIELDS, maxMs: REFUSE_FAST_MS },
    },
    { name: 'multipart topK=0 field', request: async () => form('/predict', [{ name: 'topK', data: '0' }, filePart(goldfish())]), expect: BAD },
    {
      name: 'multipart model field with traversal',
      request: async () => form('/predict', [{ name: 'model', data: '../../models/mobilenetv2-int8' }, filePart(goldfish())]),
      expect: NO_MODEL,
    },
    // busboy cuts a field at fieldSize (1 KB); a model name that long is unknown whatever is kept of it.
    {
      name: 'multipart 2 KB model field',
      request: async () => form('/predict', [{ name: 'model', data: 'm'.repeat(2048) }, filePart(goldfish())]),
      expect: oneOf({ status: 404, code: 'MODEL_NOT_FOUND' }, { status: 400, code: 'BAD_REQUEST' }, { status: 413, code: 'PAYLOAD_TOO_LARGE' }),
    },
  ];
}

/** The defect 1 request, byte for byte. */
export const CRASH_BODY = '--B\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\nabc';
export const CRASH_TYPE = 'multipart/form-data; boundary=B';
/** The defect 3 request: 5 MB of `[`. */
export const nestedJson = (bytes: number): string => '['.repeat(bytes);

function batchCases(): HostileCase[] {
  const files = async (n: number) => {
    const data = await tinyJpeg();
    return Array.from({ length: n }, (_, i) => filePart(data, `f${i}.jpg`));
  };
  return [
    { name: 'batch 100 files', request: async () => form('/predict/batch', await files(100)), expect: TOO_LARGE },
    {
      name: 'batch JSON with 100 images',
      request: async () => json('/predict/batch', { images: Array.from({ length: 100 }, () => 'AAAA') }),
      expect: TOO_LARGE,
    },
    { name: 'batch JSON images is a string', request: async () => json('/predict/batch', { images: b64(goldfish()) }), expect: BAD },
    { name: 'batch JSON images is empty', request: async () => json('/predict/batch', { images: [] }), expect: BAD },
    { name: 'batch raw image/jpeg body', request: async () => post('/predict/batch', 'image/jpeg', goldfish()), expect: UNSUPPORTED },
    {
      name: 'batch multipart 10,000 fields',
      defect: 10,
      request: async () => form('/predict/batch', [...fillerFields(10_000), ...(await files(2))]),
      expect: { ...TOO_MANY_FIELDS, maxMs: REFUSE_FAST_MS },
    },
    { name: 'batch multipart truncated', defect: 1, request: async () => post('/predict/batch', CRASH_TYPE, CRASH_BODY), expect: BAD },
    { name: 'batch unknown model', request: async () => form('/predict/batch?model=..%2F..%2Fetc%2Fpasswd', await files(1)), expect: NO_MODEL },
  ];
}

function jsonCases(): HostileCase[] {
  const image = () => b64(goldfish());
  const top = seedTop1(GOLDFISH);
  const shapes: Array<[string, string]> = [
    ['an array', '[]'],
    ['a string', '"hello"'],
    ['null', 'null'],
    ['a number', '42'],
    ['true', 'true'],
    ['an empty object', '{}'],
    ['image is a number', '{"image":42}'],
    ['image is null', '{"image":null}'],
    ['image is an array', '{"image":["AAAA"]}'],
    ['image is an object', '{"image":{"$ref":"#"}}'],
    ['image only under __proto__', `{"__proto__":{"image":"${b64(seed(GOLDFISH))}"}}`],
    ['image only under constructor.prototype', `{"constructor":{"prototype":{"image":"${b64(seed(GOLDFISH))}"}}}`],
    ['truncated', '{"image":"'],
    ['trailing garbage', '{"image":"AAAA"} xyz'],
  ];
  const badBase64: Array<[string, string]> = [
    ['asterisks', '***'],
    ['a dollar inside', 'abc$def'],
    ['a data URL with junk', 'data:image/png;base64,@@@@'],
    ['base64url alphabet', '-_-_-_-_'],
    ['excess padding', 'AAAA===='],
  ];
  return [
    {
      name: 'json 5 MB of [ (defect 3)',
      defect: 3,
      request: async () => post('/predict', 'application/json', nestedJson(5_000_000)),
      expect: TOO_LARGE,
    },
    {
      name: 'json 4 MB of [ (under the body limit)',
      defect: 3,
      request: async () => post('/predict', 'application/json', nestedJson(4_000_000)),
      expect: BAD,
    },
    {
      name: 'json image nested 1,000,000 deep (valid JSON)',
      request: async () => post('/predict', 'application/json', `{"image":${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}}`),
      expect: BAD,
    },
    {
      name: 'json objects nested 500,000 deep (valid JSON)',
      request: async () => post('/predict', 'application/json', `${'{"a":'.repeat(500_000)}1${'}'.repeat(500_000)}`),
      expect: BAD,
    },
    ...shapes.map(
      ([what, body]): HostileCase => ({
        name: `json wrong shape: ${what}`,
        request: async () => post('/predict', 'application/json', body),
        expect: BAD,
      }),
    ),
    ...badBase64.map(
      ([what, value]): HostileCase => ({
        name: `json invalid base64: ${what}`,
        request: async () => json('/predict', { image: value }),
        expect: BAD,
      }),
    ),
    {
      name: 'json base64 of text, not an image',
      request: async () => json('/predict', { image: b64(Buffer.from('just some text')) }),
      expect: refused(400, 'INVALID_IMAGE'),
    },
    { name: 'json empty image', request: async () => json('/predict', { image: '' }), expect: BAD },
    { name: 'json topK 21', request: async () => json('/predict', { image: image(), topK: 21 }), expect: BAD },
    { name: 'json topK 2.5', request: async () => json('/predict', { image: image(), topK: 2.5 }), expect: BAD },
    { name: 'json topK "abc"', request: async () => json('/predict', { image: image(), topK: 'abc' }), expect: BAD },
    { name: 'json topK 1e9', request: async () => json('/predict', { image: image(), topK: 1e9 }), expect: BAD },
    { name: 'json model __proto__', request: async () => json('/predict', { image: image(), model: '__proto__' }), expect: NO_MODEL },
    { name: 'json model with traversal', request: async () => json('/predict', { image: image(), model: '../mobilenetv2-int8' }), expect: NO_MODEL },
    {
      name: 'json Application/JSON casing',
      defect: 8,
      request: async () => post('/predict', 'Application/JSON', JSON.stringify({ image: image() })),
      expect: ok({ top1: top }),
    },
    {
      name: 'json data URL prefix',
      request: async () => json('/predict', { image: `data:image/jpeg;base64,${image()}` }),
      expect: ok({ top1: top }),
    },
  ];
}

function contentTypeCases(): HostileCase[] {
  const photo = () => goldfish();
  const top = seedTop1(GOLDFISH);
  const wrong = [
    'text/plain',
    'application/xml',
    'image/svg+xml',
    'image/bmp',
    'application/x-www-form-urlencoded',
    'multipart/mixed; boundary=x',
    'application/jsonx',
    '*/*',
  ];
  return [
    // No Content-Type at all: API Gateway sends no header; serverless-offline must not invent application/json.
    { name: 'content-type missing', request: async () => post('/predict', undefined, photo()), expect: UNSUPPORTED },
    { name: 'content-type empty', request: async () => post('/predict', '', photo()), expect: UNSUPPORTED },
    ...wrong.map((t): HostileCase => ({ name: `content-type ${t}`, request: async () => post('/predict', t, photo()), expect: UNSUPPORTED })),
    // A parameter without a type: hapi refuses the header itself (400); in AWS our function says 415.
    {
      name: 'content-type ;charset=utf-8',
      request: async () => post('/predict', ';charset=utf-8', photo()),
      expect: oneOf({ status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' }, { status: 400 }),
    },
    { name: 'content-type IMAGE/JPEG', defect: 8, request: async () => post('/predict', 'IMAGE/JPEG', photo()), expect: ok({ top1: top }) },
    {
      name: 'content-type Image/Png',
      defect: 8,
      request: async () => post('/predict', 'Image/Png', seed('orange.png')),
      expect: ok({ top1: seedTop1('orange.png') }),
    },
    {
      name: 'content-type image/jpeg on a PNG (the bytes decide)',
      request: async () => post('/predict', 'image/jpeg', seed('orange.png')),
      expect: ok({ top1: seedTop1('orange.png') }),
    },
    {
      name: 'content-type application/octet-stream',
      request: async () => post('/predict', 'application/octet-stream', photo()),
      expect: ok({ top1: top }),
    },
    {
      name: 'content-type image/jpeg with 6 KB of parameters',
      request: async () => post('/predict', `image/jpeg; x=${'a'.repeat(6000)}`, photo()),
      expect: ok({ top1: top }),
    },
  ];
}

function bodySizeCases(): HostileCase[] {
  const noise = (n: number) => randomBytes(n, n);
  return [
    { name: 'body empty, image/jpeg', request: async () => post('/predict', 'image/jpeg', Buffer.alloc(0)), expect: BAD },
    { name: 'body empty, application/json', request: async () => post('/predict', 'application/json', ''), expect: BAD },
    { name: 'body 4.6 MB raw, just over the limit', request: async () => post('/predict', 'image/jpeg', noise(4_600_000)), expect: TOO_LARGE },
    { name: 'body 5 MB multipart', request: async () => form('/predict', [filePart(noise(5_000_000))]), expect: TOO_LARGE },
    { name: 'body 5 MB JSON', request: async () => json('/predict', { image: b64(noise(3_800_000)) }), expect: TOO_LARGE },
    // Past serverless-offline's own 10 MiB payload limit (API Gateway's is 10 MB): the gateway answers, not us.
    { name: 'body 12 MB raw', request: async () => post('/predict', 'image/jpeg', noise(12_000_000)), expect: { accept: [{ status: 413 }] } },
    {
      // A client may label its body gzip; nothing inflates it (a 200 MB bomb in 200 KB), the compressed bytes are no image.
      name: 'body Content-Encoding gzip bomb',
      request: async () => post('/predict', 'image/jpeg', gzipSync(Buffer.alloc(200_000_000)), { 'Content-Encoding': 'gzip' }),
      expect: refused(400, 'INVALID_IMAGE', { maxMs: REFUSE_FAST_MS }),
    },
  ];
}

function parameterCases(): HostileCase[] {
  const photo = () => goldfish();
  const top = seedTop1(GOLDFISH);
  const withQuery = (q: string) => async () => post(`/predict?${q}`, 'image/jpeg', photo());
  const badTopK = ['0', '-1', '21', '2.5', 'abc', '1e3', '99999999999999999999'];
  const badModels = [
    'resnet-9000',
    '..%2F..%2Fetc%2Fpasswd',
    '..%2F..%2Fmodels%2Fmobilenetv2-int8',
    'mobilenetv2-int8%2F..%2Fmobilenetv2-int8',
    '__proto__',
    'constructor',
    'hasOwnProperty',
    'mobilenetv2-int8%00',
    'MOBILENETV2-INT8',
  ];
  return [
    ...badTopK.map((k): HostileCase => ({ name: `query topK=${k}`, request: withQuery(`topK=${k}`), expect: BAD })),
    { name: 'query topK=1', request: withQuery('topK=1'), expect: okWith({ top1: top, predictions: 1 }) },
    { name: 'query topK=20', request: withQuery('topK=20'), expect: okWith({ top1: top, predictions: 20 }) },
    ...badModels.map((m): HostileCase => ({ name: `query model=${m}`, request: withQuery(`model=${m}`), expect: NO_MODEL })),
    { name: 'query string of 100 KB', request: withQuery(`x=${'a'.repeat(100_000)}`), expect: HEAD_TOO_LARGE },
    {
      name: 'query string of 10,000 parameters',
      request: withQuery(Array.from({ length: 10_000 }, (_, i) => `p${i}=${i}`).join('&')),
      expect: HEAD_TOO_LARGE,
    },
    {
      name: 'query string of 500 parameters (under the limits)',
      request: withQuery(Array.from({ length: 500 }, (_, i) => `p${i}=${i}`).join('&')),
      expect: ok({ top1: top }),
    },
    {
      name: 'header of 100 KB',
      request: async () => post('/predict', 'image/jpeg', photo(), { 'X-Pad': 'a'.repeat(100_000) }),
      expect: HEAD_TOO_LARGE,
    },
    {
      name: 'header 300 headers of 100 bytes',
      request: async () =>
        post('/predict', 'image/jpeg', photo(), Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`X-Pad-${i}`, 'b'.repeat(100)]))),
      expect: HEAD_TOO_LARGE,
    },
    {
      name: 'header of 8 KB (under the limits)',
      request: async () => post('/predict', 'image/jpeg', photo(), { 'X-Pad': 'a'.repeat(8000) }),
      expect: ok({ top1: top }),
    },
  ];
}

function jobCases(): HostileCase[] {
  // Not '%2e%2e' alone: it is a dot segment, which URL normalisation (RFC 3986, and hapi) resolves before any route.
  const traversal = [
    '..%2F..%2Fetc%2Fpasswd',
    '%2e%2e%2fhealth',
    '..%2Fresults',
    'a%00b',
    'a'.repeat(65),
    '%2e%2e%2f%2e%2e%2fjobs',
    'x%2Fy',
    '%252e%252e',
    '..;',
  ];
  const names: Array<[string, unknown[]]> = [
    ['an empty name', ['']],
    ['".."', ['..']],
    ['"."', ['.']],
    ['a hidden name', ['.hidden.jpg']],
    ['a 2,000-character name', [`${'n'.repeat(2000)}.jpg`]],
    ['a traversal', ['../../etc/passwd']],
  ];
  const createJob = (body: unknown) => async () => json('/jobs', body);
  return [
    ...traversal.map(
      (id): HostileCase => ({ name: `jobs GET /jobs/${id.slice(0, 30)}`, request: async () => get(`/jobs/${id}`), expect: TRAVERSAL }),
    ),
    ...traversal.map(
      (id): HostileCase => ({
        name: `jobs GET /jobs/${id.slice(0, 30)}/results`,
        request: async () => get(`/jobs/${id}/results`),
        expect: TRAVERSAL,
      }),
    ),
    {
      name: 'jobs results cursor with traversal',
      request: async () => get('/jobs/no-such-job/results?after=..%2F..%2Fjobs%2Fx%2Fjob.json'),
      expect: refused(404, 'JOB_NOT_FOUND'),
    },
    ...names.map(
      ([what, list]): HostileCase => ({ name: `jobs POST /jobs with ${what}`, defect: 5, request: createJob({ names: list }), expect: BAD }),
    ),
    { name: 'jobs POST /jobs with ordinary names', request: createJob({ names: ['a.jpg', 'b c.png'] }), expect: { accept: [{ status: 201 }] } },
    { name: 'jobs POST /jobs count -1', request: createJob({ count: -1 }), expect: BAD },
    { name: 'jobs POST /jobs count "abc"', request: createJob({ count: 'abc' }), expect: BAD },
    { name: 'jobs POST /jobs count 1.5', request: createJob({ count: 1.5 }), expect: BAD },
    { name: 'jobs POST /jobs count 100,000', request: createJob({ count: 100_000 }), expect: TOO_LARGE },
    { name: 'jobs POST /jobs topK 0', request: createJob({ count: 1, topK: 0 }), expect: BAD },
    { name: 'jobs POST /jobs model with traversal', request: createJob({ count: 1, model: '../../models/x' }), expect: NO_MODEL },
    { name: 'jobs POST /jobs 1 MB of [', request: async () => post('/jobs', 'application/json', nestedJson(1_000_000)), expect: BAD },
    { name: 'jobs POST /jobs not JSON', request: async () => post('/jobs', 'application/json', 'count=3'), expect: BAD },
    ...['null', '[]', '5', '"x"', 'true'].map(
      (body): HostileCase => ({ name: `jobs POST /jobs JSON ${body}`, request: async () => post('/jobs', 'application/json', body), expect: BAD }),
    ),
    { name: 'jobs POST /jobs 2 MB body', request: createJob({ names: ['a.jpg'], pad: 'p'.repeat(2_000_000) }), expect: TOO_LARGE },
  ];
}

function corsCases(): HostileCase[] {
  const origin = { Origin: 'https://evil.example' };
  return [
    {
      name: 'cors GET /health from any origin: no credentials',
      defect: 12,
      request: async () => get('/health', origin),
      expect: { accept: [{ status: 200 }], noCredentials: true },
    },
    {
      name: 'cors preflight from any origin: no credentials',
      defect: 12,
      request: async () => ({
        method: 'OPTIONS',
        path: '/predict',
        headers: { ...origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
      }),
      expect: { accept: gateway(200, 204), noCredentials: true },
    },
    {
      name: 'cors an error from any origin: no credentials',
      defect: 12,
      request: async () => post('/predict', 'text/plain', 'x', origin),
      expect: { ...UNSUPPORTED, noCredentials: true },
    },
  ];
}

function routeCases(): HostileCase[] {
  return [
    { name: 'route GET /predict', request: async () => get('/predict'), expect: { accept: gateway(404, 405) } },
    { name: 'route PUT /health', request: async () => ({ method: 'PUT', path: '/health', headers: {} }), expect: { accept: gateway(404, 405) } },
    // hapi's catch-all route parses no image payload: 415 or 404, never ours.
    { name: 'route POST /nope', request: async () => post('/nope', 'image/jpeg', goldfish()), expect: { accept: gateway(404, 415) } },
    { name: 'route path of 10 KB', request: async () => get(`/${'a'.repeat(10_000)}`), expect: { accept: gateway(404, 414) } },
  ];
}

/**
 * SVG is decoded by librsvg when a client sends it as octet-stream. Its references must never be followed: each
 * points at the test's canary server. The statuses are today's (the issue: "held well, keep it so"); an undefined
 * XML entity makes librsvg refuse the document, which is how XXE is stopped.
 */
function svgCases(ctx: CorpusContext): HostileCase[] {
  const svg = (inner: string, prolog = '') =>
    `${prolog}<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:xi="http://www.w3.org/2001/XInclude" width="300" height="200">${inner}</svg>`;
  const docs: Array<[string, () => string, ImageExpectation]> = [
    ['plain', () => svg('<rect width="300" height="200" fill="#3a6"/>'), ok()],
    ['external http image', () => svg(`<image href="${ctx.canaryUrl()}/image.png" width="300" height="200"/>`), ok()],
    ['file:// image', () => svg('<image xlink:href="file:///etc/passwd" width="300" height="200"/>'), ok()],
    ['external use', () => svg(`<use href="${ctx.canaryUrl()}/use.svg#a"/>`), ok()],
    [
      'css import and url()',
      () =>
        svg(
          `<style>@import url(${ctx.canaryUrl()}/import.css);</style><rect width="300" height="200" style="fill:url(${ctx.canaryUrl()}/fill.svg#a)"/>`,
        ),
      ok(),
    ],
    ['xinclude', () => svg(`<xi:include href="${ctx.canaryUrl()}/xinclude.xml" parse="text"/>`), ok()],
    ['external DTD', () => svg('', `<?xml version="1.0"?><!DOCTYPE svg SYSTEM "${ctx.canaryUrl()}/external.dtd">`), ok()],
    [
      'XXE http entity',
      () => svg('<text y="20">&xxe;</text>', `<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY xxe SYSTEM "${ctx.canaryUrl()}/xxe">]>`),
      refused(400, 'INVALID_IMAGE'),
    ],
    [
      'XXE file entity',
      () => svg('<text y="20">&xxe;</text>', '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'),
      refused(400, 'INVALID_IMAGE'),
    ],
    [
      'XXE parameter entity',
      () => svg('', `<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY % p SYSTEM "${ctx.canaryUrl()}/param.dtd"> %p;]>`),
      refused(400, 'INVALID_IMAGE'),
    ],
  ];
  return [
    ...docs.map(
      ([what, doc, expect]): HostileCase => ({
        name: `svg ${what}`,
        request: async () => post('/predict', 'application/octet-stream', doc()),
        expect,
      }),
    ),
    {
      name: 'svg as image/svg+xml',
      request: async () => post('/predict', 'image/svg+xml', svg('<rect width="300" height="200"/>')),
      expect: UNSUPPORTED,
    },
  ];
}

/** The whole sync corpus, generated: images from the real photos plus every request-level hostility of issue 11. */
export function hostileCorpus(ctx: CorpusContext): HostileCase[] {
  return [
    ...imageCases(hostileImages()),
    ...multipartCases(),
    ...batchCases(),
    ...jsonCases(),
    ...contentTypeCases(),
    ...bodySizeCases(),
    ...parameterCases(),
    ...jobCases(),
    ...corsCases(),
    ...routeCases(),
    ...svgCases(ctx),
  ];
}

/** Signs of internals in a body a client sees: stack frames, source paths, Node's own error names. */
const LEAKS: Array<[string, RegExp]> = [
  ['a stack frame', /\n\s*at\s|\bat\s+[\w$.<>[\]]+\s+\(|\bat\s+(?:file:\/\/|\/)/],
  ['a source position', /\.(?:js|ts|mjs|cjs):\d+(?::\d+)?/],
  ['the checkout path', /\/work\b/],
  ['node_modules', /node_modules/],
  ['a file URL', /file:\/\/\//],
  ['a JavaScript error name', /\b(?:TypeError|RangeError|ReferenceError|SyntaxError)\b/],
  ['a system file', /root:x:0:0/],
];

/**
 * What in a response body would tell a client about our internals, or undefined. The issue asks for no "at ":
 * taken literally that would forbid our own "at most 16 images", so "at " is matched as a stack frame is written.
 */
export function leakIn(body: string): string | undefined {
  for (const [what, re] of LEAKS) {
    const m = re.exec(body);
    if (m) return `${what}: ${JSON.stringify(body.slice(Math.max(0, m.index - 40), m.index + 60))}`;
  }
  return undefined;
}
