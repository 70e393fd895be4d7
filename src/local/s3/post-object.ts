import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';
import { createDigest } from './checksums';
import { S3Error, s3Errors } from './errors';
import { unlinkIfExists } from './fs-atomic';
import { checkPostSize, type PostFields, type PostUpload, postErrors, verifyPostFields } from './post-policy';
import type { LocalCredentials } from './sigv4';

/** A POST Object form its policy allowed: the fields before the file, what to store, and the file safely on disk. */
export interface PostForm {
  fields: PostFields;
  upload: PostUpload;
  /** `crc64nvme`: the checksum S3 keeps for every new object, base64 as in `x-amz-checksum-crc64nvme`. */
  file: { tmp: string; size: number; md5: Buffer; crc64nvme: string };
}

// S3 caps the form fields (the policy included) at 20 KB in all.
const MAX_FIELDS_BYTES = 20 * 1024;

/**
 * Reads a multipart/form-data POST Object request. As in S3, only the fields before the `file` part count, and the
 * file is cut off as soon as it passes the policy's content-length-range, so an over-size upload costs no more than the
 * maximum in disk and time. Throws the S3 error S3 answers with; the temp file is gone on any failure.
 */
export function receivePostForm(req: IncomingMessage, tmp: string, bucket: string, credentials: LocalCredentials): Promise<PostForm> {
  return new Promise((resolve, reject) => {
    const fields = new Map<string, string>();
    let fieldBytes = 0;
    let settled = false;
    let sawFile = false;
    const fail = (err: S3Error) => {
      if (settled) return;
      settled = true;
      req.unpipe();
      req.resume();
      void unlinkIfExists(tmp).then(() => reject(err));
    };
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: req.headers, limits: { files: 1, fields: 100, fieldSize: MAX_FIELDS_BYTES } });
    } catch {
      reject(s3Errors.invalidArgument('POST requires exactly one file upload per request.', 'file', '0'));
      return;
    }
    bb.on('field', (name, value, info) => {
      if (sawFile) return;
      fieldBytes += name.length + value.length;
      if (info.valueTruncated || fieldBytes > MAX_FIELDS_BYTES) {
        fail(s3Errors.invalidArgument('Your POST request fields preceding the upload file were too large.', 'form', ''));
        return;
      }
      const lower = name.toLowerCase();
      if (!fields.has(lower)) fields.set(lower, value);
    });
    bb.on('file', (name, stream, info) => {
      if (name.toLowerCase() !== 'file' || sawFile) {
        stream.resume();
        return;
      }
      sawFile = true;
      let checked: ReturnType<typeof verifyPostFields>;
      try {
        checked = verifyPostFields(fields, bucket, info.filename ?? '', new Date(), credentials);
      } catch (err: unknown) {
        stream.resume();
        fail(err instanceof S3Error ? err : s3Errors.internal());
        return;
      }
      const md5 = createHash('md5');
      const crc = createDigest('crc64nvme');
      let size = 0;
      const cap = new Transform({
        transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
          size += chunk.length;
          if (checked.range && size > checked.range.max) {
            callback(postErrors.tooLarge(size, checked.range.max));
            return;
          }
          md5.update(chunk);
          crc.update(chunk);
          callback(null, chunk);
        },
      });
      pipeline(stream, cap, createWriteStream(tmp)).then(
        () => {
          try {
            checkPostSize(checked.range, size);
          } catch (err: unknown) {
            fail(err instanceof S3Error ? err : s3Errors.internal());
            return;
          }
          if (settled) return;
          settled = true;
          resolve({ fields, upload: checked.upload, file: { tmp, size, md5: md5.digest(), crc64nvme: crc.digest() } });
        },
        (err: unknown) => {
          stream.resume();
          fail(err instanceof S3Error ? err : s3Errors.incompleteBody());
        },
      );
    });
    bb.on('error', () => fail(postErrors.malformed()));
    bb.on('close', () => {
      if (!sawFile) fail(s3Errors.invalidArgument('POST requires exactly one file upload per request.', 'file', '0'));
    });
    req.pipe(bb);
  });
}
