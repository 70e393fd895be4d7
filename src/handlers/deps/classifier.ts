import { createHash, randomUUID } from 'node:crypto';
import type { FsModelCatalog } from '../../adapters/fs-model-catalog';
import { OnnxEngine } from '../../adapters/onnx-engine';
import { WorkerExecutor } from '../../adapters/pool/worker-executor';
import { type FrontDoor, NEED_PREFIX, registerFrontDoor } from '../../adapters/scheduling/front-door';
import { InThreadExecutor } from '../../adapters/scheduling/in-thread-executor';
import { type InteractiveLane, ScheduledEngine } from '../../adapters/scheduling/scheduled-engine';
import { type Config, config } from '../../config';
import type { ClassifyDeps } from '../../core/classify';
import { type AppError, BadRequestError, PayloadTooLargeError } from '../../core/errors';
import type { Classification } from '../../core/model';
import type { InferenceEngine } from '../../core/ports';
import { ResponseCache } from '../../core/response-cache';
import { corsHeaders } from '../middleware/cors';
import { errorResponse } from '../middleware/http';
import { checkJsonDepth, MAX_JSON_DEPTH } from '../middleware/http-input';
import { prom, watchEventLoop } from '../middleware/observability';
import { modelCatalog } from './catalog';

/** What a function that classifies needs: the verified catalog and an engine with its sessions warming. */
export interface Classifier extends ClassifyDeps {
  catalog: FsModelCatalog;
}

let classifier: Classifier | undefined;

function build(): Classifier {
  const cfg = config();
  const catalog = modelCatalog();
  if (cfg.verifyModels) catalog.verifyFiles();
  const engine = buildEngine(cfg, catalog);
  // Start loading at cold start so the first request finds warm sessions; failures surface via ready().
  engine.ready().catch(() => undefined);
  for (const name of catalog.names()) {
    prom.modelLoadSeconds.track({ model: name }, () => (catalog.info().find((m) => m.name === name)?.loadMs ?? 0) / 1000);
  }
  prom.engineQueued.track({}, () => engine.stats().queued);
  prom.engineInFlight.track({}, () => engine.stats().inFlight);
  if (engine instanceof ScheduledEngine) {
    prom.expired.track({}, () => engine.stats().expired ?? 0);
    for (const lane of ['single', 'batch'] as const) {
      for (const reason of ['standing-queue', 'deadline', 'queue-full'] as const)
        prom.admissionShed.track({ lane, reason }, () => engine.shedCounts().get(`${lane}/${reason}`) ?? 0);
    }
    prom.servicePerImage.track({}, () => (engine.stats().perImageMs ?? 0) / 1000);
    for (const lane of ['single', 'batch'] as const)
      prom.standingQueue.track({ lane }, () => ((engine.stats().standing ?? []).includes(lane) ? 1 : 0));
    // Where one process serves every invocation, shed before serverless-offline reads and converts the body.
    if (cfg.offline) registerFrontDoor(frontDoor(engine, cfg));
  }
  // Where one process serves every invocation, its event loop can hold requests back; a Lambda container is
  // frozen between invocations, and would report the freeze as delay.
  if (cfg.offline) watchEventLoop();
  const cache = responseCache(cfg);
  return { catalog, engine, ...(cache ? { cache } : {}) };
}

const isJson = (contentType: string | undefined): boolean => contentType?.split(';')[0]?.trim().toLowerCase() === 'application/json';

/** The boundary of a multipart/form-data content type, if it is one. */
function multipartBoundary(contentType: string | undefined): string | undefined {
  const [type, ...params] = (contentType ?? '').split(';');
  if (type?.trim().toLowerCase() !== 'multipart/form-data') return undefined;
  const m = /^\s*boundary=(?:"([^"]{1,70})"|([^\s;"]{1,70}))\s*$/i.exec(params.find((p) => /^\s*boundary=/i.test(p)) ?? '');
  return m ? (m[1] ?? m[2]) : undefined;
}

/** A refusal for what the body's first chunk already shows, else undefined. */
function judgePrefix(headers: Readonly<Record<string, string | undefined>>, declared: number, prefix: Uint8Array): BadRequestError | undefined {
  if (isJson(headers['content-type'])) {
    try {
      checkJsonDepth(prefix, MAX_JSON_DEPTH);
    } catch (err: unknown) {
      if (err instanceof BadRequestError) return err;
      throw err;
    }
    return undefined;
  }
  const boundary = multipartBoundary(headers['content-type']);
  // Only a body the chunk holds whole: the closing delimiter of a longer one may come later.
  if (boundary === undefined || !(prefix.length >= declared)) return undefined;
  return Buffer.from(prefix).includes(`--${boundary}--`)
    ? undefined
    : new BadRequestError('malformed multipart/form-data body (no closing boundary)');
}

const FRONT_DOOR_ROUTES: Readonly<Record<string, InteractiveLane>> = { '/predict': 'single', '/predict/batch': 'batch' };

/**
 * The answer the HTTP server gives a POST /predict or /predict/batch before reading its body, while that route's lane
 * has a standing queue and the request would wait past the budget: the same 503, headers and JSON as the handler's.
 */
function frontDoor(engine: ScheduledEngine, cfg: Readonly<Config>) {
  return (method: string, path: string, headers: Readonly<Record<string, string | undefined>>, prefix?: Uint8Array): ReturnType<FrontDoor> => {
    const lane = method === 'POST' ? FRONT_DOOR_ROUTES[path] : undefined;
    if (!lane) return undefined;
    const route = `POST ${path}`;
    const declared = Number(headers['content-length']);
    let refusal: AppError | undefined;
    if (declared > cfg.limits.maxBodyBytes) {
      // Refused on its Content-Length, as the handler would refuse it once read: a stream of bodies over the limit
      // then costs the HTTP thread no read-and-convert each (18 ms per 4 MB here), only the drain.
      refusal = new PayloadTooLargeError(`the body is ${declared} bytes, over the limit of ${cfg.limits.maxBodyBytes}`);
      prom.requests.inc({ route, status: '413' });
    } else if (prefix !== undefined) {
      // What shows in the first chunk: JSON nested past the limit, or a whole multipart body without its closing
      // boundary (defect 1). The handler would refuse either only after the body was read and converted on the HTTP
      // thread, and the function invoked (defects 1 and 3 of issue 11, in a loop).
      refusal = judgePrefix(headers, declared, prefix);
      if (!refusal) return undefined;
      prom.requests.inc({ route, status: '400' });
    } else {
      // A request without a key is the access gate's to answer (401): a 503 would hide what the client must fix.
      if (!headers['x-api-key']) return undefined;
      refusal = engine.shedEarly(lane);
      if (!refusal) return isJson(headers['content-type']) || multipartBoundary(headers['content-type']) ? NEED_PREFIX : undefined;
      prom.requests.inc({ route, status: '503' });
      prom.shed.inc({ route });
      prom.shedEarly.inc({ route });
    }
    const requestId = randomUUID();
    const res = errorResponse(refusal, requestId);
    return {
      statusCode: res.statusCode,
      headers: { ...(res.headers as Record<string, string>), ...corsHeaders(headers.origin, cfg.corsOrigins), 'X-Request-Id': requestId },
      body: res.body,
    };
  };
}

/** `X-Cache: hit|miss` where a response cache answers; nothing where there is none. */
export const cacheHeader = (c: Pick<Classifier, 'cache'>, hit: boolean): Record<string, string> =>
  c.cache ? { 'X-Cache': hit ? 'hit' : 'miss' } : {};

/** The sync API's response cache, or none when RESPONSE_CACHE=off or its size is 0. */
function responseCache(cfg: Readonly<Config>): Classifier['cache'] {
  if (cfg.responseCache.entries <= 0) return undefined;
  const store = new ResponseCache<Classification>(cfg.responseCache.entries);
  prom.cacheHits.track({}, () => store.hits);
  prom.cacheMisses.track({}, () => store.misses);
  prom.cacheEntries.track({}, () => store.size);
  return { store, digest: (bytes) => createHash('sha256').update(bytes).digest('hex') };
}

/** The engine for the configured mode; see InferenceMode. */
export function buildEngine(cfg: Readonly<Config>, catalog: FsModelCatalog): InferenceEngine {
  const inf = cfg.inference;
  const onnx = () => new OnnxEngine(catalog, { intraOpThreads: inf.intraOpThreads, maxPixels: cfg.limits.maxPixels, maxBatch: inf.maxBatch });
  if (inf.mode === 'inline') return onnx();
  const executor =
    inf.mode === 'pool'
      ? new WorkerExecutor(catalog, {
          modelsDir: cfg.modelsDir,
          defaultModel: cfg.defaultModel,
          models: catalog.names(),
          intraOpThreads: inf.intraOpThreads,
          maxPixels: cfg.limits.maxPixels,
          maxBatch: inf.maxBatch,
          workers: inf.poolWorkers,
          perWorkerInFlight: inf.perWorkerInFlight,
        })
      : new InThreadExecutor(onnx(), inf.inThreadSlots);
  return new ScheduledEngine(executor, {
    maxQueueWaitMs: inf.maxQueueWaitMs,
    maxQueuedImages: inf.maxQueuedImages,
    targetMs: cfg.admission.targetMs,
    intervalMs: cfg.admission.intervalMs,
    batchGraceMs: cfg.admission.batchGraceMs,
    // ~12 ms of decode + inference per image per core until measured.
    initialServiceMs: 12 / inf.poolWorkers,
  });
}

/** The container's classifier, created on first use (locally: once for the whole process). */
export const getClassifier = (): Classifier => {
  classifier ??= build();
  return classifier;
};
