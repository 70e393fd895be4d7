import type { ErrorRecord } from './errors';
import type { ModelInfo, ModelManifest } from './model';

/** How urgently an inference is wanted: interactive requests are served first and shed under overload. */
export type Priority = 'interactive' | 'background';

/**
 * When the client stops waiting, in ms on the engine's clock (performance.now()). Work still queued then is dropped
 * (TimeoutError), never computed for nobody.
 */
export type Deadline = number;

/** Raw model output for one image, before softmax and top-k. */
export interface Scores {
  scores: Float32Array;
  decodeMs: number;
  inferMs: number;
  queueMs: number;
  image: { width: number; height: number; format: string };
}

export type ScoresOrError = { ok: true; value: Scores } | { ok: false; error: ErrorRecord };

/**
 * Turns image bytes into model scores. Implementations: unscheduled in the calling thread (`inline`: one request
 * per Lambda container), and a scheduler with admission control over the calling thread or a worker pool
 * (`scheduled`, `pool`: many concurrent invocations in one local process).
 */
export interface InferenceEngine {
  /**
   * Scores each image; a bad image fails only its own slot. Throws (OverloadedError, TimeoutError, NotReadyError)
   * when the whole call is refused or its deadline passes before its images run.
   */
  infer(model: string, images: readonly Uint8Array[], priority: Priority, deadline?: Deadline): Promise<ScoresOrError[]>;
  /**
   * Throws the OverloadedError or TimeoutError that infer() would at once, without queueing or classifying anything
   * (the refusal is counted): lets a handler refuse a request before it decodes the body.
   */
  precheck(images: number, priority: Priority, deadline?: Deadline): void;
  /** Resolves once every model is loaded and warmed up. */
  ready(): Promise<void>;
  stats(): EngineStats;
  close(): Promise<void>;
}

/**
 * Where inference runs (INFERENCE_MODE). `inline`: in the calling thread, unscheduled (AWS: one request per container).
 * `scheduled`: in the calling thread behind the admission-controlled scheduler.
 * `pool`: the same scheduler over worker threads, one ONNX session set per core (local default).
 */
export type InferenceMode = 'inline' | 'scheduled' | 'pool';

export interface EngineStats {
  kind: InferenceMode;
  workers: number;
  inFlight: number;
  queued: number;
  shed: number;
  /** Requests dropped because their deadline passed before their images ran. */
  expired?: number;
  /** The measured pool time per image (ms), where a scheduler measures it. */
  perImageMs?: number;
  /** Lanes with a standing queue right now (see core/admission.ts). */
  standing?: string[];
}

/** The registered models: manifests, labels and load facts. */
export interface ModelCatalog {
  readonly defaultModel: string;
  names(): string[];
  manifest(name: string): ModelManifest | undefined;
  labels(name: string): readonly string[] | undefined;
  info(): ModelInfo[];
}
