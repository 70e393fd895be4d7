import { type AppError, BadRequestError, fromErrorRecord, InternalError, NotFoundError } from './errors';
import type { Classification } from './model';
import type { Deadline, InferenceEngine, ModelCatalog, Priority } from './ports';
import { type ResponseCache, responseCacheKey } from './response-cache';
import { softmax, topK } from './tensor';

export const DEFAULT_TOP_K = 5;
export const MAX_TOP_K = 20;

export interface ClassifyDeps {
  engine: InferenceEngine;
  catalog: ModelCatalog;
  /** Answers for bytes seen before (interactive requests only); `digest` is SHA-256, hex. */
  cache?: { store: ResponseCache<Classification>; digest(bytes: Uint8Array): string } | undefined;
}

export interface ClassifyOptions {
  model?: string | undefined;
  /** A number, or the raw string from a query or form field; validated by parseTopK. */
  topK?: number | string | undefined;
  priority?: Priority;
  /** When the client stops waiting; work still queued then is dropped with a TimeoutError. */
  deadline?: Deadline | undefined;
}

/** `cached`: answered from the response cache, with the timings of the run that computed it and no queueing. */
export type Outcome = { ok: true; value: Classification; cached: boolean } | { ok: false; error: AppError };

/** Validates a client-supplied top-k (string from a query or number from JSON). */
export function parseTopK(raw: unknown): number {
  if (raw === undefined || raw === null || raw === '') return DEFAULT_TOP_K;
  const n = typeof raw === 'number' ? raw : Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > MAX_TOP_K) {
    throw new BadRequestError(`topK must be an integer from 1 to ${MAX_TOP_K}`);
  }
  return n;
}

/** Resolves a model name, defaulting to the catalog's default; unknown names are a 404. */
export function resolveModel(catalog: ModelCatalog, name: string | undefined): string {
  const chosen = name === undefined || name === '' ? catalog.defaultModel : name;
  if (!catalog.manifest(chosen)) {
    throw new NotFoundError('MODEL_NOT_FOUND', `unknown model "${chosen}"; known: ${catalog.names().join(', ')}`);
  }
  return chosen;
}

/**
 * Classifies images with one model: the use case behind `POST /predict`, `POST /predict/batch` and the
 * batch worker. One bad image yields an error outcome in its slot and never fails the others.
 */
export async function classifyImages(deps: ClassifyDeps, images: readonly Uint8Array[], options: ClassifyOptions = {}): Promise<Outcome[]> {
  const model = resolveModel(deps.catalog, options.model);
  const k = parseTopK(options.topK);
  const manifest = deps.catalog.manifest(model);
  const labels = deps.catalog.labels(model) ?? [];
  if (!manifest) throw new NotFoundError('MODEL_NOT_FOUND', `unknown model "${model}"`);
  const priority = options.priority ?? 'interactive';
  const cache = priority === 'interactive' ? deps.cache : undefined;
  const keys = cache ? images.map((b) => responseCacheKey(cache.digest(b), manifest.name, manifest.version, k)) : [];
  const hits = keys.map((key) => cache?.store.get(key));
  // Only the misses cost anything, so only they are admitted, queued and inferred.
  const misses = images.filter((_, i) => hits[i] === undefined);
  const results = misses.length > 0 ? await deps.engine.infer(model, misses, priority, options.deadline) : [];
  let next = 0;
  return images.map((_, i): Outcome => {
    const hit = hits[i];
    if (hit) return { ok: true, value: { ...hit, timings: { ...hit.timings, queueMs: 0 } }, cached: true };
    const r = results[next++];
    if (!r) return { ok: false, error: new InternalError('engine returned no result') };
    if (!r.ok) return { ok: false, error: fromErrorRecord(r.error) };
    const { scores, decodeMs, inferMs, queueMs, image } = r.value;
    const probs = manifest.output.kind === 'logits' ? softmax(scores) : scores;
    const value: Classification = {
      model: { name: manifest.name, version: manifest.version },
      predictions: topK(probs, k, labels),
      timings: { decodeMs, inferMs, queueMs },
      image,
    };
    const key = keys[i];
    if (cache && key !== undefined) cache.store.set(key, value);
    return { ok: true, value, cached: false };
  });
}

/** Single-image form: throws the image's error instead of returning it. */
export async function classifyImage(
  deps: ClassifyDeps,
  image: Uint8Array,
  options: ClassifyOptions = {},
): Promise<Classification & { cached: boolean }> {
  const [outcome] = await classifyImages(deps, [image], options);
  if (!outcome) throw new InternalError('engine returned no result');
  if (!outcome.ok) throw outcome.error;
  return { ...outcome.value, cached: outcome.cached };
}
