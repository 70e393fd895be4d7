import { Transform, type TransformCallback } from 'node:stream';
import { S3Error } from './errors';

const MAX_LINE = 8 * 1024;
const CRLF = Buffer.from('\r\n');

type State = 'size' | 'data' | 'data-crlf' | 'trailer' | 'done';

/**
 * Strips `Content-Encoding: aws-chunked` framing (`<hex>[;chunk-signature=…]\r\n<data>\r\n … 0\r\n<trailers>\r\n`)
 * so the stored bytes are the object, and collects the trailing headers (`x-amz-checksum-crc32: …`).
 * Chunk signatures are not verified: the whole request's signature is, when credentials are configured.
 */
export class AwsChunkedDecoder extends Transform {
  /** Trailing headers, lower-cased names; complete once the stream has ended. */
  readonly trailers = new Map<string, string>();
  private state: State = 'size';
  private pending: Buffer = Buffer.alloc(0);
  private remaining = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
      this.drain();
      callback();
    } catch (err: unknown) {
      callback(err instanceof Error ? err : new Error(String(err)));
    }
  }

  override _flush(callback: TransformCallback): void {
    if (this.state !== 'done') callback(malformed('the aws-chunked body ended before its final chunk'));
    else callback();
  }

  private drain(): void {
    while (this.pending.length > 0) {
      switch (this.state) {
        case 'size': {
          const line = this.takeLine();
          if (line === undefined) return;
          const sizeText = line.split(';', 1)[0]?.trim() ?? '';
          if (!/^[0-9a-fA-F]+$/.test(sizeText)) throw malformed(`bad aws-chunked chunk header "${line.slice(0, 80)}"`);
          this.remaining = Number.parseInt(sizeText, 16);
          this.state = this.remaining === 0 ? 'trailer' : 'data';
          break;
        }
        case 'data': {
          const take = Math.min(this.remaining, this.pending.length);
          this.push(this.pending.subarray(0, take));
          this.pending = this.pending.subarray(take);
          this.remaining -= take;
          if (this.remaining === 0) this.state = 'data-crlf';
          break;
        }
        case 'data-crlf': {
          if (this.pending.length < 2) return;
          if (!this.pending.subarray(0, 2).equals(CRLF)) throw malformed('aws-chunked chunk not followed by CRLF');
          this.pending = this.pending.subarray(2);
          this.state = 'size';
          break;
        }
        case 'trailer': {
          const line = this.takeLine();
          if (line === undefined) return;
          if (line === '') {
            this.state = 'done';
            break;
          }
          const colon = line.indexOf(':');
          if (colon <= 0) throw malformed(`bad aws-chunked trailer "${line.slice(0, 80)}"`);
          this.trailers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
          break;
        }
        case 'done':
          // Some clients end with an extra CRLF; anything else is a framing error.
          if (this.pending.toString('latin1').trim() !== '') throw malformed('data after the final aws-chunked chunk');
          this.pending = Buffer.alloc(0);
          return;
      }
    }
  }

  private takeLine(): string | undefined {
    const end = this.pending.indexOf(CRLF);
    if (end === -1) {
      if (this.pending.length > MAX_LINE) throw malformed('aws-chunked line too long');
      return undefined;
    }
    const line = this.pending.subarray(0, end).toString('latin1');
    this.pending = this.pending.subarray(end + 2);
    return line;
  }
}

function malformed(message: string): S3Error {
  return new S3Error('IncompleteBody', 400, message);
}
