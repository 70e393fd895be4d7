import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { ConfigError } from '../core/errors';
import type { InferenceMode } from '../core/ports';

/**
 * Who checks API keys. `keys`: the function itself, against API_KEYS, with a token bucket per key (`npm start`).
 * `gateway`: API Gateway already did (private routes, usage plans); the function trusts its `apiKeyId` (AWS).
 */
export type AuthMode = 'keys' | 'gateway';

/** One client of `AUTH_MODE=keys`, from an API_KEYS entry `name:key[:rps[:burst]]`. */
export interface ApiKeyEntry {
  /** The principal: what logs, limits and (later) job ownership name. Never the key. */
  name: string;
  key: string;
  ratePerSecond: number;
  burst: number;
}

/** A client's steady rate when its API_KEYS entry names none. */
export const DEFAULT_CLIENT_RATE = 50;
/** Its burst when the entry names none: twice the rate, so a client may catch up after a pause of a second or two. */
export const defaultBurst = (ratePerSecond: number): number => Math.max(1, Math.ceil(2 * ratePerSecond));

export interface Config {
  serviceName: string;
  stage: string;
  modelsDir: string;
  defaultModel: string;
  models: string[];
  verifyModels: boolean;
  /** Under serverless-offline (IS_OFFLINE): one long-lived process serves every invocation, never frozen. */
  offline: boolean;
  inference: {
    mode: InferenceMode;
    /** ONNX Runtime intra-op threads per session: the vCPUs of a Lambda container, 1 per pool worker. */
    intraOpThreads: number;
    poolWorkers: number;
    /** Images one pool worker holds at once, so decoding the next overlaps inferring the current. */
    perWorkerInFlight: number;
    /** Images the in-thread scheduler runs at once: some decode on libuv threads while one infers. */
    inThreadSlots: number;
    maxBatch: number;
    /** While a lane's queue stands (see admission): shed interactive work whose predicted queue wait exceeds this. */
    maxQueueWaitMs: number;
    /** Hard bound on queued interactive images, whatever the prediction says. */
    maxQueuedImages: number;
  };
  /**
   * Origins a browser may call the API from: `*`, or exact origins (`https://app.example.com`). With API Gateway's
   * lambda-proxy integration the function itself must send the CORS headers of every actual response.
   */
  corsOrigins: string[];
  limits: {
    maxImageBytes: number;
    maxBodyBytes: number;
    maxPixels: number;
    maxBatchImages: number;
  };
  auth: {
    mode: AuthMode;
    keys: ApiKeyEntry[];
    /** Principals that may read operator routes (key names, or API Gateway key ids); `*`: every valid key. */
    operators: string[];
  };
  batch: {
    bucket: string;
    queueUrl: string;
    dlqUrl: string;
    uploadPrefix: string;
    resultsPrefix: string;
    presignExpiresSeconds: number;
    maxPresignedUrls: number;
    s3Endpoint: string | undefined;
    sqsEndpoint: string | undefined;
    region: string;
  };
  /** Local admission control (README "Overload"): CoDel's target and interval, see src/core/admission.ts. */
  admission: {
    /** Queueing delay (ms) that, held by every dispatched image for a whole interval, means a standing queue. */
    targetMs: number;
    intervalMs: number;
    /** How long multi-image requests' oldest image waits behind single photos before their lane takes its share. */
    batchGraceMs: number;
  };
  /**
   * How long a client waits, per route, when it sends no `X-Request-Timeout` or `grpc-timeout`; and the most it may
   * ask for (the function's timeout in serverless.yml: past it the invocation is killed anyway).
   */
  deadlines: {
    predictMs: number;
    batchMs: number;
    maxPredictMs: number;
    maxBatchMs: number;
  };
  /** Content-hash response cache for the sync API: entries kept (least recently used go first); 0 is off. */
  responseCache: {
    entries: number;
  };
  /** What ingest reads of one zip or manifest at most (README "Batch path"): a hostile upload costs at most this. */
  ingest: {
    /** Bytes of a zip object, checked before it is downloaded (ingest holds it in memory). */
    maxZipBytes: number;
    /** Entries in a zip's directory. */
    maxZipEntries: number;
    /** Sum of the sizes a zip's directory declares. */
    maxZipTotalBytes: number;
    /** Inflated to compressed size of one entry over `zipRatioMinBytes`, and of a whole zip: photos barely compress, bombs do. */
    maxZipRatio: number;
    zipRatioMinBytes: number;
    maxManifestBytes: number;
    maxManifestLines: number;
  };
}

function int(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${name}=${raw}: expected an integer from ${min} to ${max}`);
  return n;
}

function oneOf<T extends string>(env: NodeJS.ProcessEnv, name: string, allowed: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const hit = allowed.find((a) => a === raw);
  if (!hit) throw new ConfigError(`${name}=${raw}: expected one of ${allowed.join(', ')}`);
  return hit;
}

const KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** Printable, no separator of the list itself; at least 16 characters, as guessing must not be an option. */
const KEY_VALUE = /^[\x21-\x2b\x2d-\x39\x3b-\x7e]{16,256}$/;

/**
 * API_KEYS: comma-separated `name:key[:rps[:burst]]`. Errors name the entry by position and name, never by its key,
 * since the message lands in logs.
 */
export function parseApiKeys(raw: string | undefined): ApiKeyEntry[] {
  const entries = (raw ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const seen = new Map<string, string>();
  return entries.map((entry, i) => {
    const parts = entry.split(':');
    const [name = '', key = '', rps, burst] = parts;
    const at = `API_KEYS entry ${i + 1}`;
    if (parts.length < 2 || parts.length > 4) throw new ConfigError(`${at}: expected name:key[:rps[:burst]]`);
    if (!KEY_NAME.test(name))
      throw new ConfigError(`${at}: the name must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit`);
    const which = `${at} ("${name}")`;
    if (!KEY_VALUE.test(key)) throw new ConfigError(`${which}: the key must be 16 to 256 printable characters, without spaces, ':' or ','`);
    const ratePerSecond = rps === undefined || rps === '' ? DEFAULT_CLIENT_RATE : Number(rps);
    if (!Number.isFinite(ratePerSecond) || ratePerSecond <= 0 || ratePerSecond > 1_000_000) {
      throw new ConfigError(`${which}: rate "${rps}" must be a positive number of requests per second, at most 1000000`);
    }
    const bucket = burst === undefined || burst === '' ? defaultBurst(ratePerSecond) : Number(burst);
    if (!Number.isInteger(bucket) || bucket < 1 || bucket > 1_000_000)
      throw new ConfigError(`${which}: burst "${burst}" must be an integer from 1 to 1000000`);
    for (const [seenName, seenKey] of seen) {
      if (seenName === name) throw new ConfigError(`${which}: the name is used twice`);
      if (seenKey === key) throw new ConfigError(`${which}: the same key as "${seenName}"`);
    }
    seen.set(name, key);
    return { name, key, ratePerSecond, burst: bucket };
  });
}

/** The project's models folder: beside the deployed code (Lambda: /var/task), in a layer, or in the checkout. */
function findModelsDir(): string {
  const candidates = [
    path.join(process.cwd(), 'models'),
    path.resolve(__dirname, '..', '..', 'models'),
    path.resolve(__dirname, '..', '..', '..', 'models'),
    '/opt/models',
  ];
  return candidates.find((c) => existsSync(path.join(c, 'mobilenetv2-int8'))) ?? candidates[0] ?? 'models';
}

/** Parses the environment once into a frozen, validated config. */
export function parseConfig(env: NodeJS.ProcessEnv = process.env): Readonly<Config> {
  const cores = availableParallelism();
  const mode = oneOf(env, 'INFERENCE_MODE', ['inline', 'scheduled', 'pool'] as const, 'inline');
  // A burst of 16-image batches drains in well under half a second here; a queue that outlasts that stands.
  const targetMs = int(env, 'ADMISSION_TARGET_MS', 50, 1, 60_000);
  const cfg: Config = {
    serviceName: env.POWERTOOLS_SERVICE_NAME || 'image-classifier',
    stage: env.STAGE || 'local',
    modelsDir: env.MODELS_DIR ? path.resolve(env.MODELS_DIR) : findModelsDir(),
    defaultModel: env.DEFAULT_MODEL || 'mobilenetv2-int8',
    models: (env.MODELS || '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    verifyModels: env.VERIFY_MODELS !== 'false',
    offline: env.IS_OFFLINE === 'true',
    inference: {
      mode,
      intraOpThreads: int(env, 'INTRA_OP_THREADS', mode === 'pool' ? 1 : cores, 1, 64),
      poolWorkers: int(env, 'POOL_WORKERS', cores, 1, 64),
      perWorkerInFlight: int(env, 'POOL_PER_WORKER_IN_FLIGHT', 2, 1, 32),
      inThreadSlots: int(env, 'IN_THREAD_SLOTS', cores + 1, 1, 64),
      // A batched run costs more per image than single runs on this CPU (README: MAX_INFER_BATCH), so no batching by default.
      maxBatch: int(env, 'MAX_INFER_BATCH', 1, 1, 64),
      // Under heavy load a tighter budget served a lower p99 with fewer sheds (shed clients come back sooner), and
      // light load still sheds nothing (README, Design notes).
      maxQueueWaitMs: int(env, 'MAX_QUEUE_WAIT_MS', 400, 1, 60_000),
      maxQueuedImages: int(env, 'MAX_QUEUED_IMAGES', 256, 1, 100_000),
    },
    corsOrigins: (env.CORS_ORIGINS || '*')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    limits: {
      maxImageBytes: int(env, 'MAX_IMAGE_BYTES', 4 * 1024 * 1024, 1024, 100 * 1024 * 1024),
      // A Lambda event is at most 6 MB (6,291,456 bytes) and API Gateway sends binary bodies base64-encoded (4/3 as
      // large): 4.5 MB leaves ~290 KB for headers and the rest of the event, so a body under it always arrives.
      maxBodyBytes: int(env, 'MAX_BODY_BYTES', 4_500_000, 1024, 100 * 1024 * 1024),
      maxPixels: int(env, 'MAX_PIXELS', 40_000_000, 1, 1_000_000_000),
      maxBatchImages: int(env, 'MAX_BATCH_IMAGES', 16, 1, 256),
    },
    auth: {
      mode: oneOf(env, 'AUTH_MODE', ['keys', 'gateway'] as const, 'keys'),
      keys: parseApiKeys(env.API_KEYS),
      // None by default: an operator reads /metrics and every owner-less job. `npm start` names '*' (serverless.yml).
      operators: (env.OPERATOR_KEYS ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    },
    batch: {
      bucket: env.BUCKET_NAME || 'image-classifier-local',
      queueUrl: env.QUEUE_URL || 'http://127.0.0.1:9324/000000000000/infer-queue',
      dlqUrl: env.DLQ_URL || 'http://127.0.0.1:9324/000000000000/infer-dlq',
      uploadPrefix: 'uploads/',
      resultsPrefix: 'results/',
      presignExpiresSeconds: int(env, 'PRESIGN_EXPIRES_SECONDS', 900, 60, 7 * 24 * 3600),
      maxPresignedUrls: int(env, 'MAX_PRESIGNED_URLS', 1000, 1, 10_000),
      s3Endpoint: env.S3_ENDPOINT || undefined,
      sqsEndpoint: env.SQS_ENDPOINT || undefined,
      region: env.AWS_REGION || 'us-east-1',
    },
    admission: {
      targetMs,
      intervalMs: int(env, 'ADMISSION_INTERVAL_MS', 500, 10, 600_000),
      // A burst shorter than the target is not overload: within it single photos go first (0: the share at once).
      batchGraceMs: int(env, 'BATCH_GRACE_MS', targetMs, 0, 60_000),
    },
    deadlines: {
      predictMs: int(env, 'DEADLINE_PREDICT_MS', 3000, 1, 600_000),
      batchMs: int(env, 'DEADLINE_BATCH_MS', 10_000, 1, 600_000),
      maxPredictMs: int(env, 'DEADLINE_MAX_PREDICT_MS', 10_000, 1, 600_000),
      maxBatchMs: int(env, 'DEADLINE_MAX_BATCH_MS', 29_000, 1, 600_000),
    },
    responseCache: {
      entries: oneOf(env, 'RESPONSE_CACHE', ['on', 'off'] as const, 'on') === 'off' ? 0 : int(env, 'RESPONSE_CACHE_SIZE', 256, 0, 1_000_000),
    },
    ingest: {
      maxZipBytes: int(env, 'ZIP_MAX_BYTES', 256 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
      maxZipEntries: int(env, 'ZIP_MAX_ENTRIES', 10_000, 1, 1_000_000),
      maxZipTotalBytes: int(env, 'ZIP_MAX_TOTAL_BYTES', 2 * 1024 * 1024 * 1024, 1024, 64 * 1024 * 1024 * 1024),
      maxZipRatio: int(env, 'ZIP_MAX_RATIO', 100, 1, 100_000),
      zipRatioMinBytes: int(env, 'ZIP_RATIO_MIN_BYTES', 64 * 1024, 0, 1024 * 1024 * 1024),
      maxManifestBytes: int(env, 'MANIFEST_MAX_BYTES', 32 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
      maxManifestLines: int(env, 'MANIFEST_MAX_LINES', 100_000, 1, 10_000_000),
    },
  };
  // serverless-offline fills every request's apiKeyId with one placeholder: in gateway mode all clients would be one,
  // and own each other's jobs.
  if (cfg.offline && cfg.auth.mode === 'gateway') throw new ConfigError('AUTH_MODE=gateway cannot run under serverless-offline: use AUTH_MODE=keys');
  return Object.freeze(cfg);
}

let cached: Readonly<Config> | undefined;

/** The process's config, parsed on first use (cold start). */
export const config = (): Readonly<Config> => {
  cached ??= parseConfig();
  return cached;
};
