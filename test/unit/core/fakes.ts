import { createHash } from 'node:crypto';
import type { ObjectStore, StoredObject, WorkQueue } from '../../../src/core/batch';
import type { WorkItem } from '../../../src/core/jobs';
import type { ModelCatalog } from '../../../src/core/ports';

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

  async head(key: string): Promise<{ etag: string; metadata: Record<string, string> } | undefined> {
    this.touch('head', key);
    const o = this.objects.get(key);
    return o ? { etag: o.etag, metadata: o.metadata } : undefined;
  }

  async put(key: string, body: Uint8Array | string, options?: { metadata?: Record<string, string> }): Promise<void> {
    this.touch('put', key);
    const bytes = typeof body === 'string' ? new Uint8Array(Buffer.from(body)) : body;
    this.objects.set(key, { body: bytes, etag: createHash('md5').update(bytes).digest('hex'), metadata: { ...options?.metadata } });
  }

  async create(key: string, body: Uint8Array | string, options?: { metadata?: Record<string, string> }): Promise<boolean> {
    this.touch('create', key);
    if (this.objects.has(key)) return false;
    await this.put(key, body, options);
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

  async presignPut(key: string): Promise<string> {
    return `https://fake/${key}?put`;
  }

  async presignGet(key: string): Promise<string> {
    return `https://fake/${key}?get`;
  }

  /** Keys under a prefix, in listing order. */
  keysUnder(prefix: string): string[] {
    return [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
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
