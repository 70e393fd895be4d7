/**
 * The API's contract as OpenAPI 3.1: every route of serverless.yml, its encodings, parameters, answers, the one error
 * body and the headers that matter to a client (X-Request-Id, Retry-After, RateLimit). Served at GET /openapi.json,
 * rendered at GET /docs; test/integration/openapi.test.ts holds the running stack to it.
 */

/** A JSON Schema 2020-12 object, as OpenAPI 3.1 embeds it. */
export type Schema = { [keyword: string]: unknown };

export interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string; description: string; license: { name: string; identifier: string } };
  servers: Array<{ url: string; description: string }>;
  security: Array<Record<string, string[]>>;
  tags: Array<{ name: string; description: string }>;
  paths: Record<string, Record<string, Operation>>;
  components: {
    schemas: Record<string, Schema>;
    responses: Record<string, Response>;
    headers: Record<string, Header>;
    securitySchemes: Record<string, { type: string; in: string; name: string; description: string }>;
  };
}

export interface Operation {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  /** Empty: no key needed. Absent: the document's default, an API key. */
  security?: Array<Record<string, string[]>>;
  /** Who may call it, as src/handlers say it: `public`, `client` (any valid key) or `operator`. */
  'x-access': 'public' | 'client' | 'operator';
  /** Served by `npm start` only; in AWS the route answers 404. */
  'x-local-only'?: boolean;
  parameters?: Array<Parameter | Ref>;
  requestBody?: { required: boolean; description?: string; content: Record<string, MediaType> };
  responses: Record<string, Response | Ref>;
}

export interface Ref {
  $ref: string;
}
export interface MediaType {
  schema: Schema | Ref;
  /** For line-delimited JSON: the schema of each line (OpenAPI 3.1 has no itemSchema yet). */
  'x-line-schema'?: Ref;
  encoding?: Record<string, { contentType: string }>;
}
export interface Header {
  description: string;
  required?: boolean;
  schema: Schema;
}
export interface Response {
  description: string;
  headers?: Record<string, Header | Ref>;
  content?: Record<string, MediaType>;
}
export interface Parameter {
  name: string;
  in: 'query' | 'path' | 'header';
  required?: boolean;
  description: string;
  schema: Schema;
}

/** The limits the document states; from the deployment's config, so the contract says what this stack enforces. */
export interface ContractLimits {
  maxBodyBytes: number;
  maxImageBytes: number;
  maxBatchImages: number;
  maxPresignedUrls: number;
  presignExpiresSeconds: number;
}

/** Version of the contract, not of the package: it moves when a client would notice. */
export const API_VERSION = '1.0.0';
export const SECURITY_SCHEME = 'ApiKey';
/** Raw image bodies POST /predict accepts (src/handlers/middleware/http-input.ts IMAGE_TYPES). */
export const RAW_IMAGE_TYPES = [
  'image/jpeg',
  'image/png',
  'image/webp',
  'image/gif',
  'image/tiff',
  'image/avif',
  'application/octet-stream',
] as const;
/** Every `code` the API answers with (src/core/errors.ts), and only those. */
export const ERROR_CODES = [
  'BAD_REQUEST',
  'INVALID_IMAGE',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'MODEL_NOT_FOUND',
  'JOB_NOT_FOUND',
  'NOT_FOUND',
  'JOB_UNREADABLE',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'UNUSABLE_IMAGE',
  'RATE_LIMITED',
  'OVERLOADED',
  'NOT_READY',
  'TIMEOUT',
  'INTERNAL',
] as const;

const ref = (kind: 'schemas' | 'responses' | 'headers', name: string): Ref => ({ $ref: `#/components/${kind}/${name}` });
const schema = (name: string): Ref => ref('schemas', name);
const json = (s: Schema | Ref): Record<string, MediaType> => ({ 'application/json': { schema: s } });
const text = (description: string): Schema => ({ type: 'string', description });

const int = (min: number, max?: number, description?: string): Schema => ({
  type: 'integer',
  minimum: min,
  ...(max === undefined ? {} : { maximum: max }),
  ...(description ? { description } : {}),
});
const obj = (properties: Record<string, Schema | Ref>, required: string[] = Object.keys(properties), description?: string): Schema => ({
  type: 'object',
  ...(description ? { description } : {}),
  properties,
  required,
  additionalProperties: false,
});
const errorResponse = (description: string, codes: Array<(typeof ERROR_CODES)[number]>, headers: Record<string, Header | Ref> = {}): Response => ({
  description: `${description} (code ${codes.join(', ')})`,
  headers: { 'X-Request-Id': ref('headers', 'X-Request-Id'), ...headers },
  content: json({ allOf: [schema('Error'), { properties: { code: { enum: codes } } }] }),
});

/** Answers every keyed route can give, whatever it does. */
const keyed = {
  '401': ref('responses', 'Unauthorized'),
  '429': ref('responses', 'RateLimited'),
  '500': ref('responses', 'Internal'),
};
/** Headers of every answer to a key: where the key stands with its limit (locally; API Gateway sends none). */
const keyedHeaders = {
  'X-Request-Id': ref('headers', 'X-Request-Id'),
  RateLimit: ref('headers', 'RateLimit'),
  'RateLimit-Policy': ref('headers', 'RateLimit-Policy'),
};
const publicHeaders = { 'X-Request-Id': ref('headers', 'X-Request-Id') };
const PUBLIC: Pick<Operation, 'security' | 'x-access'> = { security: [], 'x-access': 'public' };

const modelParam: Parameter = {
  name: 'model',
  in: 'query',
  description: 'The model to classify with (GET /models lists them); default: the default model.',
  schema: { type: 'string', minLength: 1, maxLength: 1024 },
};
const topKParam: Parameter = {
  name: 'topK',
  in: 'query',
  description: 'How many labels to return, best first.',
  schema: { ...int(1, 20), default: 5 },
};

function schemas(limits: ContractLimits): Record<string, Schema> {
  const prediction = obj({ label: { type: 'string' }, index: int(0), score: { type: 'number', minimum: 0, maximum: 1 } });
  const timings = obj({ decodeMs: { type: 'number', minimum: 0 }, inferMs: { type: 'number', minimum: 0 }, queueMs: { type: 'number', minimum: 0 } });
  return {
    Error: {
      type: 'object',
      description: 'Every error: a stable `code` for programs, a `message` for people, the `requestId` to quote.',
      properties: {
        error: { type: 'string', description: 'The error class, e.g. `BadRequest`.' },
        code: { enum: [...ERROR_CODES] },
        message: { type: 'string' },
        requestId: { type: 'string' },
        details: { type: 'object', description: 'Where the request went wrong, e.g. `{ "index": 3 }` for the fourth upload name.' },
      },
      required: ['error', 'code', 'message', 'requestId'],
      additionalProperties: false,
    },
    Prediction: prediction,
    ModelRef: obj({ name: { type: 'string' }, version: { type: 'string' } }),
    Timings: timings,
    Classification: obj(
      {
        requestId: { type: 'string' },
        model: schema('ModelRef'),
        predictions: { type: 'array', items: schema('Prediction'), minItems: 1, maxItems: 20 },
        image: obj({
          width: int(1),
          height: int(1),
          format: { type: 'string', examples: ['jpeg', 'png'] },
          bytes: int(1, limits.maxImageBytes),
          sha256: { type: 'string', pattern: '^[0-9a-f]{64}$', description: 'Of the bytes as received: proof the upload arrived intact.' },
        }),
        timings: {
          ...obj({ ...(timings.properties as Record<string, Schema>), totalMs: { type: 'number', minimum: 0 } }),
          description: 'Milliseconds: decoding and resizing, waiting for an inference slot, inference, and all of it in the function.',
        },
      },
      ['requestId', 'model', 'predictions', 'image', 'timings'],
    ),
    BatchClassification: obj({
      requestId: { type: 'string' },
      model: {
        type: 'object',
        properties: { name: { type: 'string' }, version: { type: 'string' } },
        required: ['name'],
        additionalProperties: false,
      },
      count: int(1, limits.maxBatchImages),
      failed: int(0, limits.maxBatchImages),
      results: {
        type: 'array',
        description: 'One per image, in the order sent; a bad image fails only its own slot.',
        items: {
          oneOf: [
            obj({
              index: int(0),
              ok: { const: true },
              predictions: { type: 'array', items: schema('Prediction') },
              image: obj({ width: int(1), height: int(1), format: { type: 'string' } }),
              timings: schema('Timings'),
            }),
            obj({
              index: int(0),
              ok: { const: false },
              error: obj(
                { error: { type: 'string' }, code: { enum: [...ERROR_CODES] }, status: int(400, 599), message: { type: 'string' } },
                undefined,
                'As the body of an error answer, with its status and without a request id (the answer has it).',
              ),
            }),
          ],
        },
      },
      timings: obj({ totalMs: { type: 'number', minimum: 0 } }),
    }),
    Health: {
      type: 'object',
      description: 'Liveness always; readiness where the answering process classifies (locally, the whole service).',
      properties: {
        status: { enum: ['ok', 'starting', 'failed'] },
        live: { const: true },
        ready: { type: 'boolean' },
        error: { type: 'string', description: 'Why a model failed to load.' },
        model: {
          type: 'object',
          properties: { name: { type: 'string' }, version: { type: 'string' } },
          required: ['name'],
          additionalProperties: false,
        },
        models: { type: 'array', items: { type: 'string' } },
        stage: { type: 'string' },
        uptimeSeconds: int(0),
        engine: {
          type: 'object',
          description: "The inference engine's own figures, for people: more may appear.",
          properties: { kind: { enum: ['inline', 'scheduled', 'pool'] }, workers: int(0), inFlight: int(0), queued: int(0), shed: int(0) },
          required: ['kind', 'workers', 'inFlight', 'queued'],
        },
      },
      required: ['status', 'live', 'ready', 'model', 'stage', 'uptimeSeconds'],
      additionalProperties: false,
    },
    ModelInfo: obj({
      name: { type: 'string' },
      version: { type: 'string' },
      description: { type: 'string' },
      default: { type: 'boolean' },
      input: obj({
        name: { type: 'string' },
        layout: { const: 'NCHW' },
        channels: { const: 'RGB' },
        height: int(1),
        width: int(1),
        dynamicBatch: { type: 'boolean' },
      }),
      output: obj({ name: { type: 'string' }, kind: { enum: ['logits', 'probabilities'] }, classes: int(1) }),
      preprocessing: obj({
        width: int(1),
        height: int(1),
        shorterSide: int(1),
        kernel: { type: 'string' },
        scale: { type: 'number' },
        mean: { type: 'array', items: { type: 'number' }, minItems: 3, maxItems: 3 },
        std: { type: 'array', items: { type: 'number' }, minItems: 3, maxItems: 3 },
      }),
      labels: int(1, undefined, 'How many labels the model has.'),
      sha256: { type: 'string', pattern: '^[0-9a-f]{64}$', description: 'Of the ONNX file, verified at load.' },
      loadMs: { type: ['number', 'null'], description: 'Session creation and warm-up, ms; null where this process has not loaded it.' },
      provenance: { type: 'string' },
      licence: { type: 'string' },
    }),
    Models: obj({ default: { type: 'string' }, models: { type: 'array', items: schema('ModelInfo'), minItems: 1 } }),
    CreateJob: {
      type: 'object',
      description: 'Either `count` (uploads named image-00000 …) or `names`; neither: a job for uploaders with bucket access.',
      properties: {
        count: int(0, limits.maxPresignedUrls),
        names: {
          type: 'array',
          maxItems: limits.maxPresignedUrls,
          items: {
            type: 'string',
            minLength: 1,
            description: 'Sanitised to [A-Za-z0-9._-]; at most 255 bytes; no leading dot; unique once sanitised.',
          },
        },
        model: { type: 'string' },
        topK: { oneOf: [int(1, 20), { type: 'string', pattern: '^[0-9]+$' }] },
      },
      additionalProperties: true,
    },
    Upload: obj(
      {
        key: { type: 'string', description: 'Where the file lands: uploads/<jobId>/<name>.' },
        method: { const: 'POST' },
        url: { type: 'string', format: 'uri', description: 'The bucket: POST a multipart form here.' },
        fields: {
          type: 'object',
          additionalProperties: { type: 'string' },
          description:
            'Form fields to send, each as is, before the file; then the file as the last field, `file`. Where no `Content-Type` field is given, send one: any `image/` type. The bucket refuses a wrong key, type or size, or an expired form.',
        },
      },
      ['key', 'method', 'url', 'fields'],
      'A presigned POST (browser-style upload form) for one file.',
    ),
    CreatedJob: obj({
      jobId: { type: 'string' },
      model: { type: 'string' },
      topK: int(1, 20),
      uploadPrefix: { type: 'string' },
      expiresInSeconds: int(1, undefined, `How long the forms stay valid (${limits.presignExpiresSeconds} s here).`),
      uploads: { type: 'array', items: schema('Upload') },
    }),
    JobCounts: obj({
      expected: int(0, undefined, 'Announced uploads, or the images ingest registered if more.'),
      ingested: int(0),
      done: int(0),
      failed: int(0),
    }),
    Job: obj(
      {
        jobId: { type: 'string' },
        status: { enum: ['pending', 'running', 'done', 'failed'] },
        model: { type: 'string' },
        counts: schema('JobCounts'),
        createdAt: { type: 'string', format: 'date-time' },
        explicit: { type: 'boolean', description: 'Created by POST /jobs (false: by its first upload).' },
        revision: { type: 'string', description: "Changes whenever an image's answer does: the results' version." },
        results: {
          type: 'object',
          properties: {
            jsonl: { type: 'string' },
            csv: { type: 'string' },
            download: obj(
              { jsonl: { type: 'string', format: 'uri' }, csv: { type: 'string', format: 'uri' } },
              ['jsonl', 'csv'],
              'Once finished: presigned links to the assembled files.',
            ),
          },
          required: ['jsonl', 'csv'],
          additionalProperties: false,
        },
      },
      ['jobId', 'status', 'model', 'counts', 'createdAt', 'explicit', 'revision', 'results'],
    ),
    ResultRecord: obj(
      {
        jobId: { type: 'string' },
        itemId: { type: 'string' },
        key: { type: 'string', description: 'The image: an upload key, `<zip key>#<entry>` or `<manifest key>#line <n>`.' },
        etag: { type: 'string' },
        model: schema('ModelRef'),
        ok: { type: 'boolean' },
        predictions: { type: 'array', items: schema('Prediction') },
        error: obj({ code: { type: 'string' }, message: { type: 'string' } }),
        timings: schema('Timings'),
        completedAt: { type: 'string', format: 'date-time' },
      },
      ['jobId', 'itemId', 'key', 'etag', 'model', 'ok', 'completedAt'],
      'One image of a job: its predictions, or the error that ends it.',
    ),
    LoadReports: obj({
      runs: {
        type: 'array',
        items: obj(
          {
            name: { type: 'string' },
            kind: { enum: ['run', 'sweep'] },
            scenario: { type: 'string' },
            description: { type: 'string' },
            users: int(0),
            durationS: { type: 'number' },
            startedAt: { type: 'string' },
            requests: int(0),
            verdict: obj({
              ready: { type: 'boolean' },
              checks: {
                type: 'array',
                items: obj({ name: { type: 'string' }, value: { type: 'number' }, limit: { type: 'number' }, pass: { type: 'boolean' } }),
              },
            }),
            href: { type: 'string', description: 'The HTML report, relative to the API root.' },
          },
          ['name', 'kind', 'href'],
        ),
      },
    }),
    OpenApi: {
      type: 'object',
      properties: {
        openapi: { type: 'string', pattern: '^3\\.1\\.' },
        info: { type: 'object' },
        paths: { type: 'object' },
        components: { type: 'object' },
      },
      required: ['openapi', 'info', 'paths'],
    },
  };
}

function headers(): Record<string, Header> {
  return {
    'X-Request-Id': {
      description: 'The id of this request in the logs; quote it when reporting a problem.',
      required: true,
      schema: { type: 'string', minLength: 1 },
    },
    'Retry-After': { description: 'Seconds to wait before trying again.', required: true, schema: { type: 'string', pattern: '^[0-9]+$' } },
    RateLimit: {
      description:
        'Where this key stands (draft-ietf-httpapi-ratelimit-headers-09): `r` requests left now, `t` seconds until the bucket is full. Sent by `npm start`; API Gateway sends none.',
      schema: { type: 'string', pattern: '^"[^"]+";r=[0-9]+;t=[0-9]+$' },
    },
    'RateLimit-Policy': {
      description: "The key's limit: `q` requests of burst, earned back in `w` seconds.",
      schema: { type: 'string', pattern: '^"[^"]+";q=[0-9]+;w=[0-9]+$' },
    },
    'WWW-Authenticate': {
      description: 'The scheme: an API key in the x-api-key header.',
      required: true,
      schema: { type: 'string', pattern: '^ApiKey ' },
    },
    Location: { description: 'The new job.', required: true, schema: { type: 'string', pattern: '^/jobs/' } },
    Link: {
      description: 'The next page, as `<…&after=…>; rel="next"`; absent on the last page.',
      schema: { type: 'string', pattern: 'rel="next"$' },
    },
    'X-Next-Cursor': { description: "The next page's `after`; absent on the last page.", schema: { type: 'string' } },
    'X-Job-Status': {
      description: "The job's status when this page was read.",
      required: true,
      schema: { enum: ['pending', 'running', 'done', 'failed'] },
    },
  };
}

function responses(): Record<string, Response> {
  const retry = { 'Retry-After': ref('headers', 'Retry-After') };
  return {
    BadRequest: errorResponse('Malformed request: JSON, base64, multipart, or a parameter out of range', ['BAD_REQUEST']),
    Unauthorized: errorResponse('No x-api-key, or one this service does not know', ['UNAUTHORIZED'], {
      'WWW-Authenticate': ref('headers', 'WWW-Authenticate'),
    }),
    Forbidden: errorResponse("A valid key that is not an operator's", ['FORBIDDEN'], keyedHeaders),
    RateLimited: errorResponse("Over this key's rate (in AWS also its daily quota)", ['RATE_LIMITED'], {
      ...retry,
      RateLimit: keyedHeaders.RateLimit,
      'RateLimit-Policy': keyedHeaders['RateLimit-Policy'],
    }),
    PayloadTooLarge: errorResponse('The body, an image or the number of images is over its limit', ['PAYLOAD_TOO_LARGE'], keyedHeaders),
    UnsupportedMediaType: errorResponse('A Content-Type this route does not take', ['UNSUPPORTED_MEDIA_TYPE'], keyedHeaders),
    Overloaded: errorResponse('Shed by admission control, or the models are not loaded yet', ['OVERLOADED', 'NOT_READY'], {
      ...retry,
      ...keyedHeaders,
    }),
    Timeout: errorResponse('The work did not finish in time', ['TIMEOUT'], keyedHeaders),
    Internal: errorResponse('A bug; logged with the request id', ['INTERNAL']),
  };
}

const imageErrors = {
  '400': { ...errorResponse('Malformed request, or bytes that are no decodable image', ['BAD_REQUEST', 'INVALID_IMAGE'], keyedHeaders) },
  '404': errorResponse('Unknown model', ['MODEL_NOT_FOUND'], keyedHeaders),
  '413': ref('responses', 'PayloadTooLarge'),
  '415': ref('responses', 'UnsupportedMediaType'),
  '503': ref('responses', 'Overloaded'),
  '504': ref('responses', 'Timeout'),
};

const jobIdParam: Parameter = {
  name: 'jobId',
  in: 'path',
  required: true,
  description: 'From POST /jobs.',
  schema: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$' },
};
const jobErrors = {
  '400': errorResponse('A malformed job id or parameter', ['BAD_REQUEST'], keyedHeaders),
  '404': errorResponse('No such job, or one of another client (its existence is not told)', ['JOB_NOT_FOUND'], keyedHeaders),
  '409': errorResponse('The job record was overwritten with something this service did not write', ['JOB_UNREADABLE'], keyedHeaders),
};
const notFound = (what: string) => errorResponse(what, ['NOT_FOUND'], publicHeaders);

function paths(limits: ContractLimits): OpenApiDocument['paths'] {
  const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
  const imageParts: Schema = {
    type: 'string',
    contentMediaType: 'image/*',
    description: `An image of at most ${limits.maxImageBytes.toLocaleString('en-US')} bytes.`,
  };
  return {
    '/predict': {
      post: {
        operationId: 'predict',
        summary: 'Classify one image',
        description: `The image as the raw body, as the multipart field \`file\`, or base64 in JSON; options in the query, the form or the JSON. Bodies up to ${mb(limits.maxBodyBytes)}.`,
        tags: ['Classify'],
        'x-access': 'client',
        parameters: [modelParam, topKParam],
        requestBody: {
          required: true,
          content: {
            // The media type says what the bytes are; the schema, how many.
            ...Object.fromEntries(RAW_IMAGE_TYPES.map((t) => [t, { schema: { type: 'string', description: imageParts.description } }])),
            'multipart/form-data': {
              schema: {
                type: 'object',
                properties: { file: imageParts, model: modelParam.schema, topK: { type: 'string', pattern: '^[0-9]+$' } },
                required: ['file'],
                additionalProperties: false,
                description: 'No other field; each at most once, values up to 1,024 bytes.',
              },
              encoding: { file: { contentType: 'image/*' } },
            },
            'application/json': {
              schema: {
                type: 'object',
                properties: {
                  image: { type: 'string', contentEncoding: 'base64', description: 'Base64, optionally as a data: URL.' },
                  model: { type: 'string' },
                  topK: { oneOf: [int(1, 20), { type: 'string' }] },
                },
                required: ['image'],
              },
            },
          },
        },
        responses: {
          '200': { description: 'The top-k labels', headers: keyedHeaders, content: json(schema('Classification')) },
          ...imageErrors,
          '422': errorResponse('Decodes but is unusable: zero size, or over the pixel limit', ['UNUSABLE_IMAGE'], keyedHeaders),
          ...keyed,
        },
      },
    },
    '/predict/batch': {
      post: {
        operationId: 'predictBatch',
        summary: `Classify up to ${limits.maxBatchImages} images`,
        description: 'One file part per image (any field name), or JSON `{"images": ["<base64>", …]}`; one result per image, in order.',
        tags: ['Classify'],
        'x-access': 'client',
        parameters: [modelParam, topKParam],
        requestBody: {
          required: true,
          content: {
            'multipart/form-data': {
              schema: {
                type: 'object',
                description: 'Any number of file parts (any field name), plus `model` and `topK` at most once each.',
                properties: { model: modelParam.schema, topK: { type: 'string', pattern: '^[0-9]+$' } },
                additionalProperties: imageParts,
              },
            },
            'application/json': {
              schema: {
                type: 'object',
                properties: {
                  images: { type: 'array', minItems: 1, maxItems: limits.maxBatchImages, items: { type: 'string', contentEncoding: 'base64' } },
                  model: { type: 'string' },
                  topK: { oneOf: [int(1, 20), { type: 'string' }] },
                },
                required: ['images'],
              },
            },
          },
        },
        responses: {
          '200': { description: 'One result per image', headers: keyedHeaders, content: json(schema('BatchClassification')) },
          ...imageErrors,
          ...keyed,
        },
      },
    },
    '/health': {
      get: {
        operationId: 'health',
        summary: 'Liveness and readiness',
        description: 'No key needed: load balancers and `npm start` call it.',
        tags: ['Operate'],
        ...PUBLIC,
        responses: {
          '200': { description: 'Live, and ready where this process classifies', headers: publicHeaders, content: json(schema('Health')) },
          '503': {
            description: 'Still loading the models, or a model failed to load',
            headers: { ...publicHeaders, 'Retry-After': ref('headers', 'Retry-After') },
            content: json(schema('Health')),
          },
          '500': ref('responses', 'Internal'),
        },
      },
    },
    '/models': {
      get: {
        operationId: 'listModels',
        summary: 'The registered models',
        tags: ['Operate'],
        'x-access': 'client',
        responses: {
          '200': {
            description: 'Each model: version, input, preprocessing, labels, sha256, load time',
            headers: keyedHeaders,
            content: json(schema('Models')),
          },
          ...keyed,
        },
      },
    },
    '/metrics': {
      get: {
        operationId: 'metrics',
        summary: 'Prometheus metrics',
        description: "This process's counters and histograms (locally the whole service; in AWS one container).",
        tags: ['Operate'],
        'x-access': 'operator',
        responses: {
          '200': {
            description: 'Text exposition format 0.0.4',
            headers: keyedHeaders,
            content: {
              'text/plain': {
                schema: text('http_requests_total{route,status}, http_request_duration_seconds, images_classified_total{model,outcome}, …'),
              },
            },
          },
          '403': ref('responses', 'Forbidden'),
          ...keyed,
        },
      },
    },
    '/jobs': {
      post: {
        operationId: 'createJob',
        summary: 'Create a batch job and its upload forms',
        description:
          "The job is the caller's: other keys get 404 for it. Each upload is a presigned POST form to the bucket, bound to its key, a content type and a size; S3 `ObjectCreated` then queues each image.",
        tags: ['Batch'],
        'x-access': 'client',
        requestBody: { required: false, content: json(schema('CreateJob')) },
        responses: {
          '201': { description: 'Created', headers: { ...keyedHeaders, Location: ref('headers', 'Location') }, content: json(schema('CreatedJob')) },
          '400': errorResponse('Malformed JSON, count or names (details.index names the bad name)', ['BAD_REQUEST'], keyedHeaders),
          '404': errorResponse('Unknown model', ['MODEL_NOT_FOUND'], keyedHeaders),
          '413': errorResponse(`More than ${limits.maxPresignedUrls} uploads`, ['PAYLOAD_TOO_LARGE'], keyedHeaders),
          ...keyed,
        },
      },
    },
    '/jobs/{jobId}': {
      get: {
        operationId: 'getJob',
        summary: 'A job: status, counts and, once finished, download links',
        tags: ['Batch'],
        'x-access': 'client',
        parameters: [jobIdParam],
        responses: { '200': { description: 'The job', headers: keyedHeaders, content: json(schema('Job')) }, ...jobErrors, ...keyed },
      },
    },
    '/jobs/{jobId}/results': {
      get: {
        operationId: 'getJobResults',
        summary: 'A page of the results so far',
        description: 'At most `limit` records and never over 5 MB; `Link` / `X-Next-Cursor` name the next page.',
        tags: ['Batch'],
        'x-access': 'client',
        parameters: [
          jobIdParam,
          {
            name: 'format',
            in: 'query',
            description: 'JSON Lines or CSV (a header row on each page).',
            schema: { enum: ['jsonl', 'csv'], default: 'jsonl' },
          },
          { name: 'limit', in: 'query', description: 'Records per page.', schema: { ...int(1, 5000), default: 1000 } },
          {
            name: 'after',
            in: 'query',
            description: 'The cursor of the previous page (X-Next-Cursor).',
            schema: { type: 'string', maxLength: 1024 },
          },
        ],
        responses: {
          '200': {
            description: 'A page of result records',
            headers: {
              ...keyedHeaders,
              'X-Job-Status': ref('headers', 'X-Job-Status'),
              Link: ref('headers', 'Link'),
              'X-Next-Cursor': ref('headers', 'X-Next-Cursor'),
            },
            content: {
              'application/x-ndjson': { schema: text('One ResultRecord per line.'), 'x-line-schema': schema('ResultRecord') },
              'text/csv': {
                schema: text(
                  'key,ok,label,index,score,error_code,error_message,model,predictions; cells a spreadsheet would run as formulas get a leading quote.',
                ),
              },
            },
          },
          ...jobErrors,
          ...keyed,
        },
      },
    },
    '/': {
      get: {
        operationId: 'console',
        summary: 'The web console',
        description: 'Classify, Batch, Operate and (locally) Load reports; asks for an API key once per browser session.',
        tags: ['Console'],
        ...PUBLIC,
        responses: {
          '200': { description: 'The page', headers: publicHeaders, content: { 'text/html': { schema: text('The console page.') } } },
          '500': ref('responses', 'Internal'),
        },
      },
    },
    '/console/{file}': {
      get: {
        operationId: 'consoleAsset',
        summary: "The console's script and style sheet",
        tags: ['Console'],
        ...PUBLIC,
        parameters: [{ name: 'file', in: 'path', required: true, description: 'An asset of the console.', schema: { enum: ['app.js', 'app.css'] } }],
        responses: {
          '200': {
            description: 'The asset',
            headers: publicHeaders,
            content: { 'text/javascript': { schema: text('The console script.') }, 'text/css': { schema: text('The console style sheet.') } },
          },
          '404': notFound('No such asset'),
          '500': ref('responses', 'Internal'),
        },
      },
    },
    '/openapi.json': {
      get: {
        operationId: 'openapi',
        summary: 'This document',
        tags: ['Console'],
        ...PUBLIC,
        responses: {
          '200': { description: 'OpenAPI 3.1', headers: publicHeaders, content: json(schema('OpenApi')) },
          '500': ref('responses', 'Internal'),
        },
      },
    },
    '/docs': {
      get: {
        operationId: 'docs',
        summary: 'This document, rendered',
        tags: ['Console'],
        ...PUBLIC,
        responses: {
          '200': {
            description: 'Every route, its parameters, bodies and answers',
            headers: publicHeaders,
            content: { 'text/html': { schema: text('The rendered reference.') } },
          },
          '500': ref('responses', 'Internal'),
        },
      },
    },
    '/reports': {
      get: {
        operationId: 'listLoadReports',
        summary: 'Load test runs and their verdicts',
        description: 'The runs of `npm run load` and `npm run load:sweep` under reports/ (LOAD_REPORTS_DIR), newest first.',
        tags: ['Console'],
        ...PUBLIC,
        'x-local-only': true,
        responses: {
          '200': { description: 'The runs', headers: publicHeaders, content: json(schema('LoadReports')) },
          '404': notFound('Not served here: load reports live beside `npm start`'),
          '500': ref('responses', 'Internal'),
        },
      },
    },
    '/reports/{run}': {
      get: {
        operationId: 'loadReport',
        summary: "A run's HTML report",
        tags: ['Console'],
        ...PUBLIC,
        'x-local-only': true,
        parameters: [
          {
            name: 'run',
            in: 'path',
            required: true,
            description: 'A run folder under reports/.',
            schema: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' },
          },
        ],
        responses: {
          '200': {
            description: 'The self-contained report (inline SVG, no network)',
            headers: publicHeaders,
            content: { 'text/html': { schema: text('The report.') } },
          },
          '404': notFound('No such run, or not served here'),
          '500': ref('responses', 'Internal'),
        },
      },
    },
  };
}

/** The document for a deployment with these limits, its server named by `serverUrl` (the request's own base). */
export function openApiDocument(limits: ContractLimits, serverUrl = '/'): OpenApiDocument {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Image classifier',
      version: API_VERSION,
      description:
        'Image classification on AWS serverless. Every error is `{ error, code, message, requestId }`; overload and rate limits answer with `Retry-After`; every answer carries `X-Request-Id`.',
      license: { name: 'Apache 2.0', identifier: 'Apache-2.0' },
    },
    servers: [{ url: serverUrl, description: 'This stack' }],
    security: [{ [SECURITY_SCHEME]: [] }],
    tags: [
      { name: 'Classify', description: 'Synchronous classification' },
      { name: 'Batch', description: 'Jobs: uploads straight to the bucket, results per image' },
      { name: 'Operate', description: 'Health, models, metrics' },
      { name: 'Console', description: 'What people look at' },
    ],
    paths: paths(limits),
    components: {
      schemas: schemas(limits),
      responses: responses(),
      headers: headers(),
      securitySchemes: {
        [SECURITY_SCHEME]: {
          type: 'apiKey',
          in: 'header',
          name: 'x-api-key',
          description: 'Every route but GET /health and the console needs one; GET /metrics an operator key. `npm start` prints a development key.',
        },
      },
    },
  };
}
