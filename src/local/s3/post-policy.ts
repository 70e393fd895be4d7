import { createHmac, timingSafeEqual } from 'node:crypto';
import { S3Error, s3Errors } from './errors';
import type { LocalCredentials } from './sigv4';

/**
 * Browser-based uploads (S3 POST Object with a SigV4-signed policy): the policy bounds what a holder of the form may
 * upload (key, content type, size, expiry), and it is S3 that enforces it, before any function reads the object.
 * https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html
 */

/** The form fields that came before the file part (S3 ignores any after it), names lower-cased, first one wins. */
export type PostFields = ReadonlyMap<string, string>;

/** What the policy allowed: the key to store under and the object's attributes from the form. */
export interface PostUpload {
  key: string;
  contentType: string | undefined;
  /** `x-amz-meta-*` fields, names without the prefix. */
  userMetadata: Record<string, string>;
  /** 200, 201 or 204 (S3's default). */
  successStatus: 200 | 201 | 204;
}

// Fields a policy need not name (the docs' list), besides x-ignore-*.
const UNCONDITIONED = new Set(['policy', 'x-amz-signature', 'file']);

const policyFailed = (message: string) => s3Errors.accessDenied(`Invalid according to Policy: ${message}`);

export const postErrors = {
  tooLarge: (size: number, max: number) =>
    new S3Error('EntityTooLarge', 400, 'Your proposed upload exceeds the maximum allowed size', {
      ProposedSize: String(size),
      MaxSizeAllowed: String(max),
    }),
  tooSmall: (size: number, min: number) =>
    new S3Error('EntityTooSmall', 400, 'Your proposed upload is smaller than the minimum allowed size', {
      ProposedSize: String(size),
      MinSizeAllowed: String(min),
    }),
  malformed: () => new S3Error('MalformedPOSTRequest', 400, 'The body of your POST request is not well-formed multipart/form-data.'),
  /** S3's answer to a POST without a policy on a bucket that is not public-write, which ours never is. */
  noPolicy: () => s3Errors.accessDenied('Bucket POST must contain a field named policy unless the bucket is public-write'),
};

type Condition =
  | { kind: 'eq' | 'starts-with'; field: string; value: string; text: string }
  | { kind: 'content-length-range'; min: number; max: number };

/** The size bounds of a policy (its content-length-range), checked once the file is in. */
export type SizeRange = { min: number; max: number } | undefined;

/**
 * Checks a POST upload's form as S3 does, before any byte of the file is read: the policy's signature, its expiry,
 * every condition but the size, and that no form field went unnamed by one. Returns what to store and the size range
 * to cut the file off at. Throws the S3 error S3 answers with.
 */
export function verifyPostFields(
  fields: PostFields,
  bucket: string,
  filename: string,
  now: Date,
  credentials: LocalCredentials,
): { upload: PostUpload; range: SizeRange } {
  const policyText = fields.get('policy');
  if (policyText === undefined) throw postErrors.noPolicy();
  verifySignature(fields, policyText, credentials);
  const policy = parsePolicy(policyText);
  if (now.getTime() > policy.expiration.getTime()) throw policyFailed('Policy expired.');
  // biome-ignore lint/suspicious/noTemplateCurlyInString: S3's one variable in a POST key is this literal text.
  const key = (fields.get('key') ?? '').replaceAll('${filename}', filename);
  if (key === '') throw s3Errors.invalidArgument('Bucket POST must contain a field named key.', 'key', '');
  if (Buffer.byteLength(key) > 1024) throw s3Errors.keyTooLong();
  // Conditions see the key after ${filename} is replaced, and the bucket of the URL.
  const value = (field: string) => (field === 'key' ? key : field === 'bucket' ? bucket : fields.get(field));
  const named = new Set<string>(['bucket']);
  let range: SizeRange;
  for (const c of policy.conditions) {
    if (c.kind === 'content-length-range') {
      range = { min: c.min, max: c.max };
      continue;
    }
    named.add(c.field);
    const actual = value(c.field) ?? '';
    if (c.kind === 'eq' ? actual !== c.value : !actual.startsWith(c.value)) throw policyFailed(`Policy Condition failed: ${c.text}`);
  }
  const extra = [...fields.keys()].filter((f) => !UNCONDITIONED.has(f) && !f.startsWith('x-ignore-') && !named.has(f));
  if (extra.length > 0) throw policyFailed(`Extra input fields: ${extra.join(', ')}`);
  const status = fields.get('success_action_status');
  const userMetadata: Record<string, string> = {};
  for (const [f, v] of fields) if (f.startsWith('x-amz-meta-')) userMetadata[f.slice('x-amz-meta-'.length)] = v;
  const upload: PostUpload = {
    key,
    contentType: fields.get('content-type'),
    userMetadata,
    successStatus: status === '200' ? 200 : status === '201' ? 201 : 204,
  };
  return { upload, range };
}

/** The policy's size condition, on the file's length. */
export function checkPostSize(range: SizeRange, size: number): void {
  if (range === undefined) return;
  if (size > range.max) throw postErrors.tooLarge(size, range.max);
  if (size < range.min) throw postErrors.tooSmall(size, range.min);
}

function verifySignature(fields: PostFields, policyText: string, credentials: LocalCredentials): void {
  if (fields.get('x-amz-algorithm') !== 'AWS4-HMAC-SHA256') {
    throw s3Errors.invalidArgument('Only AWS4-HMAC-SHA256 is supported', 'x-amz-algorithm', fields.get('x-amz-algorithm') ?? '');
  }
  const credential = fields.get('x-amz-credential') ?? '';
  const signature = fields.get('x-amz-signature') ?? '';
  if (fields.get('x-amz-date') === undefined || credential === '' || signature === '') {
    throw s3Errors.accessDenied('Bucket POST must contain the fields x-amz-credential, x-amz-date and x-amz-signature');
  }
  const [accessKeyId, date, region, service, terminator] = credential.split('/');
  if (accessKeyId !== credentials.accessKeyId) throw s3Errors.invalidAccessKeyId();
  if (!date || !region || !service || terminator !== 'aws4_request') {
    throw s3Errors.invalidArgument('Error parsing the X-Amz-Credential field', 'x-amz-credential', credential);
  }
  let key: Buffer = hmac(`AWS4${credentials.secretAccessKey}`, date);
  for (const part of [region, service, 'aws4_request']) key = hmac(key, part);
  const expected = Buffer.from(hmac(key, policyText).toString('hex'));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw s3Errors.signatureDoesNotMatch();
}

function parsePolicy(policyText: string): { expiration: Date; conditions: Condition[] } {
  const invalid = (why: string) => s3Errors.invalidArgument(`Invalid Policy: ${why}`, 'policy', '');
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(policyText, 'base64').toString('utf8'));
  } catch {
    throw invalid('Invalid JSON.');
  }
  const { expiration, conditions } = (typeof raw === 'object' && raw !== null ? raw : {}) as { expiration?: unknown; conditions?: unknown };
  const expires = typeof expiration === 'string' ? new Date(expiration) : new Date(Number.NaN);
  if (Number.isNaN(expires.getTime())) throw invalid('Policy missing or invalid expiration.');
  if (!Array.isArray(conditions)) throw invalid('Policy missing conditions.');
  return { expiration: expires, conditions: conditions.flatMap((c) => readCondition(c, invalid)) };
}

function readCondition(c: unknown, invalid: (why: string) => S3Error): Condition[] {
  const text = JSON.stringify(c);
  if (Array.isArray(c)) {
    const [op, a, b] = c as unknown[];
    const name = typeof op === 'string' ? op.toLowerCase() : '';
    if (name === 'content-length-range' && typeof a === 'number' && typeof b === 'number') return [{ kind: name, min: a, max: b }];
    if ((name === 'eq' || name === 'starts-with') && typeof a === 'string' && a.startsWith('$') && typeof b === 'string') {
      return [{ kind: name, field: a.slice(1).toLowerCase(), value: b, text }];
    }
    throw invalid(`Invalid condition ${text}`);
  }
  if (typeof c === 'object' && c !== null) {
    return Object.entries(c).map(([field, value]) => {
      if (typeof value !== 'string') throw invalid(`Invalid condition ${text}`);
      return { kind: 'eq' as const, field: field.toLowerCase(), value, text };
    });
  }
  throw invalid(`Invalid condition ${text}`);
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}
