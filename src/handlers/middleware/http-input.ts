import busboy from 'busboy';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { BadRequestError, PayloadTooLargeError, UnsupportedMediaTypeError } from '../../core/errors';
import { headerOf } from './headers';

/** Image content types accepted as a raw body (API Gateway binaryMediaTypes must list them). */
export const IMAGE_TYPES = ['image/jpeg', 'image/png', 'image/webp', 'image/gif', 'image/tiff', 'image/avif'] as const;

export interface Limits {
  maxBodyBytes: number;
  maxImageBytes: number;
  maxBatchImages: number;
}

export interface ImageInput {
  images: Uint8Array[];
  /** Options sent in the body (multipart fields or JSON), merged over the query string. */
  fields: Record<string, string | number | undefined>;
}

/** The body as bytes, whatever API Gateway did with it. */
export function bodyBytes(event: APIGatewayProxyEvent, limits: Limits): Buffer {
  if (event.body === null || event.body === undefined || event.body === '') throw new BadRequestError('the request body is empty');
  const buf = event.isBase64Encoded ? Buffer.from(event.body, 'base64') : Buffer.from(event.body, 'utf8');
  if (buf.length > limits.maxBodyBytes) {
    throw new PayloadTooLargeError(`the body is ${buf.length} bytes, over the limit of ${limits.maxBodyBytes}`);
  }
  return buf;
}

function checkImageSize(bytes: Uint8Array, limits: Limits, name = 'the image'): void {
  if (bytes.length > limits.maxImageBytes) {
    throw new PayloadTooLargeError(`${name} is ${bytes.length} bytes, over the limit of ${limits.maxImageBytes}`);
  }
}

function parseMultipart(body: Buffer, contentType: string, limits: Limits, maxFiles: number): Promise<ImageInput> {
  return new Promise((resolve, reject) => {
    const images: Uint8Array[] = [];
    const fields: Record<string, string> = {};
    let failure: Error | undefined;
    let bb: busboy.Busboy;
    try {
      bb = busboy({
        headers: { 'content-type': contentType },
        limits: { files: maxFiles, fileSize: limits.maxImageBytes, fields: 20, fieldSize: 1024 },
      });
    } catch (err: unknown) {
      reject(new BadRequestError('malformed multipart/form-data content type (boundary missing?)', { cause: err }));
      return;
    }
    bb.on('file', (_name, stream, info) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('limit', () => {
        failure ??= new PayloadTooLargeError(`file "${info.filename}" is over the limit of ${limits.maxImageBytes} bytes`);
      });
      stream.on('close', () => images.push(Buffer.concat(chunks)));
      // busboy also fails the part's own stream (a body cut off mid-file); an unheard 'error' would end the process.
      stream.on('error', (err: unknown) => reject(new BadRequestError('malformed multipart/form-data body', { cause: err })));
    });
    bb.on('field', (name, value) => {
      fields[name] = value;
    });
    bb.on('filesLimit', () => {
      failure ??= new PayloadTooLargeError(`at most ${maxFiles} images per request`);
    });
    bb.on('error', (err: unknown) => reject(new BadRequestError('malformed multipart/form-data body', { cause: err })));
    bb.on('close', () => (failure ? reject(failure) : resolve({ images, fields })));
    bb.end(body);
  });
}

function parseJson(body: Buffer, batch: boolean): ImageInput {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (err: unknown) {
    throw new BadRequestError('the body is not valid JSON', { cause: err });
  }
  if (typeof parsed !== 'object' || parsed === null) throw new BadRequestError('the JSON body must be an object');
  const obj = parsed as Record<string, unknown>;
  const encoded: unknown[] = batch && Array.isArray(obj.images) ? obj.images : [obj.image];
  const images = encoded.map((v, i) => {
    if (typeof v !== 'string' || v === '') throw new BadRequestError(batch ? `images[${i}] must be a base64 string` : '"image" must be a base64 string');
    const b64 = v.replace(/^data:[^;]+;base64,/, '');
    if (!/^[A-Za-z0-9+/\s]*={0,2}\s*$/.test(b64)) throw new BadRequestError('the image is not valid base64');
    const bytes = Buffer.from(b64, 'base64');
    if (bytes.length === 0) throw new BadRequestError('the image is empty');
    return bytes;
  });
  const fields: Record<string, string | number | undefined> = {};
  if (typeof obj.model === 'string') fields.model = obj.model;
  if (typeof obj.topK === 'number' || typeof obj.topK === 'string') fields.topK = obj.topK;
  return { images, fields };
}

/**
 * Reads the image(s) of a request in any of the three encodings clients use: a raw image body,
 * multipart/form-data (field `file`, or any file parts for a batch) or JSON `{ "image": "<base64>" }`.
 */
export async function readImages(event: APIGatewayProxyEvent, limits: Limits, batch: boolean): Promise<ImageInput> {
  const contentType = (headerOf(event, 'content-type') ?? '').trim();
  const mediaType = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  const maxFiles = batch ? limits.maxBatchImages : 1;
  let input: ImageInput;
  if (mediaType === 'multipart/form-data') {
    input = await parseMultipart(bodyBytes(event, limits), contentType, limits, maxFiles);
  } else if (mediaType === 'application/json') {
    input = parseJson(bodyBytes(event, limits), batch);
  } else if (!batch && ((IMAGE_TYPES as readonly string[]).includes(mediaType) || mediaType === 'application/octet-stream')) {
    if (!event.isBase64Encoded) {
      // A binary body that reached us as text has already been corrupted by a UTF-8 decode.
      throw new BadRequestError(`a raw ${mediaType} body arrived text-decoded; the gateway must list it in binaryMediaTypes`);
    }
    input = { images: [bodyBytes(event, limits)], fields: {} };
  } else {
    throw new UnsupportedMediaTypeError(
      `unsupported content type "${mediaType || '(none)'}"; send ${batch ? '' : `${IMAGE_TYPES.join(', ')}, `}multipart/form-data or application/json`,
    );
  }
  if (input.images.length === 0) throw new BadRequestError(batch ? 'no image files in the request' : 'no image in the request');
  if (input.images.length > maxFiles) throw new PayloadTooLargeError(`at most ${maxFiles} images per request`);
  input.images.forEach((img, i) => {
    checkImageSize(img, limits, batch ? `image ${i}` : 'the image');
  });
  return input;
}
