import type { APIGatewayProxyEvent } from 'aws-lambda';
import busboy from 'busboy';
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
export function bodyBytes(event: APIGatewayProxyEvent, limits: Pick<Limits, 'maxBodyBytes'>): Buffer {
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

/** Form fields a request may carry besides its image(s); any other field is refused, so a typo never goes unnoticed. */
export const FORM_FIELDS = ['model', 'topK'] as const;
/** The form field of /predict's one image. */
export const FILE_FIELD = 'file';
/** Longest form field value accepted (a model name, a topK): longer is refused, never truncated. */
export const MAX_FIELD_BYTES = 1024;
/** Deepest JSON nesting accepted; our bodies nest two levels. */
export const MAX_JSON_DEPTH = 32;
/**
 * The body is fed to busboy in slices of this size so that parsing stops at the first refused part: busboy given the
 * whole body at once went on through 10,000 ignored fields for 0.15–0.6 s on the one HTTP thread.
 */
const MULTIPART_SLICE = 16 * 1024;

// busboy gives no name for a part whose Content-Disposition has none, whatever its types say.
const quoted = (name: string | undefined) => (name === undefined ? 'a part with no name' : JSON.stringify(name.slice(0, 100)));

function parseMultipart(body: Buffer, contentType: string, limits: Limits, maxFiles: number, batch: boolean): Promise<ImageInput> {
  return new Promise((resolve, reject) => {
    const images: Uint8Array[] = [];
    const fields: Record<string, string> = {};
    let failure: Error | undefined;
    const fail = (err: Error) => {
      failure ??= err;
    };
    let bb: busboy.Busboy;
    try {
      bb = busboy({
        headers: { 'content-type': contentType },
        // busboy flags a value as truncated once it reaches fieldSize, so one byte more tells "too long" from "just fits".
        limits: { files: maxFiles, fileSize: limits.maxImageBytes, fields: FORM_FIELDS.length, fieldSize: MAX_FIELD_BYTES + 1 },
      });
    } catch (err: unknown) {
      reject(new BadRequestError('malformed multipart/form-data content type (boundary missing?)', { cause: err }));
      return;
    }
    bb.on('file', (name, stream, info) => {
      // busboy also fails the part's own stream (a body cut off mid-file); an unheard 'error' would end the process.
      stream.on('error', (err: unknown) => reject(new BadRequestError('malformed multipart/form-data body', { cause: err })));
      if (!batch && name !== FILE_FIELD) {
        fail(new BadRequestError(`the image goes in the form field "${FILE_FIELD}", not ${quoted(name)}`));
        stream.resume();
        return;
      }
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('limit', () => {
        fail(new PayloadTooLargeError(`file "${info.filename}" is over the limit of ${limits.maxImageBytes} bytes`));
      });
      stream.on('close', () => images.push(Buffer.concat(chunks)));
    });
    bb.on('field', (name, value, info) => {
      if (!(FORM_FIELDS as readonly string[]).includes(name)) {
        fail(new BadRequestError(`unknown form field ${quoted(name)}; the fields are ${FORM_FIELDS.join(', ')}`));
      } else if (name in fields) {
        fail(new BadRequestError(`form field "${name}" is sent more than once`));
      } else if (info.valueTruncated) {
        fail(new BadRequestError(`form field "${name}" is over the limit of ${MAX_FIELD_BYTES} bytes`));
      } else {
        fields[name] = value;
      }
    });
    bb.on('fieldsLimit', () => {
      fail(new BadRequestError(`at most ${FORM_FIELDS.length} form fields (${FORM_FIELDS.join(', ')}) per request`));
    });
    bb.on('filesLimit', () => {
      fail(new PayloadTooLargeError(`at most ${maxFiles} images per request`));
    });
    bb.on('error', (err: unknown) => reject(new BadRequestError('malformed multipart/form-data body', { cause: err })));
    bb.on('close', () => (failure ? reject(failure) : resolve({ images, fields })));
    for (let at = 0; at < body.length && failure === undefined && !bb.destroyed; at += MULTIPART_SLICE) {
      bb.write(body.subarray(at, at + MULTIPART_SLICE));
    }
    if (failure === undefined) {
      // A malformed body has destroyed busboy already; its 'error' rejects.
      if (!bb.destroyed) bb.end();
      // busboy 1.6 can wait forever for a file part begun after the closing boundary, with neither 'close' nor
      // 'error'. The whole body is in by now and parsing it runs on ticks, so a form not done by the next turn of
      // the event loop never will be: refused, not left hanging (a settled promise ignores this).
      setImmediate(() => setImmediate(() => reject(new BadRequestError('malformed multipart/form-data body (a part never ends)'))));
      return;
    }
    // Refused: the rest of the body is never parsed. destroy() fails busboy's streams, which now reject too late to matter.
    reject(failure);
    bb.destroy();
  });
}

/**
 * Refuses JSON nested deeper than `max` before JSON.parse sees it, in one pass that skips over strings (escapes
 * included): JSON.parse of 4 MB of `[` held the HTTP thread for about 0.3 s. Validates nothing else; JSON.parse does.
 */
export function checkJsonDepth(body: Uint8Array, max: number): void {
  let depth = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === 0x22) {
      // A string: jump to the closing quote, one not escaped by an odd run of backslashes.
      let end = body.indexOf(0x22, i + 1);
      while (end !== -1) {
        let slashes = 0;
        while (body[end - 1 - slashes] === 0x5c) slashes++;
        if (slashes % 2 === 0) break;
        end = body.indexOf(0x22, end + 1);
      }
      if (end === -1) return;
      i = end;
    } else if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > max) throw new BadRequestError(`the JSON body is nested deeper than ${max} levels`);
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
}

/** A JSON object, refused (400) when nested too deep, not JSON, or JSON of another kind (`null`, an array, a number). */
function parseJsonObject(body: Buffer, example: string): Record<string, unknown> {
  checkJsonDepth(body, MAX_JSON_DEPTH);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (err: unknown) {
    throw new BadRequestError(`the body is not valid JSON; send an object like ${example}`, { cause: err });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new BadRequestError(`the JSON body must be an object like ${example}`);
  return parsed as Record<string, unknown>;
}

/**
 * The JSON object body of a route that takes options, not images (POST /jobs): at most `maxBytes`, an absent or
 * empty body being `{}`.
 */
export function readJsonObject(event: APIGatewayProxyEvent, maxBytes: number, example: string): Record<string, unknown> {
  if (event.body === null || event.body === undefined || event.body === '') return {};
  return parseJsonObject(bodyBytes(event, { maxBodyBytes: maxBytes }), example);
}

function parseJson(body: Buffer, batch: boolean): ImageInput {
  const obj = parseJsonObject(body, batch ? '{"images": ["<base64>", …]}' : '{"image": "<base64>"}');
  const encoded: unknown[] = batch && Array.isArray(obj.images) ? obj.images : [obj.image];
  const images = encoded.map((v, i) => {
    if (typeof v !== 'string' || v === '')
      throw new BadRequestError(batch ? `images[${i}] must be a base64 string` : '"image" must be a base64 string');
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
 * Media types are matched case-insensitively. Whatever a limit would cut off (a late field, a long value, a deep
 * JSON) is refused, never dropped.
 */
export async function readImages(event: APIGatewayProxyEvent, limits: Limits, batch: boolean): Promise<ImageInput> {
  const contentType = (headerOf(event, 'content-type') ?? '').trim();
  const mediaType = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  const maxFiles = batch ? limits.maxBatchImages : 1;
  let input: ImageInput;
  if (mediaType === 'multipart/form-data') {
    input = await parseMultipart(bodyBytes(event, limits), contentType, limits, maxFiles, batch);
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
