import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
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

type Op = 'get' | 'head' | 'put' | 'create' | 'list' | 'delete';

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

/** A queue that only remembers what was sent. */
export class FakeQueue implements WorkQueue {
  readonly sent: WorkItem[] = [];
  async send(items: readonly WorkItem[]): Promise<void> {
    this.sent.push(...items);
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
