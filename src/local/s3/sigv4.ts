import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { s3Errors } from './errors';

/** The one access key the local S3 accepts. */
export interface LocalCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/** What SigV4 signs, taken from the request as received. */
export interface SignedRequest {
  method: string;
  /** The path exactly as sent (still percent-encoded): S3 signs the path without re-normalising it. */
  rawPath: string;
  /** Decoded query parameters in arrival order. */
  query: ReadonlyArray<readonly [string, string]>;
  headers: IncomingHttpHeaders;
}

const MAX_PRESIGN_SECONDS = 604800;
/** How far a header-signed request's X-Amz-Date may be from the server's clock. */
const MAX_SKEW_MS = 15 * 60 * 1000;

/** Parses `name=value&…` keeping order and repeated names; `+` is literal, as SigV4 clients encode space as %20. */
export function parseQuery(raw: string): Array<[string, string]> {
  if (raw === '') return [];
  return raw.split('&').map((pair): [string, string] => {
    const eq = pair.indexOf('=');
    const name = eq === -1 ? pair : pair.slice(0, eq);
    const value = eq === -1 ? '' : pair.slice(eq + 1);
    return [safeDecode(name), safeDecode(value)];
  });
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw s3Errors.invalidArgument('Invalid query string encoding', 'query', text);
  }
}

/**
 * Checks query-string (presigned URL) auth: well-formed parameters, `X-Amz-Expires`, then the signature, which binds
 * the URL to its method, key, query and expiry. Throws the S3 error S3 would answer with.
 */
export function verifyPresigned(request: SignedRequest, now: Date, credentials: LocalCredentials): void {
  const param = (name: string) => request.query.find(([k]) => k === name)?.[1];
  const algorithm = param('X-Amz-Algorithm');
  if (algorithm !== 'AWS4-HMAC-SHA256') {
    throw s3Errors.authQueryError('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"');
  }
  const amzDate = param('X-Amz-Date');
  const expiresText = param('X-Amz-Expires');
  const credential = param('X-Amz-Credential');
  const signedHeaders = param('X-Amz-SignedHeaders');
  const signature = param('X-Amz-Signature');
  if (!amzDate || !expiresText || !credential || !signedHeaders || !signature) {
    throw s3Errors.authQueryError(
      'Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.',
    );
  }
  const signedAt = parseAmzDate(amzDate);
  const expires = Number(expiresText);
  if (signedAt === undefined) throw s3Errors.authQueryError(`X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd'T'HHmmss'Z'"`);
  if (!Number.isInteger(expires) || expires < 0) {
    throw s3Errors.authQueryError('X-Amz-Expires should be a number');
  }
  if (expires > MAX_PRESIGN_SECONDS) {
    throw s3Errors.authQueryError('X-Amz-Expires must be less than a week (in seconds) that is 604800');
  }
  const expiresAt = new Date(signedAt.getTime() + expires * 1000);
  if (now.getTime() > expiresAt.getTime()) {
    throw s3Errors.requestExpired(expiresAt.toISOString().replace('.000Z', 'Z'), now.toISOString().replace(/\.\d{3}Z$/, 'Z'));
  }
  const payloadHash = param('X-Amz-Content-Sha256') ?? 'UNSIGNED-PAYLOAD';
  const query = request.query.filter(([name]) => name !== 'X-Amz-Signature');
  checkSignature(request, query, { amzDate, credential, signedHeaders, signature, payloadHash }, credentials);
}

/**
 * Checks an `Authorization: AWS4-HMAC-SHA256 …` header against `credentials`, and that the request was signed within
 * 15 minutes of `now`, as S3 does. A request with no signature at all is anonymous, which a private bucket refuses.
 */
export function verifyAuthorizationHeader(request: SignedRequest, now: Date, credentials: LocalCredentials): void {
  const header = request.headers.authorization;
  if (header === undefined) throw s3Errors.accessDenied();
  const match = /^AWS4-HMAC-SHA256\s+Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]+)$/.exec(header.trim());
  const amzDate = headerValue(request.headers, 'x-amz-date');
  if (!match || amzDate === undefined) throw s3Errors.accessDenied('Missing or malformed SigV4 Authorization header');
  const signedAt = parseAmzDate(amzDate);
  if (signedAt === undefined || Math.abs(now.getTime() - signedAt.getTime()) > MAX_SKEW_MS) {
    throw s3Errors.requestTimeTooSkewed(amzDate, now.toISOString().replace(/\.\d{3}Z$/, 'Z'));
  }
  const [, credential = '', signedHeaders = '', signature = ''] = match;
  // S3 wants it on every header-signed request: without it no one could tell what the signature covers.
  const payloadHash = headerValue(request.headers, 'x-amz-content-sha256');
  if (payloadHash === undefined) throw s3Errors.invalidRequest('Missing required header for this request: x-amz-content-sha256');
  checkSignature(request, request.query, { amzDate, credential, signedHeaders, signature, payloadHash }, credentials);
}

interface SignatureParts {
  amzDate: string;
  credential: string;
  signedHeaders: string;
  signature: string;
  payloadHash: string;
}

function checkSignature(
  request: SignedRequest,
  query: ReadonlyArray<readonly [string, string]>,
  parts: SignatureParts,
  credentials: LocalCredentials,
): void {
  const [accessKeyId, date, region, service, terminator] = parts.credential.split('/');
  if (accessKeyId !== credentials.accessKeyId) throw s3Errors.invalidAccessKeyId();
  if (!date || !region || !service || terminator !== 'aws4_request') {
    throw s3Errors.authQueryError('Error parsing the X-Amz-Credential parameter');
  }
  const names = parts.signedHeaders.split(';');
  const canonicalHeaders = names.map((name) => `${name}:${canonicalHeaderValue(request.headers[name])}\n`).join('');
  const canonicalQuery = query
    .map(([name, value]) => [uriEncode(name), uriEncode(value)] as const)
    .sort(([an, av], [bn, bv]) => (an < bn ? -1 : an > bn ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
  const canonicalRequest = [request.method, request.rawPath, canonicalQuery, canonicalHeaders, parts.signedHeaders, parts.payloadHash].join('\n');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', parts.amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  let key: Buffer = hmac(`AWS4${credentials.secretAccessKey}`, date);
  for (const part of [region, service, 'aws4_request']) key = hmac(key, part);
  const expected = Buffer.from(hmac(key, stringToSign).toString('hex'));
  const given = Buffer.from(parts.signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw s3Errors.signatureDoesNotMatch();
}

function canonicalHeaderValue(value: string | string[] | undefined): string {
  const joined = Array.isArray(value) ? value.join(',') : (value ?? '');
  return joined.trim().replace(/\s+/g, ' ');
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** RFC 3986 encoding as SigV4 specifies: everything but A-Z a-z 0-9 - _ . ~ is percent-encoded. */
export function uriEncode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function parseAmzDate(text: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number);
  if (y === undefined || mo === undefined || d === undefined || h === undefined || mi === undefined || s === undefined) {
    return undefined;
  }
  return new Date(Date.UTC(y, mo - 1, d, h, mi, s));
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}
