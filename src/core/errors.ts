/**
 * The service's one error vocabulary: every failure the service means to report is one of these, its own faults
 * included. `publicError` is what a client may see of one; the HTTP error middleware sends it as
 * `{ error, code, message, requestId }`, and POST /predict/batch as each failed image's error.
 */
export interface AppErrorOptions {
  cause?: unknown;
  /** Seconds a client should wait before retrying (sent as `Retry-After`). */
  retryAfterSeconds?: number;
  details?: Record<string, unknown>;
}

export class AppError extends Error {
  /** Stable machine-readable code, e.g. `INVALID_IMAGE`. */
  readonly code: string;
  readonly statusCode: number;
  /** Whether `message` may be shown to the client; server faults (5xx) are hidden unless planned. */
  readonly expose: boolean;
  readonly retryAfterSeconds: number | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, statusCode: number, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.statusCode = statusCode;
    this.expose = statusCode < 500 || options.retryAfterSeconds !== undefined;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.details = options.details;
  }
}

/** 400: the request itself is malformed (bad JSON, base64, multipart, parameters). */
export class BadRequestError extends AppError {
  constructor(message: string, options?: AppErrorOptions) {
    super('BAD_REQUEST', 400, message, options);
  }
}

/** 400: the bytes are not an image we can decode. */
export class InvalidImageError extends AppError {
  constructor(message: string, options?: AppErrorOptions) {
    super('INVALID_IMAGE', 400, message, options);
  }
}

/** 401: no API key, or one this service does not know. */
export class UnauthorizedError extends AppError {
  constructor(message: string) {
    super('UNAUTHORIZED', 401, message);
  }
}

/** 403: a known client asking for what its key does not allow (an operator route). */
export class ForbiddenError extends AppError {
  constructor(message: string) {
    super('FORBIDDEN', 403, message);
  }
}

/** 404: unknown model, job or route. */
export class NotFoundError extends AppError {
  constructor(code: 'MODEL_NOT_FOUND' | 'JOB_NOT_FOUND' | 'NOT_FOUND', message: string) {
    super(code, 404, message);
  }
}

/** 404: an image a batch job counts (uploaded, or listed by a manifest) is not in the bucket. */
export class ObjectNotFoundError extends AppError {
  constructor(message: string) {
    super('OBJECT_NOT_FOUND', 404, message);
  }
}

/** 413: the payload or an image is over the size limit. */
export class PayloadTooLargeError extends AppError {
  constructor(message: string, options?: AppErrorOptions) {
    super('PAYLOAD_TOO_LARGE', 413, message, options);
  }
}

/** 415: the content type is not one we accept. */
export class UnsupportedMediaTypeError extends AppError {
  constructor(message: string) {
    super('UNSUPPORTED_MEDIA_TYPE', 415, message);
  }
}

/** 422: the image decodes but cannot be used (zero size, too many pixels). */
export class UnusableImageError extends AppError {
  constructor(message: string, options?: AppErrorOptions) {
    super('UNUSABLE_IMAGE', 422, message, options);
  }
}

/** 422: an uploaded zip is not an archive we can read (truncated, corrupt, encrypted, zip64, oversized entry). */
export class InvalidArchiveError extends AppError {
  constructor(message: string, options?: AppErrorOptions) {
    super('INVALID_ARCHIVE', 422, message, options);
  }
}

/**
 * 422: one entry of a readable zip cannot be extracted (an unsafe or over-long name, a compression ratio or method we
 * refuse, bytes that belie its header); the other entries are extracted all the same.
 */
export class InvalidArchiveEntryError extends AppError {
  constructor(message: string, options?: AppErrorOptions) {
    super('INVALID_ARCHIVE_ENTRY', 422, message, options);
  }
}

/** 422: an uploaded manifest cannot be parsed into a list of keys. */
export class InvalidManifestError extends AppError {
  constructor(message: string, options?: AppErrorOptions) {
    super('INVALID_MANIFEST', 422, message, options);
  }
}

/** 422: one line of a readable manifest names no usable key (not JSON, no key, over 1,024 bytes, a `.`/`..` segment). */
export class InvalidManifestLineError extends AppError {
  constructor(message: string, options?: AppErrorOptions) {
    super('INVALID_MANIFEST_LINE', 422, message, options);
  }
}

/** 403: a manifest names a key outside its own job's prefix, which is never read. */
export class KeyOutsideJobError extends AppError {
  constructor(message: string) {
    super('KEY_OUTSIDE_JOB', 403, message);
  }
}

/**
 * 409: the job exists but its record (`jobs/<id>/job.json`) is not one this service wrote, e.g. overwritten by
 * hand. Retrying cannot help until it is repaired or the job re-created, so it is no 5xx.
 */
export class JobUnreadableError extends AppError {
  constructor(jobId: string, reason: string) {
    super('JOB_UNREADABLE', 409, `the record of job "${jobId}" is unreadable (${reason})`);
  }
}

/** 429: this client is over its rate. */
export class RateLimitedError extends AppError {
  constructor(message: string, retryAfterSeconds: number) {
    super('RATE_LIMITED', 429, message, { retryAfterSeconds });
  }
}

/** 503: the service is at capacity and sheds this request instead of queueing it without bound. */
export class OverloadedError extends AppError {
  constructor(message: string, retryAfterSeconds: number) {
    super('OVERLOADED', 503, message, { retryAfterSeconds });
  }
}

/** 503: not ready yet (model still loading) or a model failed to load. */
export class NotReadyError extends AppError {
  constructor(message: string, options?: AppErrorOptions) {
    super('NOT_READY', 503, message, { retryAfterSeconds: 1, ...options });
  }
}

/**
 * 504: the request's deadline passed before its work ran, and it was dropped unclassified. That is what overload
 * control does, not a fault: shown to the client, with a Retry-After as every answer of an overloaded service carries.
 */
export class TimeoutError extends AppError {
  constructor(message: string, options?: AppErrorOptions) {
    super('TIMEOUT', 504, message, { retryAfterSeconds: 1, ...options });
  }
}

/** 500: a fault of the service itself (a bug, an inference worker that died); its message is for the logs only. */
export class InternalError extends AppError {
  constructor(message: string, options?: AppErrorOptions) {
    super('INTERNAL', 500, message, options);
  }
}

/** 500: the environment's settings are invalid. Its message is for the operator; a client only learns of a fault. */
export class ConfigError extends AppError {
  constructor(message: string, options?: AppErrorOptions) {
    super('CONFIG_INVALID', 500, message, options);
  }
}

/**
 * 500: a model cannot be served: its folder, manifest (`model.json`) or files are missing, invalid or do not match.
 * Thrown at start-up; its message (paths, checksums) is for the operator only.
 */
export class ModelLoadError extends AppError {
  constructor(message: string, options?: AppErrorOptions) {
    super('MODEL_LOAD_FAILED', 500, message, options);
  }
}

/** Narrow an unknown throwable to our vocabulary. */
export const isAppError = (err: unknown): err is AppError => err instanceof AppError;

/** Plain form of an error, to cross a worker-thread or queue boundary and come back typed. */
export interface ErrorRecord {
  code: string;
  statusCode: number;
  message: string;
  retryAfterSeconds?: number;
  details?: Record<string, unknown>;
}

export const toErrorRecord = (err: unknown): ErrorRecord =>
  isAppError(err)
    ? {
        code: err.code,
        statusCode: err.statusCode,
        message: err.message,
        ...(err.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: err.retryAfterSeconds }),
        ...(err.details === undefined ? {} : { details: err.details }),
      }
    : { code: 'INTERNAL', statusCode: 500, message: err instanceof Error ? err.message : String(err) };

type AppErrorClass = abstract new (...args: never[]) => AppError;

/** The class each code is thrown as, so that a record comes back as what it was. */
const CLASS_OF_CODE: ReadonlyMap<string, AppErrorClass> = new Map<string, AppErrorClass>([
  ['BAD_REQUEST', BadRequestError],
  ['INVALID_IMAGE', InvalidImageError],
  ['UNAUTHORIZED', UnauthorizedError],
  ['FORBIDDEN', ForbiddenError],
  ['MODEL_NOT_FOUND', NotFoundError],
  ['JOB_NOT_FOUND', NotFoundError],
  ['NOT_FOUND', NotFoundError],
  ['OBJECT_NOT_FOUND', ObjectNotFoundError],
  ['PAYLOAD_TOO_LARGE', PayloadTooLargeError],
  ['UNSUPPORTED_MEDIA_TYPE', UnsupportedMediaTypeError],
  ['UNUSABLE_IMAGE', UnusableImageError],
  ['INVALID_ARCHIVE', InvalidArchiveError],
  ['INVALID_ARCHIVE_ENTRY', InvalidArchiveEntryError],
  ['INVALID_MANIFEST', InvalidManifestError],
  ['INVALID_MANIFEST_LINE', InvalidManifestLineError],
  ['KEY_OUTSIDE_JOB', KeyOutsideJobError],
  ['JOB_UNREADABLE', JobUnreadableError],
  ['RATE_LIMITED', RateLimitedError],
  ['OVERLOADED', OverloadedError],
  ['NOT_READY', NotReadyError],
  ['TIMEOUT', TimeoutError],
  ['INTERNAL', InternalError],
  ['CONFIG_INVALID', ConfigError],
  ['MODEL_LOAD_FAILED', ModelLoadError],
]);

/** The error a record was made from: its class, code, status, message, Retry-After and details. Unknown codes are a hidden 500. */
export function fromErrorRecord(rec: ErrorRecord): AppError {
  const options: AppErrorOptions = {
    ...(rec.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: rec.retryAfterSeconds }),
    ...(rec.details === undefined ? {} : { details: rec.details }),
  };
  const known = CLASS_OF_CODE.get(rec.code);
  if (!known) return new InternalError(`${rec.code} (${rec.statusCode}): ${rec.message}`);
  // AppError's constructor with the class as new.target: an instance of the class with the message as recorded,
  // where the class's own constructor would compose another (JobUnreadableError) or take other arguments.
  return Reflect.construct(AppError, [rec.code, rec.statusCode, rec.message, options], known) as AppError;
}

/** What a client may see of an error, as the HTTP error body and the per-image errors of a batch answer it. */
export interface PublicError {
  /** The class without its `Error` suffix, e.g. `InvalidImage`. */
  error: string;
  code: string;
  status: number;
  message: string;
}

/**
 * An error as a client sees it: all of it where `expose` allows; otherwise (a fault of ours, or anything outside
 * this vocabulary) only that there was an internal error. Its text, code and class stay in the logs.
 */
export const publicError = (err: unknown): PublicError =>
  isAppError(err) && err.expose
    ? { error: err.name.replace(/Error$/, ''), code: err.code, status: err.statusCode, message: err.message }
    : { error: 'Internal', code: 'INTERNAL', status: isAppError(err) ? err.statusCode : 500, message: 'internal error' };
