import * as errors from '../../../src/core/errors';
import {
  AppError,
  BadRequestError,
  ConfigError,
  ForbiddenError,
  fromErrorRecord,
  InternalError,
  InvalidArchiveEntryError,
  InvalidArchiveError,
  InvalidImageError,
  InvalidManifestError,
  InvalidManifestLineError,
  JobUnreadableError,
  KeyOutsideJobError,
  ModelLoadError,
  NotFoundError,
  NotReadyError,
  ObjectNotFoundError,
  OverloadedError,
  PayloadTooLargeError,
  publicError,
  RateLimitedError,
  TimeoutError,
  toErrorRecord,
  UnauthorizedError,
  UnsupportedMediaTypeError,
  UnusableImageError,
} from '../../../src/core/errors';

/** One of every error the service throws, with every code NotFoundError takes. */
const SAMPLES: AppError[] = [
  new BadRequestError('names[3] is empty', { details: { index: 3 } }),
  new InvalidImageError('the body is not a decodable image'),
  new UnauthorizedError('the API key is not valid'),
  new ForbiddenError('this route needs an operator key'),
  new NotFoundError('MODEL_NOT_FOUND', 'unknown model "x"'),
  new NotFoundError('JOB_NOT_FOUND', 'no job "x"'),
  new NotFoundError('NOT_FOUND', 'no such page'),
  new ObjectNotFoundError('uploads/j/a.jpg no longer exists'),
  new PayloadTooLargeError('at most 16 images per request'),
  new UnsupportedMediaTypeError('unsupported content type "text/plain"'),
  new UnusableImageError('the image has 48000000 pixels', { details: { width: 8000, height: 6000, maxPixels: 40_000_000 } }),
  new InvalidArchiveError('the zip is encrypted'),
  new InvalidArchiveEntryError("the entry's CRC-32 does not match its bytes"),
  new InvalidManifestError('the manifest is over 3 lines'),
  new InvalidManifestLineError('line 2 lists no key: empty'),
  new KeyOutsideJobError('"../other/a.jpg" lies outside this job\'s uploads'),
  new JobUnreadableError('job-1', 'not JSON'),
  new RateLimitedError("over this key's rate", 2),
  new OverloadedError('at capacity: 64 images queued', 1),
  new NotReadyError('no inference worker is running'),
  new TimeoutError("the request's deadline passed after 3 ms in the queue"),
  new InternalError('inference worker exited with code 1'),
  new ConfigError('MAX_PIXELS=0: expected an integer from 1 to 1000000000'),
  new ModelLoadError('models/x/model.json: files.model.sha256 must be 64 hex digits'),
];

/** Everything a client or a log could tell apart. */
const observed = (e: AppError) => ({
  class: e.constructor,
  name: e.name,
  code: e.code,
  statusCode: e.statusCode,
  expose: e.expose,
  message: e.message,
  retryAfterSeconds: e.retryAfterSeconds,
  details: e.details,
});

describe('the error vocabulary across a boundary (toErrorRecord / fromErrorRecord)', () => {
  it('the samples cover every AppError subclass errors.ts exports', () => {
    const exported = Object.values(errors).filter((v): v is typeof AppError => typeof v === 'function' && v.prototype instanceof AppError);
    expect(new Set(SAMPLES.map((e) => e.constructor))).toEqual(new Set(exported));
  });

  it.each(SAMPLES.map((e) => [`${e.name} ${e.code}`, e] as const))(
    '%s comes back as the same class, code, status, expose, Retry-After and details',
    (_, sent) => {
      // Act: as a worker thread's postMessage carries it.
      const back = fromErrorRecord(structuredClone(toErrorRecord(sent)));
      // Assess
      expect(back).toBeInstanceOf(sent.constructor);
      expect(observed(back)).toEqual(observed(sent));
    },
  );

  it('anything outside the vocabulary comes back as a hidden 500 INTERNAL, its text kept for the logs', () => {
    const fromThrow = fromErrorRecord(toErrorRecord(new TypeError('Cannot read properties of undefined')));
    const unknownCode = fromErrorRecord({ code: 'SOMETHING_NEW', statusCode: 418, message: 'teapot', retryAfterSeconds: 3 });
    for (const e of [fromThrow, unknownCode]) {
      expect(e).toBeInstanceOf(InternalError);
      expect({ code: e.code, statusCode: e.statusCode, expose: e.expose, retryAfterSeconds: e.retryAfterSeconds }).toEqual({
        code: 'INTERNAL',
        statusCode: 500,
        expose: false,
        retryAfterSeconds: undefined,
      });
    }
    expect(fromThrow.message).toBe('Cannot read properties of undefined');
    expect(unknownCode.message).toBe('SOMETHING_NEW (418): teapot');
  });
});

describe('publicError: what a client may see', () => {
  it('shows a client error whole, named by its class', () => {
    expect(publicError(fromErrorRecord(toErrorRecord(new InvalidImageError('the body is not a decodable image'))))).toEqual({
      error: 'InvalidImage',
      code: 'INVALID_IMAGE',
      status: 400,
      message: 'the body is not a decodable image',
    });
  });

  it('shows the planned 5xx answers of an overloaded service (they carry a Retry-After)', () => {
    expect(publicError(new TimeoutError('dropped after 3 ms in the queue'))).toEqual({
      error: 'Timeout',
      code: 'TIMEOUT',
      status: 504,
      message: 'dropped after 3 ms in the queue',
    });
    expect(publicError(new OverloadedError('at capacity', 2))).toEqual({
      error: 'Overloaded',
      code: 'OVERLOADED',
      status: 503,
      message: 'at capacity',
    });
    expect(publicError(new NotReadyError('models loading'))).toEqual({
      error: 'NotReady',
      code: 'NOT_READY',
      status: 503,
      message: 'models loading',
    });
  });

  it.each([
    ['a worker that died, across the boundary', fromErrorRecord(toErrorRecord(new InternalError('inference worker exited with code 1')))],
    ['a plain Error, across the boundary', fromErrorRecord(toErrorRecord(new Error('inference worker exited with code 1')))],
    ['a ConfigError', new ConfigError('API_KEYS entry 1 ("a"): the key must be 16 to 256 printable characters')],
    ['a ModelLoadError', new ModelLoadError('models/x/model.onnx has sha256 abc, manifest says def')],
    ['a thrown non-AppError', new TypeError('x is undefined')],
    ['a thrown string', 'boom'],
  ])('hides the text, code and class of %s: a 500 INTERNAL "internal error"', (_, err) => {
    expect(publicError(err)).toEqual({ error: 'Internal', code: 'INTERNAL', status: 500, message: 'internal error' });
  });
});
