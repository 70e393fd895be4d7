import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { OverloadedError } from '../../../src/core/errors';
import type { ObjectStore, PresignedPost, StoredObject, UploadPolicy, WorkQueue } from '../../../src/core/jobs/ports';
import type { WorkItem } from '../../../src/core/jobs/records';
import { validateManifest } from '../../../src/core/manifest';
import type { ModelManifest } from '../../../src/core/model';
import type { EngineStats, InferenceEngine, ModelCatalog, ScoresOrError } from '../../../src/core/ports';
import type { Principal } from '../../../src/core/principal';

/** A client's principal: reads its own jobs only. */
export const clientOf = (id: string): Principal => ({ id, operator: false });
/** An operator's principal: also reads the jobs bucket drops created, which have no owner. */
export const operator: Principal = { id: 'ops', operator: true };

export type Op = 'get' | 'head' | 'put' | 'create' | 'list' | 'delete';

/** An in-memory bucket with S3's semantics where the batch path relies on them (byte-order listing, conditional create). */
export class FakeStore implements ObjectStore {
  readonly bucket = 'test-bucket';
  readonly objects = new Map<string, StoredObject>();
  /** Calls made, for asserting how much a use case reads. */
  readonly calls: Array<{ op: Op; key: string }> = [];
  /** Makes an operation fail as S3 would when unreachable (a transient error). */
  failing: ((op: Op, key: string) => boolean) | undefined;

  private touch(op: Op, key: string): void {
    this.calls.push({ op, key });
    if (this.failing?.(op, key)) throw Object.assign(new Error(`S3 ${op} ${key}: connect ETIMEDOUT`), { name: 'TimeoutError' });
  }

  async get(key: string): Promise<StoredObject | undefined> {
    this.touch('get', key);
    return this.objects.get(key);
  }

  async head(key: string): Promise<{ etag: string; size: number; metadata: Record<string, string> } | undefined> {
    this.touch('head', key);
    const o = this.objects.get(key);
    return o ? { etag: o.etag, size: o.body.length, metadata: o.metadata } : undefined;
  }

  async put(key: string, body: Uint8Array | string, options?: { metadata?: Record<string, string> }): Promise<void> {
    this.touch('put', key);
    this.write(key, body, options);
  }

  private write(key: string, body: Uint8Array | string, options?: { metadata?: Record<string, string> }): void {
    const bytes = typeof body === 'string' ? new Uint8Array(Buffer.from(body)) : body;
    this.objects.set(key, { body: bytes, etag: createHash('md5').update(bytes).digest('hex'), metadata: { ...options?.metadata } });
  }

  async create(key: string, body: Uint8Array | string, options?: { metadata?: Record<string, string> }): Promise<boolean> {
    this.touch('create', key);
    if (this.objects.has(key)) return false;
    this.write(key, body, options);
    return true;
  }

  async list(prefix: string): Promise<Array<{ key: string; size: number; etag: string }>> {
    this.touch('list', prefix);
    return [...this.objects.entries()]
      .filter(([k]) => k.startsWith(prefix))
      .sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
      .map(([key, o]) => ({ key, size: o.body.length, etag: o.etag }));
  }

  async delete(key: string): Promise<void> {
    this.touch('delete', key);
    this.objects.delete(key);
  }

  /** The policy of every form signed, by key. */
  readonly posts = new Map<string, UploadPolicy>();

  async presignPost(key: string, policy: UploadPolicy): Promise<PresignedPost> {
    this.posts.set(key, policy);
    return { url: `https://fake/${this.bucket}`, fields: { key } };
  }

  async presignGet(key: string): Promise<string> {
    return `https://fake/${key}?get`;
  }

  /** Writes an object as a client's upload would: no fault injected, no call recorded. */
  upload(key: string, body: Uint8Array): void {
    this.write(key, body);
  }

  /** Keys under a prefix, in listing order. */
  keysUnder(prefix: string): string[] {
    return [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
  }
}

/** A bucket whose every call takes `latencyMs`, as a round trip to S3 would; it counts the calls pending at once. */
export class SlowStore extends FakeStore {
  inFlight = 0;
  maxInFlight = 0;

  constructor(private readonly latencyMs: number) {
    super();
  }

  private async slow<T>(call: () => Promise<T>): Promise<T> {
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await new Promise((r) => setTimeout(r, this.latencyMs));
      return await call();
    } finally {
      this.inFlight -= 1;
    }
  }

  override get(key: string) {
    return this.slow(() => super.get(key));
  }
  override head(key: string) {
    return this.slow(() => super.head(key));
  }
  override put(key: string, body: Uint8Array | string, options?: { metadata?: Record<string, string> }) {
    return this.slow(() => super.put(key, body, options));
  }
  override create(key: string, body: Uint8Array | string, options?: { metadata?: Record<string, string> }) {
    return this.slow(() => super.create(key, body, options));
  }
  override list(prefix: string) {
    return this.slow(() => super.list(prefix));
  }
  override delete(key: string) {
    return this.slow(() => super.delete(key));
  }
}

/**
 * A bucket that can crash a use case between two of its writes: armed with {@link crashAt}, the `writes`-th
 * write (put, create or delete) from now throws, after it landed or before, as a Lambda killed mid-step or an S3
 * call whose answer was lost would leave it. The crash is one-shot.
 */
export class CrashingStore extends FakeStore {
  private crash: { writesLeft: number; landed: boolean } | undefined;

  crashAt(writes: number, landed: boolean): void {
    this.crash = { writesLeft: writes, landed };
  }

  disarm(): void {
    this.crash = undefined;
    this.failing = undefined;
  }

  private async writing<T>(write: () => Promise<T>): Promise<T> {
    const crash = this.crash;
    if (crash && --crash.writesLeft <= 0) {
      this.crash = undefined;
      if (crash.landed) await write();
      throw new Error(`crashed ${crash.landed ? 'after' : 'before'} a write`);
    }
    return write();
  }

  override put(key: string, body: Uint8Array | string, options?: { metadata?: Record<string, string> }) {
    return this.writing(() => super.put(key, body, options));
  }
  override create(key: string, body: Uint8Array | string, options?: { metadata?: Record<string, string> }) {
    return this.writing(() => super.create(key, body, options));
  }
  override delete(key: string) {
    return this.writing(() => super.delete(key));
  }
}

/** A queue that only remembers what was sent. */
export class FakeQueue implements WorkQueue {
  readonly sent: WorkItem[] = [];
  async send(items: readonly WorkItem[]): Promise<void> {
    this.sent.push(...items);
  }
}

/** A message of {@link RedeliveringQueue}: its body and how often SQS has delivered it. */
export interface Delivery {
  body: string;
  receiveCount: number;
}

/**
 * A queue with SQS's at-least-once delivery: a message received and not acknowledged comes back ({@link putBack}),
 * and any message may be delivered again ({@link duplicate}).
 */
export class RedeliveringQueue implements WorkQueue {
  private readonly waiting: Delivery[] = [];
  /** Every message ever sent, in order. */
  readonly sent: string[] = [];

  async send(items: readonly WorkItem[]): Promise<void> {
    for (const item of items) {
      const body = JSON.stringify(item);
      this.sent.push(body);
      this.waiting.push({ body, receiveCount: 0 });
    }
  }

  get size(): number {
    return this.waiting.length;
  }

  /** Up to `n` waiting messages, from the `from`-th on (wrapping), each received once more. */
  receive(n: number, from = 0): Delivery[] {
    if (this.waiting.length === 0) return [];
    const start = from % this.waiting.length;
    const taken = this.waiting.splice(start, n);
    return taken.map((d) => ({ ...d, receiveCount: d.receiveCount + 1 }));
  }

  /** A message received and not acknowledged, visible again after its visibility timeout. */
  putBack(d: Delivery): void {
    this.waiting.push(d);
  }

  /** A message delivered once more: SQS standard queues deliver at least once. */
  duplicate(body: string, receiveCount: number): void {
    this.waiting.push({ body, receiveCount });
  }
}

/** A catalog of one model, without files. */
export const fakeCatalog: ModelCatalog = {
  defaultModel: 'test-model',
  names: () => ['test-model'],
  manifest: () => undefined,
  labels: () => undefined,
  info: () => [],
};

/** The committed manifest of the default model, for use cases that resolve a model. */
export const realManifest = (): ModelManifest => {
  const file = path.join(__dirname, '..', '..', '..', 'models', 'mobilenetv2-int8', 'model.json');
  return validateManifest(JSON.parse(readFileSync(file, 'utf8')), file);
};

/** A catalog of the default model's manifest, without its weights. */
export function modelCatalogOf(manifest: ModelManifest): ModelCatalog {
  return {
    defaultModel: manifest.name,
    names: () => [manifest.name],
    manifest: (name) => (name === manifest.name ? manifest : undefined),
    labels: () => Array.from({ length: manifest.output.classes }, (_, i) => `class-${i}`),
    info: () => [],
  };
}

/** An engine that scores every image with class 1 on top, and remembers what it was given. */
export class FakeEngine implements InferenceEngine {
  readonly seen: Uint8Array[] = [];
  constructor(private readonly classes: number) {}
  async infer(_model: string, images: readonly Uint8Array[]): Promise<ScoresOrError[]> {
    this.seen.push(...images);
    return images.map(() => {
      const scores = new Float32Array(this.classes);
      scores[1] = 10;
      return { ok: true, value: { scores, decodeMs: 1, inferMs: 1, queueMs: 0, image: { width: 1, height: 1, format: 'jpeg' } } };
    });
  }
  precheck(): void {}
  async ready(): Promise<void> {}
  stats(): EngineStats {
    return { kind: 'inline', workers: 1, inFlight: 0, queued: 0, shed: 0 };
  }
  async close(): Promise<void> {}
}

/**
 * An engine that fails images whose first byte is 0 (a permanent INVALID_IMAGE), and can be made to fail its next
 * call as a whole (OVERLOADED) or the first image of it (a transient 503): both are to be retried.
 */
export class FlakyEngine extends FakeEngine {
  failNext: 'call' | 'image' | undefined;

  override async infer(model: string, images: readonly Uint8Array[]): Promise<ScoresOrError[]> {
    const fail = this.failNext;
    this.failNext = undefined;
    if (fail === 'call') throw new OverloadedError('the pool is full', 1);
    const scored = await super.infer(model, images);
    return scored.map((s, i): ScoresOrError => {
      if (fail === 'image' && i === 0) return { ok: false, error: { code: 'OVERLOADED', statusCode: 503, message: 'shed' } };
      if (images[i]?.[0] === 0) return { ok: false, error: { code: 'INVALID_IMAGE', statusCode: 400, message: 'not an image' } };
      return s;
    });
  }
}
