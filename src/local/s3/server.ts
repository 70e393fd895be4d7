import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { S3Event } from 'aws-lambda';
import { type HeaderLookup, type ReceivedBody, receiveBody } from './body';
import { algorithmLabel, type ChecksumAlgorithm, checksumOf, parseChecksumAlgorithm } from './checksums';
import { S3Error, s3Errors } from './errors';
import { encodeEventKey, nextSequencer, type ObjectCreatedEventName, objectCreatedEvent } from './event';
import { unlinkIfExists } from './fs-atomic';
import { type NotificationLog, NotificationOutbox, type ObjectCreatedListener, type RetryPolicy } from './outbox';
import { type PostForm, receivePostForm } from './post-object';
import { type LocalCredentials, parseQuery, verifyAuthorizationHeader, verifyPresigned } from './sigv4';
import { compareCodePoints, DiskBuckets, lowerBound, type ObjectAttributes, type ObjectMeta, type PartMeta, type StoredChecksum } from './store';
import { elementText, parseElements, renderXml, type XmlNode } from './xml';

export type { ObjectCreatedListener, RetryPolicy } from './outbox';
export type { LocalCredentials } from './sigv4';

/** Options for {@link startS3Server}. */
export interface S3ServerOptions {
  /** Interface to bind; default 127.0.0.1. */
  host?: string;
  /** Port; 0 picks a free one. Default 4569. */
  port?: number;
  /** Where objects, uploads and the notification outbox live; kept across restarts. */
  dataDir: string;
  /** Buckets to create at start if missing. */
  buckets?: string[];
  /** Region reported in events and HeadBucket; default us-east-1. */
  region?: string;
  /**
   * The one access key: every request but a CORS preflight must be SigV4-signed with it, by an `Authorization` header
   * or as a presigned URL, as S3 requires of a private bucket.
   */
  credentials: LocalCredentials;
  /** Backoff while the notification listener rejects; default 200 ms doubling to 30 s. */
  retry?: Partial<RetryPolicy>;
  /** Sink for delivery failures and internal errors; default one JSON line on stderr. */
  log?: NotificationLog;
  /** How long close() waits for a listener call in progress; default 5 s. */
  closeGraceMs?: number;
  /**
   * The bucket notification's filter rules (S3's `Filter.Key.FilterRules`): only keys that match produce an
   * event. Others are never written to the outbox, so a bucket busy with results does not pay for them.
   */
  notificationFilter?: { prefix?: string; suffix?: string };
  /**
   * Flush every object, part and outbox entry to disk before answering: survives a power cut, not just a
   * crash of the process, at several fsyncs per write. Off by default, as for the local SQS.
   */
  fsync?: boolean;
}

/** A running local S3. */
export interface LocalS3 {
  url: string;
  close(): Promise<void>;
  /** Registers the (single) receiver of ObjectCreated events; pending events are delivered to it. */
  onObjectCreated(listener: (event: S3Event) => Promise<void>): void;
}

/** S3 refuses multipart parts below this size, except the last. */
const MIN_PART_SIZE = 5 * 1024 * 1024;
const DEFAULT_CONTENT_TYPE = 'binary/octet-stream';
const STORED_HEADERS = ['cache-control', 'content-disposition', 'content-encoding', 'content-language', 'expires'];
const RESPONSE_OVERRIDES: Record<string, string> = {
  'response-content-type': 'content-type',
  'response-content-language': 'content-language',
  'response-expires': 'expires',
  'response-cache-control': 'cache-control',
  'response-content-disposition': 'content-disposition',
  'response-content-encoding': 'content-encoding',
};
const BUCKET_SUBRESOURCES = new Set([
  'accelerate',
  'acl',
  'analytics',
  'cors',
  'encryption',
  'intelligent-tiering',
  'inventory',
  'lifecycle',
  'logging',
  'metrics',
  'notification',
  'object-lock',
  'ownershipControls',
  'policy',
  'policyStatus',
  'publicAccessBlock',
  'replication',
  'requestPayment',
  'tagging',
  'uploads',
  'versioning',
  'versions',
  'website',
  'metadataTable',
]);
const OBJECT_SUBRESOURCES = new Set(['acl', 'attributes', 'legal-hold', 'restore', 'retention', 'select', 'tagging', 'torrent']);
const EXPOSED_HEADERS = [
  'ETag',
  'Content-Length',
  'Content-Range',
  'Content-Type',
  'Last-Modified',
  'x-amz-request-id',
  'x-amz-id-2',
  'x-amz-version-id',
  'x-amz-checksum-crc32',
  'x-amz-checksum-crc32c',
  'x-amz-checksum-crc64nvme',
  'x-amz-checksum-sha1',
  'x-amz-checksum-sha256',
  'x-amz-checksum-type',
].join(', ');

interface Context {
  store: DiskBuckets;
  outbox: NotificationOutbox;
  notificationFilter: { prefix?: string; suffix?: string };
  region: string;
  credentials: LocalCredentials;
  log: NotificationLog;
  baseUrl: string;
}

interface Request {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  rawPath: string;
  query: Array<[string, string]>;
  params: Map<string, string>;
  header: HeaderLookup;
  bucket: string | undefined;
  key: string | undefined;
  requestId: string;
  hostId: string;
}

/** Starts a local, path-style, disk-backed S3 with durable ObjectCreated notifications. */
export async function startS3Server(opts: S3ServerOptions): Promise<LocalS3> {
  const host = opts.host ?? '127.0.0.1';
  const region = opts.region ?? 'us-east-1';
  const log: NotificationLog = opts.log ?? ((message, details) => console.warn(JSON.stringify({ source: 'local-s3', message, ...details })));
  await fs.mkdir(opts.dataDir, { recursive: true });
  const store = await DiskBuckets.open(opts.dataDir, { fsync: opts.fsync });
  for (const bucket of opts.buckets ?? []) await store.createBucket(bucket);
  const outbox = await NotificationOutbox.open(
    path.join(opts.dataDir, 'outbox'),
    store.tmpDir,
    { baseMs: opts.retry?.baseMs ?? 200, maxMs: opts.retry?.maxMs ?? 30_000 },
    log,
    opts.fsync,
  );

  const ctx: Context = { store, outbox, notificationFilter: opts.notificationFilter ?? {}, region, credentials: opts.credentials, log, baseUrl: '' };
  const server = createServer((req, res) => {
    void handle(ctx, req, res);
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 4569, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  ctx.baseUrl = url;

  let closing: Promise<void> | undefined;
  return {
    url,
    onObjectCreated: (listener: ObjectCreatedListener) => outbox.setListener(listener),
    close: () => {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        await outbox.close(opts.closeGraceMs ?? 5_000);
        server.closeAllConnections();
        await closed;
      })();
      return closing;
    },
  };
}

async function handle(ctx: Context, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const requestId = randomBytes(8).toString('hex').toUpperCase();
  const hostId = randomBytes(32).toString('base64');
  res.setHeader('x-amz-request-id', requestId);
  res.setHeader('x-amz-id-2', hostId);
  res.setHeader('Server', 'AmazonS3');
  // As S3 answers a CORS rule with AllowedOrigins ['*'] (serverless.yml's default): any origin, never credentials.
  if (req.headers.origin !== undefined) {
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Expose-Headers', EXPOSED_HEADERS);
    res.setHeader('Vary', 'Origin, Access-Control-Request-Headers, Access-Control-Request-Method');
  }
  const method = req.method ?? 'GET';
  let request: Request | undefined;
  try {
    if (method === 'OPTIONS') return preflight(req, res);
    request = parseRequest(req, res, method, requestId, hostId);
    // A POST Object's credential is its form's signed policy, checked as the form is read, before its file (postObject).
    if (!isPostObject(request)) authenticate(ctx, request);
    await route(ctx, request);
  } catch (err: unknown) {
    if (!(err instanceof S3Error)) {
      ctx.log('local S3 internal error', { method, url: req.url, error: err instanceof Error ? err.stack : String(err) });
    }
    sendError(res, method, err instanceof S3Error ? err : s3Errors.internal(), request, requestId, hostId);
  }
}

function preflight(req: IncomingMessage, res: ServerResponse): void {
  // Any origin, so local browser uploads to presigned URLs work from any dev origin; the URL's signature is the access
  // control, and no credentials (cookies) are ever allowed.
  res.setHeader('Access-Control-Allow-Origin', '*');
  res.setHeader('Access-Control-Allow-Methods', 'GET, PUT, POST, DELETE, HEAD');
  res.setHeader('Access-Control-Allow-Headers', req.headers['access-control-request-headers'] ?? '*');
  res.setHeader('Access-Control-Max-Age', '3000');
  res.writeHead(200, { 'Content-Length': '0' });
  res.end();
}

function parseRequest(req: IncomingMessage, res: ServerResponse, method: string, requestId: string, hostId: string): Request {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const rawPath = q === -1 ? url : url.slice(0, q);
  const query = parseQuery(q === -1 ? '' : url.slice(q + 1));
  const params = new Map<string, string>();
  for (const [name, value] of query) if (!params.has(name)) params.set(name, value);
  const header: HeaderLookup = (name) => {
    const value = req.headers[name];
    if (value !== undefined) return Array.isArray(value) ? value.join(',') : value;
    // Presigned URLs carry x-amz-* headers as query parameters (any case).
    if (!name.startsWith('x-amz-')) return undefined;
    for (const [k, v] of query) if (k.toLowerCase() === name) return v;
    return undefined;
  };
  const trimmed = rawPath.replace(/^\//, '');
  const slash = trimmed.indexOf('/');
  const bucketPart = slash === -1 ? trimmed : trimmed.slice(0, slash);
  const keyPart = slash === -1 ? '' : trimmed.slice(slash + 1);
  const bucket = bucketPart === '' ? undefined : decodePath(bucketPart);
  const key = keyPart === '' ? undefined : decodePath(keyPart);
  if (key !== undefined && Buffer.byteLength(key) > 1024) throw s3Errors.keyTooLong();
  return { req, res, method, rawPath, query, params, header, bucket, key, requestId, hostId };
}

function decodePath(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw s3Errors.invalidArgument('Invalid URI encoding', 'path', text);
  }
}

function authenticate(ctx: Context, r: Request): void {
  const signed = { method: r.method, rawPath: r.rawPath, query: r.query, headers: r.req.headers };
  if (r.params.has('X-Amz-Signature') || r.params.has('X-Amz-Algorithm')) {
    verifyPresigned(signed, new Date(), ctx.credentials);
    return;
  }
  verifyAuthorizationHeader(signed, new Date(), ctx.credentials);
}

async function route(ctx: Context, r: Request): Promise<void> {
  const { method, bucket, key, params } = r;
  if (bucket === undefined) {
    if (method === 'GET' || method === 'HEAD') return listBuckets(ctx, r);
    throw s3Errors.methodNotAllowed();
  }
  if (key === undefined) {
    if (method === 'POST' && params.has('delete')) return deleteObjects(ctx, r, bucket);
    if (isPostObject(r)) return postObject(ctx, r, bucket);
    const sub = [...params.keys()].find((name) => BUCKET_SUBRESOURCES.has(name));
    if (sub !== undefined) throw s3Errors.notImplemented(`?${sub}`);
    switch (method) {
      case 'GET':
        if (params.has('location')) return getBucketLocation(ctx, r, bucket);
        return listObjects(ctx, r, bucket, params.get('list-type') === '2');
      case 'HEAD':
        ctx.store.assertBucket(bucket);
        return send(r.res, 200, { 'x-amz-bucket-region': ctx.region, 'Content-Length': '0' });
      case 'PUT':
        await drain(r.req);
        // us-east-1 semantics: re-creating your own bucket succeeds, which keeps local start idempotent.
        await ctx.store.createBucket(bucket);
        return send(r.res, 200, { Location: `/${bucket}`, 'Content-Length': '0' });
      case 'DELETE':
        await ctx.store.deleteBucket(bucket);
        return send(r.res, 204, {});
      default:
        throw s3Errors.methodNotAllowed();
    }
  }
  const sub = [...params.keys()].find((name) => OBJECT_SUBRESOURCES.has(name));
  if (sub !== undefined) throw s3Errors.notImplemented(`?${sub}`);
  const uploadId = params.get('uploadId');
  switch (method) {
    case 'PUT':
      if (uploadId !== undefined) {
        if (r.header('x-amz-copy-source') !== undefined) throw s3Errors.notImplemented('UploadPartCopy');
        return uploadPart(ctx, r, bucket, key, uploadId);
      }
      if (r.header('x-amz-copy-source') !== undefined) return copyObject(ctx, r, bucket, key);
      return putObject(ctx, r, bucket, key);
    case 'GET':
    case 'HEAD':
      if (uploadId !== undefined) throw s3Errors.notImplemented('ListParts');
      return getObject(ctx, r, bucket, key);
    case 'DELETE':
      if (uploadId !== undefined) return abortUpload(ctx, r, bucket, key, uploadId);
      ctx.store.assertBucket(bucket);
      await ctx.store.deleteObject(bucket, key);
      return send(r.res, 204, {});
    case 'POST':
      if (params.has('uploads')) return createUpload(ctx, r, bucket, key);
      if (uploadId !== undefined) return completeUpload(ctx, r, bucket, key, uploadId);
      throw s3Errors.methodNotAllowed();
    default:
      throw s3Errors.methodNotAllowed();
  }
}

// --- bucket operations ---

function listBuckets(ctx: Context, r: Request): void {
  const xml = renderXml([
    'ListAllMyBucketsResult',
    [
      [
        'Owner',
        [
          ['ID', OWNER_ID],
          ['DisplayName', 'local'],
        ],
      ],
      [
        'Buckets',
        ctx.store.listBuckets().map(
          (b): XmlNode => [
            'Bucket',
            [
              ['Name', b.name],
              ['CreationDate', s3Time(b.creationDate)],
            ],
          ],
        ),
      ],
    ],
  ]);
  sendXml(r, 200, xml);
}

const OWNER_ID = '75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a';

function getBucketLocation(ctx: Context, r: Request, bucket: string): void {
  ctx.store.assertBucket(bucket);
  // S3 reports us-east-1 as an empty LocationConstraint.
  sendXml(r, 200, renderXml(['LocationConstraint', ctx.region === 'us-east-1' ? '' : ctx.region]));
}

function listObjects(ctx: Context, r: Request, bucket: string, v2: boolean): void {
  const keys = ctx.store.sortedKeys(bucket);
  const p = r.params;
  const prefix = p.get('prefix') ?? '';
  const delimiter = p.get('delimiter') || undefined;
  const maxKeysText = p.get('max-keys');
  const maxKeys = maxKeysText === undefined ? 1000 : Number(maxKeysText);
  if (!/^\d+$/.test(maxKeysText ?? '0') || !Number.isSafeInteger(maxKeys)) {
    throw s3Errors.invalidArgument('Provided max-keys not an integer or within integer range', 'max-keys', maxKeysText);
  }
  const encodingType = p.get('encoding-type');
  if (encodingType !== undefined && encodingType !== 'url') {
    throw s3Errors.invalidArgument('Invalid Encoding Method specified in Request', 'encoding-type', encodingType);
  }
  const enc = (text: string) => (encodingType === 'url' ? encodeEventKey(text) : text);
  const token = p.get('continuation-token');
  const startAfter = p.get('start-after');
  let after: string | undefined;
  if (v2) {
    after = token !== undefined ? decodeToken(token) : startAfter;
  } else {
    after = p.get('marker') || undefined;
  }
  const page = listPage(keys, { prefix, delimiter, after, maxKeys: Math.min(maxKeys, 1000) });
  const contents = page.contents.map((key): XmlNode => {
    const meta = ctx.store.getObject(bucket, key);
    return [
      'Contents',
      [
        ['Key', enc(key)],
        ['LastModified', s3Time(meta?.lastModified ?? new Date(0).toISOString())],
        ['ETag', meta?.etag ?? '""'],
        meta?.checksum ? ['ChecksumAlgorithm', algorithmLabel(meta.checksum.algorithm)] : undefined,
        meta?.checksum ? ['ChecksumType', meta.checksum.type] : undefined,
        ['Size', meta?.size ?? 0],
        v2 && p.get('fetch-owner') !== 'true'
          ? undefined
          : [
              'Owner',
              [
                ['ID', OWNER_ID],
                ['DisplayName', 'local'],
              ],
            ],
        ['StorageClass', 'STANDARD'],
      ],
    ];
  });
  const prefixes = page.commonPrefixes.map((cp): XmlNode => ['CommonPrefixes', [['Prefix', enc(cp)]]]);
  const children: Array<XmlNode | undefined> = v2
    ? [
        ['Name', bucket],
        ['Prefix', enc(prefix)],
        token === undefined ? undefined : ['ContinuationToken', token],
        page.truncated && page.last !== undefined ? ['NextContinuationToken', encodeToken(page.last)] : undefined,
        ['KeyCount', page.contents.length + page.commonPrefixes.length],
        ['MaxKeys', maxKeys],
        delimiter === undefined ? undefined : ['Delimiter', enc(delimiter)],
        encodingType === undefined ? undefined : ['EncodingType', encodingType],
        ['IsTruncated', page.truncated],
        startAfter === undefined ? undefined : ['StartAfter', enc(startAfter)],
      ]
    : [
        ['Name', bucket],
        ['Prefix', enc(prefix)],
        ['Marker', enc(after ?? '')],
        // S3 only returns NextMarker when a delimiter is given; otherwise clients use the last key.
        page.truncated && delimiter !== undefined && page.last !== undefined ? ['NextMarker', enc(page.last)] : undefined,
        ['MaxKeys', maxKeys],
        delimiter === undefined ? undefined : ['Delimiter', enc(delimiter)],
        encodingType === undefined ? undefined : ['EncodingType', encodingType],
        ['IsTruncated', page.truncated],
      ];
  sendXml(r, 200, renderXml(['ListBucketResult', [...children, ...contents, ...prefixes]]));
}

interface ListPage {
  contents: string[];
  commonPrefixes: string[];
  truncated: boolean;
  /** The last key or common prefix returned: where the next page starts after. */
  last: string | undefined;
}

/** One page of a listing over keys sorted in code point order, as S3 pages them. */
export function listPage(
  keys: readonly string[],
  o: { prefix: string; delimiter: string | undefined; after: string | undefined; maxKeys: number },
): ListPage {
  const page: ListPage = { contents: [], commonPrefixes: [], truncated: false, last: undefined };
  // Resuming after a common prefix must skip every key under it, not just the prefix string itself.
  let lastPrefix =
    o.after !== undefined && o.delimiter !== undefined && o.after.startsWith(o.prefix) && o.after.endsWith(o.delimiter) ? o.after : undefined;
  // Jump to the first key at or after the prefix (and past the marker) instead of walking the whole bucket.
  let start = lowerBound(keys, o.prefix);
  if (o.after !== undefined) {
    let past = lowerBound(keys, o.after);
    if (keys[past] === o.after) past++;
    start = Math.max(start, past);
  }
  for (let i = start; i < keys.length; i++) {
    const key = keys[i] as string;
    if (o.after !== undefined && compareCodePoints(key, o.after) <= 0) continue;
    if (!key.startsWith(o.prefix)) {
      if (compareCodePoints(key, o.prefix) > 0) break;
      continue;
    }
    let commonPrefix: string | undefined;
    if (o.delimiter !== undefined) {
      const at = key.indexOf(o.delimiter, o.prefix.length);
      if (at !== -1) commonPrefix = key.slice(0, at + o.delimiter.length);
    }
    if (commonPrefix !== undefined && commonPrefix === lastPrefix) continue;
    if (page.contents.length + page.commonPrefixes.length >= o.maxKeys) {
      page.truncated = true;
      break;
    }
    if (commonPrefix !== undefined) {
      page.commonPrefixes.push(commonPrefix);
      lastPrefix = commonPrefix;
      page.last = commonPrefix;
    } else {
      page.contents.push(key);
      page.last = key;
    }
  }
  return page;
}

function encodeToken(marker: string): string {
  return Buffer.from(JSON.stringify({ m: marker })).toString('base64');
}

function decodeToken(token: string): string {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as unknown;
    if (typeof parsed === 'object' && parsed !== null && 'm' in parsed && typeof parsed.m === 'string') return parsed.m;
  } catch {
    // fall through to S3's error
  }
  throw s3Errors.invalidArgument('The continuation token provided is incorrect', 'continuation-token', token);
}

async function deleteObjects(ctx: Context, r: Request, bucket: string): Promise<void> {
  ctx.store.assertBucket(bucket);
  const xml = await readXmlBody(ctx, r);
  const objects = parseElements(xml, 'Object');
  if (objects.length === 0 || objects.length > 1000) throw s3Errors.malformedXml();
  const quiet = elementText(xml, 'Quiet') === 'true';
  const deleted: XmlNode[] = [];
  for (const object of objects) {
    const key = object.Key;
    if (key === undefined) throw s3Errors.malformedXml();
    await ctx.store.deleteObject(bucket, key);
    if (!quiet) deleted.push(['Deleted', [['Key', key]]]);
  }
  sendXml(r, 200, renderXml(['DeleteResult', deleted]));
}

// --- object operations ---

function attributesFrom(r: Request): ObjectAttributes {
  const headers: Record<string, string> = {};
  for (const name of STORED_HEADERS) {
    let value = r.header(name);
    if (name === 'content-encoding' && value !== undefined) {
      // aws-chunked is transport framing, not a property of the object: S3 drops it.
      value = value
        .split(',')
        .map((e) => e.trim())
        .filter((e) => e !== '' && e !== 'aws-chunked')
        .join(', ');
    }
    if (value !== undefined && value !== '') headers[name] = value;
  }
  const userMetadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(r.req.headers)) {
    if (name.startsWith('x-amz-meta-') && value !== undefined) {
      userMetadata[name.slice('x-amz-meta-'.length)] = Array.isArray(value) ? value.join(',') : value;
    }
  }
  for (const [name, value] of r.query) {
    const lower = name.toLowerCase();
    if (lower.startsWith('x-amz-meta-')) userMetadata[lower.slice('x-amz-meta-'.length)] ??= value;
  }
  return { contentType: r.header('content-type') || DEFAULT_CONTENT_TYPE, headers, userMetadata };
}

async function putObject(ctx: Context, r: Request, bucket: string, key: string): Promise<void> {
  ctx.store.assertBucket(bucket);
  const ifNoneMatch = r.header('if-none-match');
  const ifMatch = r.header('if-match');
  const attributes = attributesFrom(r);
  // S3 checksums every new object (CRC64NVME unless the client chose); keeping one lets GET validate.
  const body = await receiveBody(r.req, r.header, ctx.store.tmpFile(), 'crc64nvme');
  const stored = await ctx.store
    .putObject(
      bucket,
      { key, size: body.size, etag: quoteEtag(body.md5.toString('hex')), ...attributes, checksum: fullChecksum(body) },
      body.tmp,
      (existing) => {
        if (ifNoneMatch === '*' && existing !== undefined) throw s3Errors.preconditionFailed('If-None-Match');
        if (ifMatch !== undefined && (existing === undefined || !etagMatches(ifMatch, existing.etag))) {
          if (existing === undefined) throw s3Errors.noSuchKey(key);
          throw s3Errors.preconditionFailed('If-Match');
        }
      },
    )
    .catch(async (err: unknown) => {
      await unlinkIfExists(body.tmp);
      throw err;
    });
  await notify(ctx, r, 'ObjectCreated:Put', bucket, stored);
  const headers: Record<string, string> = { ETag: stored.etag, 'Content-Length': '0' };
  if (body.checksum?.fromClient) Object.assign(headers, checksumHeaders(stored.checksum));
  send(r.res, 200, headers);
}

/** A browser-based upload (POST Object): a form to the bucket's URL, with no key in the path. */
function isPostObject(r: Request): boolean {
  return r.method === 'POST' && r.bucket !== undefined && r.key === undefined && !r.params.has('delete');
}

async function postObject(ctx: Context, r: Request, bucket: string): Promise<void> {
  ctx.store.assertBucket(bucket);
  let form: PostForm;
  try {
    form = await receivePostForm(r.req, ctx.store.tmpFile(), bucket, ctx.credentials);
  } catch (err: unknown) {
    // Refused mid-body (over the policy's size): close after answering rather than read the rest, as S3 does.
    if (!r.req.complete) closeAfterAnswer(r);
    throw err;
  }
  const { file, upload } = form;
  let stored: ObjectMeta;
  try {
    const headers: Record<string, string> = {};
    for (const name of STORED_HEADERS) {
      const value = form.fields.get(name);
      if (value !== undefined && value !== '') headers[name] = value;
    }
    stored = await ctx.store.putObject(
      bucket,
      {
        key: upload.key,
        size: file.size,
        etag: quoteEtag(file.md5.toString('hex')),
        contentType: upload.contentType || DEFAULT_CONTENT_TYPE,
        headers,
        userMetadata: upload.userMetadata,
        checksum: { algorithm: 'crc64nvme', value: file.crc64nvme, type: 'FULL_OBJECT' },
      },
      file.tmp,
    );
  } catch (err: unknown) {
    await unlinkIfExists(file.tmp);
    throw err;
  }
  await notify(ctx, r, 'ObjectCreated:Post', bucket, stored);
  const location = `${ctx.baseUrl}/${encodeURIComponent(bucket)}/${stored.key.split('/').map(encodeURIComponent).join('/')}`;
  const headers = { ETag: stored.etag, Location: location };
  if (upload.successStatus === 201) {
    sendXml(
      r,
      201,
      renderXml([
        'PostResponse',
        [
          ['Location', location],
          ['Bucket', bucket],
          ['Key', stored.key],
          ['ETag', stored.etag],
        ],
      ]),
      headers,
    );
    return;
  }
  send(r.res, upload.successStatus, { ...headers, 'Content-Length': '0' });
}

/** What is still read (and dropped) of a refused body once its answer is out, at most, and for how long. */
const LINGER = { bytes: 1024 * 1024, ms: 2000 };

/**
 * Closes the connection of a request answered before its body ended, as web servers do ("lingering close"): a FIN
 * once the answer is out, so the client sees the answer and stops sending, then a moment of reading what is still in
 * flight. Closing outright would reset a connection with unread data, and the client could lose the answer with it.
 */
function closeAfterAnswer(r: Request): void {
  const socket = r.req.socket;
  r.res.once('finish', () => {
    socket.end();
    let read = 0;
    const close = () => socket.destroy();
    const timer = setTimeout(close, LINGER.ms);
    socket.on('data', (chunk: Buffer) => {
      read += chunk.length;
      if (read > LINGER.bytes) close();
    });
    socket.once('end', close);
    socket.once('close', () => clearTimeout(timer));
  });
}

async function copyObject(ctx: Context, r: Request, bucket: string, key: string): Promise<void> {
  ctx.store.assertBucket(bucket);
  const source = parseCopySource(r.header('x-amz-copy-source') ?? '');
  const directive = (r.header('x-amz-metadata-directive') ?? 'COPY').toUpperCase();
  if (directive !== 'COPY' && directive !== 'REPLACE') {
    throw s3Errors.invalidArgument('Unknown metadata directive.', 'x-amz-metadata-directive', directive);
  }
  if (source.bucket === bucket && source.key === key && directive === 'COPY') {
    throw s3Errors.invalidRequest(
      "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
    );
  }
  ctx.store.assertBucket(source.bucket);
  await drain(r.req);
  const { meta: src, tmp } = await ctx.store.copyBodyToTmp(source.bucket, source.key);
  const md5 = createHash('md5');
  await pipeline((await fs.open(tmp, 'r')).createReadStream(), md5);
  const attributes: ObjectAttributes =
    directive === 'REPLACE' ? attributesFrom(r) : { contentType: src.contentType, headers: src.headers, userMetadata: src.userMetadata };
  // A composite (multipart) checksum describes parts that no longer exist in the copy.
  const checksum = src.checksum?.type === 'FULL_OBJECT' ? src.checksum : await fileChecksum(tmp, 'crc64nvme');
  const stored = await ctx.store
    .putObject(bucket, { key, size: src.size, etag: quoteEtag(md5.digest('hex')), ...attributes, checksum }, tmp)
    .catch(async (err: unknown) => {
      await unlinkIfExists(tmp);
      throw err;
    });
  await notify(ctx, r, 'ObjectCreated:Copy', bucket, stored);
  const result: Array<XmlNode | undefined> = [
    ['LastModified', s3Time(stored.lastModified)],
    ['ETag', stored.etag],
  ];
  if (stored.checksum) {
    result.push([`Checksum${algorithmLabel(stored.checksum.algorithm)}`, stored.checksum.value]);
    result.push(['ChecksumType', stored.checksum.type]);
  }
  sendXml(r, 200, renderXml(['CopyObjectResult', result]));
}

function parseCopySource(header: string): { bucket: string; key: string } {
  const withoutVersion = header.split('?', 1)[0] ?? '';
  const decoded = decodePath(withoutVersion).replace(/^\//, '');
  const slash = decoded.indexOf('/');
  if (slash <= 0 || slash === decoded.length - 1) {
    throw s3Errors.invalidArgument('Copy Source must mention the source bucket and key: sourcebucket/sourcekey', 'x-amz-copy-source', header);
  }
  return { bucket: decoded.slice(0, slash), key: decoded.slice(slash + 1) };
}

async function getObject(ctx: Context, r: Request, bucket: string, key: string): Promise<void> {
  ctx.store.assertBucket(bucket);
  // A HEAD is answered from the index alone; a GET opens the body of the very version it describes.
  const opened = r.method === 'HEAD' ? undefined : await ctx.store.openBody(bucket, key);
  const meta = opened?.meta ?? ctx.store.getObject(bucket, key);
  if (meta === undefined) throw s3Errors.noSuchKey(key);
  const handle = opened?.handle;
  let handed = false;
  try {
    const notModified = checkConditions(r, meta);
    const headers: Record<string, string> = {
      'Last-Modified': httpTime(meta.lastModified),
      ETag: meta.etag,
      'Accept-Ranges': 'bytes',
    };
    if (notModified) {
      send(r.res, 304, headers);
      return;
    }
    headers['Content-Type'] = meta.contentType;
    for (const [name, value] of Object.entries(meta.headers)) headers[name] = value;
    for (const [name, value] of Object.entries(meta.userMetadata)) headers[`x-amz-meta-${name}`] = value;
    for (const [param, name] of Object.entries(RESPONSE_OVERRIDES)) {
      const value = r.params.get(param);
      if (value !== undefined) headers[name] = value;
    }
    if (meta.checksum?.type === 'COMPOSITE') {
      headers['x-amz-mp-parts-count'] = meta.checksum.value.split('-')[1] ?? '';
    }
    const range = parseRange(r.header('range'), meta.size);
    let status = 200;
    let start = 0;
    let end = meta.size - 1;
    if (range !== undefined) {
      status = 206;
      [start, end] = range;
      headers['Content-Range'] = `bytes ${start}-${end}/${meta.size}`;
    } else if ((r.header('x-amz-checksum-mode') ?? '').toUpperCase() === 'ENABLED') {
      // Only whole-object responses carry the checksum; a range would not match it.
      Object.assign(headers, checksumHeaders(meta.checksum));
    }
    headers['Content-Length'] = String(Math.max(0, end - start + 1));
    r.res.writeHead(status, headers);
    if (handle === undefined || meta.size === 0) {
      r.res.end();
      return;
    }
    handed = true;
    await pipeline(handle.createReadStream({ start, end }), r.res).catch(() => {
      // The client hung up mid-body; nothing to answer.
    });
  } finally {
    if (!handed) await handle?.close();
  }
}

/** Applies If-Match / If-Unmodified-Since (412) and If-None-Match / If-Modified-Since (304) in S3's order. */
function checkConditions(r: Request, meta: ObjectMeta): boolean {
  const modified = Math.floor(Date.parse(meta.lastModified) / 1000) * 1000;
  const ifMatch = r.header('if-match');
  const ifUnmodifiedSince = r.header('if-unmodified-since');
  if (ifMatch !== undefined) {
    if (!etagMatches(ifMatch, meta.etag)) throw s3Errors.preconditionFailed('If-Match');
  } else if (ifUnmodifiedSince !== undefined && modified > Date.parse(ifUnmodifiedSince)) {
    throw s3Errors.preconditionFailed('If-Unmodified-Since');
  }
  const ifNoneMatch = r.header('if-none-match');
  const ifModifiedSince = r.header('if-modified-since');
  if (ifNoneMatch !== undefined) return etagMatches(ifNoneMatch, meta.etag);
  if (ifModifiedSince !== undefined && modified <= Date.parse(ifModifiedSince)) return true;
  return false;
}

function etagMatches(condition: string, etag: string): boolean {
  return condition
    .split(',')
    .map((t) => t.trim().replace(/^W\//, ''))
    .some((t) => t === '*' || t.replace(/"/g, '') === etag.replace(/"/g, ''));
}

/** A single byte range as S3 accepts it; anything S3 would ignore (multi-range, garbage) yields undefined. */
function parseRange(header: string | undefined, size: number): [number, number] | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  const [, first = '', last = ''] = m;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0) throw s3Errors.invalidRange(size);
    return [Math.max(0, size - suffix), size - 1];
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (start >= size) throw s3Errors.invalidRange(size);
  if (end < start) return undefined;
  return [start, end];
}

// --- multipart ---

async function createUpload(ctx: Context, r: Request, bucket: string, key: string): Promise<void> {
  ctx.store.assertBucket(bucket);
  await drain(r.req);
  const named = r.header('x-amz-checksum-algorithm');
  const checksumAlgorithm = named === undefined ? undefined : parseChecksumAlgorithm(named);
  if (named !== undefined && checksumAlgorithm === undefined) {
    throw s3Errors.invalidArgument('Checksum algorithm provided is unsupported.', 'x-amz-checksum-algorithm', named);
  }
  const upload = await ctx.store.createUpload({ bucket, key, ...attributesFrom(r), checksumAlgorithm });
  const headers: Record<string, string> = checksumAlgorithm ? { 'x-amz-checksum-algorithm': algorithmLabel(checksumAlgorithm) } : {};
  sendXml(
    r,
    200,
    renderXml([
      'InitiateMultipartUploadResult',
      [
        ['Bucket', bucket],
        ['Key', key],
        ['UploadId', upload.uploadId],
      ],
    ]),
    headers,
  );
}

async function uploadPart(ctx: Context, r: Request, bucket: string, key: string, uploadId: string): Promise<void> {
  ctx.store.assertBucket(bucket);
  const partNumber = Number(r.params.get('partNumber'));
  if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10000) {
    throw s3Errors.invalidArgument('Part number must be an integer between 1 and 10000, inclusive', 'partNumber', r.params.get('partNumber'));
  }
  const upload = await ctx.store.getUpload(bucket, key, uploadId);
  const body = await receiveBody(r.req, r.header, ctx.store.tmpFile(), upload.checksumAlgorithm);
  const part = await ctx.store
    .putPart(upload, { partNumber, size: body.size, etag: quoteEtag(body.md5.toString('hex')), checksum: body.checksum?.value }, body.tmp)
    .catch(async (err: unknown) => {
      await unlinkIfExists(body.tmp);
      throw err;
    });
  const headers: Record<string, string> = { ETag: part.etag, 'Content-Length': '0' };
  if (body.checksum) headers[`x-amz-checksum-${body.checksum.algorithm}`] = body.checksum.value;
  send(r.res, 200, headers);
}

async function completeUpload(ctx: Context, r: Request, bucket: string, key: string, uploadId: string): Promise<void> {
  ctx.store.assertBucket(bucket);
  const upload = await ctx.store.getUpload(bucket, key, uploadId);
  const requested = parseElements(await readXmlBody(ctx, r), 'Part');
  if (requested.length === 0) throw s3Errors.malformedXml();
  const stored = await ctx.store.listParts(uploadId);
  const chosen: PartMeta[] = [];
  let previous = 0;
  for (const [index, entry] of requested.entries()) {
    const number = Number(entry.PartNumber);
    if (!Number.isInteger(number)) throw s3Errors.malformedXml();
    if (number <= previous) throw s3Errors.invalidPartOrder();
    previous = number;
    const part = stored.get(number);
    if (part === undefined || entry.ETag === undefined || !etagMatches(entry.ETag, part.etag)) throw s3Errors.invalidPart();
    if (index < requested.length - 1 && part.size < MIN_PART_SIZE) throw s3Errors.entityTooSmall();
    chosen.push(part);
  }
  const tmp = await ctx.store.concatParts(uploadId, chosen);
  const etagHash = createHash('md5');
  for (const part of chosen) etagHash.update(Buffer.from(part.etag.replace(/"/g, ''), 'hex'));
  const etag = quoteEtag(`${etagHash.digest('hex')}-${chosen.length}`);
  const checksum = compositeChecksum(upload.checksumAlgorithm, chosen);
  const size = chosen.reduce((total, part) => total + part.size, 0);
  const attributes: ObjectAttributes = { contentType: upload.contentType, headers: upload.headers, userMetadata: upload.userMetadata };
  const object = await ctx.store.putObject(bucket, { key, size, etag, ...attributes, checksum }, tmp).catch(async (err: unknown) => {
    await unlinkIfExists(tmp);
    throw err;
  });
  await ctx.store.deleteUpload(uploadId);
  await notify(ctx, r, 'ObjectCreated:CompleteMultipartUpload', bucket, object);
  const result: Array<XmlNode | undefined> = [
    ['Location', `${ctx.baseUrl}/${encodeURIComponent(bucket)}/${key.split('/').map(encodeURIComponent).join('/')}`],
    ['Bucket', bucket],
    ['Key', key],
    ['ETag', etag],
  ];
  if (checksum) {
    result.push([`Checksum${algorithmLabel(checksum.algorithm)}`, checksum.value]);
    result.push(['ChecksumType', checksum.type]);
  }
  sendXml(r, 200, renderXml(['CompleteMultipartUploadResult', result]));
}

/** S3's composite checksum: the checksum of the parts' binary checksums, suffixed with the part count. */
function compositeChecksum(algorithm: ChecksumAlgorithm | undefined, parts: readonly PartMeta[]): StoredChecksum | undefined {
  if (algorithm === undefined || parts.some((part) => part.checksum === undefined)) return undefined;
  const joined = Buffer.concat(parts.map((part) => Buffer.from(part.checksum ?? '', 'base64')));
  return { algorithm, value: `${checksumOf(algorithm, joined)}-${parts.length}`, type: 'COMPOSITE' };
}

async function abortUpload(ctx: Context, r: Request, bucket: string, key: string, uploadId: string): Promise<void> {
  ctx.store.assertBucket(bucket);
  await ctx.store.getUpload(bucket, key, uploadId);
  await ctx.store.deleteUpload(uploadId);
  send(r.res, 204, {});
}

// --- notifications ---

/** Persists the event before the caller answers, so a 200 always implies a delivered-eventually event. */
async function notify(ctx: Context, r: Request, eventName: ObjectCreatedEventName, bucket: string, meta: ObjectMeta): Promise<void> {
  const { prefix = '', suffix = '' } = ctx.notificationFilter;
  if (!meta.key.startsWith(prefix) || !meta.key.endsWith(suffix)) return;
  await ctx.outbox.enqueue(
    objectCreatedEvent({
      eventName,
      region: ctx.region,
      bucket,
      key: meta.key,
      size: meta.size,
      etag: meta.etag,
      sequencer: nextSequencer(),
      requestId: r.requestId,
      hostId: r.hostId,
      sourceIp: (r.req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, ''),
      configurationId: 'local-object-created',
    }),
  );
}

// --- helpers ---

function fullChecksum(body: ReceivedBody): StoredChecksum | undefined {
  return body.checksum ? { algorithm: body.checksum.algorithm, value: body.checksum.value, type: 'FULL_OBJECT' } : undefined;
}

async function fileChecksum(file: string, algorithm: ChecksumAlgorithm): Promise<StoredChecksum> {
  return { algorithm, value: checksumOf(algorithm, await fs.readFile(file)), type: 'FULL_OBJECT' };
}

function checksumHeaders(checksum: StoredChecksum | undefined): Record<string, string> {
  if (checksum === undefined) return {};
  return { [`x-amz-checksum-${checksum.algorithm}`]: checksum.value, 'x-amz-checksum-type': checksum.type };
}

function quoteEtag(hex: string): string {
  return `"${hex}"`;
}

/** ISO time with whole seconds, as S3 writes it in XML (`2024-01-01T00:00:00.000Z`). */
function s3Time(iso: string): string {
  return iso.replace(/\.\d{3}Z$/, '.000Z');
}

function httpTime(iso: string): string {
  return new Date(iso).toUTCString();
}

async function readXmlBody(ctx: Context, r: Request): Promise<string> {
  const body = await receiveBody(r.req, r.header, ctx.store.tmpFile());
  try {
    if (body.size > 2 * 1024 * 1024) throw s3Errors.malformedXml();
    return await fs.readFile(body.tmp, 'utf8');
  } finally {
    await unlinkIfExists(body.tmp);
  }
}

async function drain(req: IncomingMessage): Promise<void> {
  for await (const _chunk of req) {
    // Bodies of these requests carry nothing we use (CreateBucketConfiguration, ...).
  }
}

function send(res: ServerResponse, status: number, headers: Record<string, string>): void {
  res.writeHead(status, headers);
  res.end();
}

function sendXml(r: Request, status: number, xml: string, headers: Record<string, string> = {}): void {
  const body = Buffer.from(xml, 'utf8');
  r.res.writeHead(status, { ...headers, 'Content-Type': 'application/xml', 'Content-Length': String(body.length) });
  r.res.end(r.method === 'HEAD' ? undefined : body);
}

function sendError(res: ServerResponse, method: string, error: S3Error, r: Request | undefined, requestId: string, hostId: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const details: XmlNode[] = Object.entries(error.details).map(([name, value]): XmlNode => [name, value]);
  const resource = r?.key !== undefined ? { Key: r.key } : r?.bucket !== undefined ? { BucketName: r.bucket } : {};
  for (const [name, value] of Object.entries(resource)) if (!(name in error.details)) details.push([name, value]);
  const xml = renderXml(
    ['Error', [['Code', error.code], ['Message', error.message], ...details, ['RequestId', requestId], ['HostId', hostId]]],
    false,
  );
  const body = Buffer.from(xml, 'utf8');
  const headers: Record<string, string> = { ...error.headers, 'Content-Type': 'application/xml', 'Content-Length': String(body.length) };
  res.writeHead(error.statusCode, headers);
  res.end(method === 'HEAD' ? undefined : body);
}
