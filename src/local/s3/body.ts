import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { algorithmLabel, CHECKSUM_ALGORITHMS, type ChecksumAlgorithm, createDigest, type Digest, parseChecksumAlgorithm } from './checksums';
import { AwsChunkedDecoder } from './chunked';
import { S3Error, s3Errors } from './errors';
import { unlinkIfExists } from './fs-atomic';

/** A request body safely on disk, with the digests S3 reports. */
export interface ReceivedBody {
  tmp: string;
  size: number;
  md5: Buffer;
  /** The flexible checksum: the one the client sent or named (verified), else `fallback` computed here. */
  checksum?: { algorithm: ChecksumAlgorithm; value: string; fromClient: boolean };
}

/** Header lookup over the request headers plus `x-amz-*` query parameters (presigned URLs hoist them there). */
export type HeaderLookup = (name: string) => string | undefined;

/**
 * Streams a request body to `tmp`, undoing aws-chunked framing, and verifies every integrity claim the
 * request makes (Content-MD5, x-amz-content-sha256, x-amz-checksum-* in a header, query or trailer,
 * x-amz-decoded-content-length). On failure the temp file is removed and the S3 error thrown.
 */
export async function receiveBody(req: IncomingMessage, header: HeaderLookup, tmp: string, fallback?: ChecksumAlgorithm): Promise<ReceivedBody> {
  const contentSha = header('x-amz-content-sha256');
  const chunked =
    (header('content-encoding') ?? '').split(',').some((e) => e.trim() === 'aws-chunked') || (contentSha ?? '').startsWith('STREAMING-');
  const trailerNames = (header('x-amz-trailer') ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== '');

  const claimed = claimedChecksum(header, trailerNames);
  const algorithm = claimed?.algorithm ?? fallback;
  const md5 = createHash('md5');
  const sha256 = contentSha !== undefined && /^[0-9a-f]{64}$/.test(contentSha) ? createHash('sha256') : undefined;
  const digest: Digest | undefined = algorithm === undefined ? undefined : createDigest(algorithm);
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      size += chunk.length;
      md5.update(chunk);
      sha256?.update(chunk);
      digest?.update(chunk);
      callback(null, chunk);
    },
  });
  const decoder = chunked ? new AwsChunkedDecoder() : undefined;

  try {
    try {
      await pipeline([req, ...(decoder ? [decoder] : []), tap, createWriteStream(tmp)]);
    } catch (err: unknown) {
      if (err instanceof S3Error) throw err;
      // The client went away or sent fewer bytes than it announced.
      throw s3Errors.incompleteBody();
    }
    const decodedLength = header('x-amz-decoded-content-length');
    if (chunked && decodedLength !== undefined && Number(decodedLength) !== size) throw s3Errors.incompleteBody();

    const md5Bytes = md5.digest();
    const contentMd5 = header('content-md5');
    if (contentMd5 !== undefined) {
      const given = Buffer.from(contentMd5, 'base64');
      if (given.length !== 16) throw s3Errors.invalidDigest();
      if (!given.equals(md5Bytes)) throw s3Errors.badDigest('Content-MD5');
    }
    if (sha256 !== undefined && sha256.digest('hex') !== contentSha) throw s3Errors.sha256Mismatch();

    let checksum: ReceivedBody['checksum'];
    if (algorithm !== undefined && digest !== undefined) {
      const value = digest.digest();
      const expected = claimed?.value ?? (claimed?.trailer ? decoder?.trailers.get(claimed.trailer) : undefined);
      if (claimed?.trailer !== undefined && expected === undefined) {
        throw s3Errors.invalidRequest(`The ${algorithmLabel(algorithm)} checksum trailer was declared but not sent`);
      }
      if (expected !== undefined && expected !== value) throw s3Errors.badDigest(algorithmLabel(algorithm));
      checksum = { algorithm, value, fromClient: claimed !== undefined };
    }
    return { tmp, size, md5: md5Bytes, checksum };
  } catch (err: unknown) {
    await unlinkIfExists(tmp);
    throw err;
  }
}

/** The checksum a request claims: a value in `x-amz-checksum-<alg>`, or a promise of one in a trailer. */
function claimedChecksum(
  header: HeaderLookup,
  trailerNames: readonly string[],
): { algorithm: ChecksumAlgorithm; value?: string; trailer?: string } | undefined {
  const found: Array<{ algorithm: ChecksumAlgorithm; value?: string; trailer?: string }> = [];
  for (const algorithm of CHECKSUM_ALGORITHMS) {
    const name = `x-amz-checksum-${algorithm}`;
    const value = header(name);
    if (value !== undefined) found.push({ algorithm, value });
    else if (trailerNames.includes(name)) found.push({ algorithm, trailer: name });
  }
  if (found.length > 1) throw s3Errors.invalidRequest('Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.');
  const [claim] = found;
  if (claim !== undefined) return claim;
  // An algorithm named without a value: S3 computes it and reports it back.
  const named = header('x-amz-sdk-checksum-algorithm') ?? header('x-amz-checksum-algorithm');
  if (named === undefined) return undefined;
  const algorithm = parseChecksumAlgorithm(named);
  if (algorithm === undefined) throw s3Errors.invalidArgument('Value for x-amz-checksum-algorithm header is invalid.');
  return { algorithm };
}
