import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { ChecksumAlgorithm } from './checksums';
import { s3Errors } from './errors';
import { commitFile, isNotFound, KeyedMutex, unlinkIfExists, writeFileAtomic } from './fs-atomic';

/** A stored checksum, as S3 reports it (`COMPOSITE` values end in `-<parts>`). */
export interface StoredChecksum {
  algorithm: ChecksumAlgorithm;
  value: string;
  type: 'FULL_OBJECT' | 'COMPOSITE';
}

/** What a PUT decides about an object besides its bytes. */
export interface ObjectAttributes {
  contentType: string;
  /** Stored representation headers (content-encoding, content-disposition, cache-control, ...). */
  headers: Record<string, string>;
  /** `x-amz-meta-*` values, keyed without the prefix. */
  userMetadata: Record<string, string>;
}

/** One object's metadata, persisted as JSON next to its body. */
export interface ObjectMeta extends ObjectAttributes {
  key: string;
  size: number;
  /** Quoted, as S3 returns it in headers and XML. */
  etag: string;
  lastModified: string;
  checksum?: StoredChecksum;
  bodyFile: string;
}

/** A multipart upload in progress. */
export interface UploadMeta extends ObjectAttributes {
  uploadId: string;
  bucket: string;
  key: string;
  initiated: string;
  checksumAlgorithm?: ChecksumAlgorithm;
}

/** One uploaded part. */
export interface PartMeta {
  partNumber: number;
  size: number;
  etag: string;
  checksum?: string;
  file: string;
  lastModified: string;
}

interface Bucket {
  name: string;
  creationDate: string;
  objects: Map<string, ObjectMeta>;
  sorted?: string[];
}

const BUCKET_NAME = /^(?!xn--)(?!.*-s3alias$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * The local S3's buckets, objects and multipart uploads on disk, with an in-memory index. Layout under `dataDir`:
 * `buckets/<name>/bucket.json`, `buckets/<name>/meta/<sha256(key)>.json`, `buckets/<name>/data/<uuid>`,
 * `uploads/<uploadId>/…`, `tmp/`. The metadata rename is the commit point: a crash before it leaves only
 * an orphan body, which the next start deletes.
 */
export class DiskBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private readonly locks = new KeyedMutex();
  readonly tmpDir: string;

  private constructor(
    private readonly dataDir: string,
    private readonly fsync: boolean,
  ) {
    this.tmpDir = path.join(dataDir, 'tmp');
  }

  /** Opens (creating if needed) the store and loads its index; `fsync` as in {@link S3ServerOptions}. */
  static async open(dataDir: string, options: { fsync?: boolean } = {}): Promise<DiskBuckets> {
    const store = new DiskBuckets(dataDir, options.fsync ?? false);
    await fs.rm(store.tmpDir, { recursive: true, force: true });
    await fs.mkdir(store.tmpDir, { recursive: true });
    await fs.mkdir(path.join(dataDir, 'buckets'), { recursive: true });
    await fs.mkdir(path.join(dataDir, 'uploads'), { recursive: true });
    await store.load();
    return store;
  }

  /** A fresh path in the store's temp dir, for streaming a request body into. */
  tmpFile(): string {
    return path.join(this.tmpDir, randomUUID());
  }

  listBuckets(): Array<{ name: string; creationDate: string }> {
    return [...this.buckets.values()].map(({ name, creationDate }) => ({ name, creationDate })).sort((a, b) => compareCodePoints(a.name, b.name));
  }

  hasBucket(name: string): boolean {
    return this.buckets.has(name);
  }

  /** Creates a bucket; true if it was new. */
  async createBucket(name: string): Promise<boolean> {
    if (!BUCKET_NAME.test(name) || name.includes('..')) throw s3Errors.invalidBucketName(name);
    return this.locks.run(`bucket:${name}`, async () => {
      if (this.buckets.has(name)) return false;
      const dir = this.bucketDir(name);
      await fs.mkdir(path.join(dir, 'meta'), { recursive: true });
      await fs.mkdir(path.join(dir, 'data'), { recursive: true });
      const creationDate = new Date().toISOString();
      await writeFileAtomic(path.join(dir, 'bucket.json'), JSON.stringify({ name, creationDate }), this.tmpDir, this.fsync);
      this.buckets.set(name, { name, creationDate, objects: new Map() });
      return true;
    });
  }

  async deleteBucket(name: string): Promise<void> {
    const bucket = this.bucket(name);
    if (bucket.objects.size > 0) throw s3Errors.bucketNotEmpty(name);
    await fs.rm(path.join(this.bucketDir(name), 'bucket.json'), { force: true });
    this.buckets.delete(name);
    await fs.rm(this.bucketDir(name), { recursive: true, force: true });
  }

  /** Throws NoSuchBucket unless the bucket exists. */
  assertBucket(name: string): void {
    this.bucket(name);
  }

  getObject(bucketName: string, key: string): ObjectMeta | undefined {
    return this.bucket(bucketName).objects.get(key);
  }

  /** Keys in S3's listing order (UTF-8 byte order, which is code point order). */
  sortedKeys(bucketName: string): readonly string[] {
    const bucket = this.bucket(bucketName);
    bucket.sorted ??= [...bucket.objects.keys()].sort(compareCodePoints);
    return bucket.sorted;
  }

  /**
   * Commits a fully received body (a file in {@link tmpDir}) as `key`. `precondition` runs under the
   * key's lock against the current version, so conditional writes (If-None-Match: *) cannot race.
   */
  async putObject(
    bucketName: string,
    meta: Omit<ObjectMeta, 'bodyFile' | 'lastModified'>,
    tmpBody: string,
    precondition?: (existing: ObjectMeta | undefined) => void,
  ): Promise<ObjectMeta> {
    const bucket = this.bucket(bucketName);
    const dir = this.bucketDir(bucketName);
    return this.locks.run(`object:${bucketName}/${meta.key}`, async () => {
      const existing = bucket.objects.get(meta.key);
      precondition?.(existing);
      const bodyFile = randomUUID();
      await commitFile(tmpBody, path.join(dir, 'data', bodyFile), false, this.fsync);
      const stored: ObjectMeta = { ...meta, bodyFile, lastModified: new Date().toISOString() };
      await writeFileAtomic(this.metaPath(bucketName, meta.key), JSON.stringify(stored), this.tmpDir, this.fsync);
      bucket.objects.set(meta.key, stored);
      if (existing === undefined && bucket.sorted) bucket.sorted.splice(lowerBound(bucket.sorted, meta.key), 0, meta.key);
      if (existing !== undefined) await unlinkIfExists(path.join(dir, 'data', existing.bodyFile));
      return stored;
    });
  }

  /** Deletes `key` if present (S3 answers 204 either way). */
  async deleteObject(bucketName: string, key: string): Promise<void> {
    const bucket = this.bucket(bucketName);
    await this.locks.run(`object:${bucketName}/${key}`, async () => {
      const existing = bucket.objects.get(key);
      if (existing === undefined) return;
      await unlinkIfExists(this.metaPath(bucketName, key));
      bucket.objects.delete(key);
      const at = bucket.sorted ? lowerBound(bucket.sorted, key) : -1;
      if (bucket.sorted?.[at] === key) bucket.sorted.splice(at, 1);
      await unlinkIfExists(path.join(this.bucketDir(bucketName), 'data', existing.bodyFile));
    });
  }

  /**
   * Opens the current version's body. An overwrite between the index lookup and the open deletes the
   * old file; the retry then finds the new version.
   */
  async openBody(bucketName: string, key: string): Promise<{ meta: ObjectMeta; handle: fs.FileHandle }> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const meta = this.getObject(bucketName, key);
      if (meta === undefined) throw s3Errors.noSuchKey(key);
      try {
        const handle = await fs.open(path.join(this.bucketDir(bucketName), 'data', meta.bodyFile), 'r');
        return { meta, handle };
      } catch (err: unknown) {
        if (!isNotFound(err)) throw err;
      }
    }
    throw s3Errors.internal();
  }

  /** Copies an object's body into a new temp file, for CopyObject. */
  async copyBodyToTmp(bucketName: string, key: string): Promise<{ meta: ObjectMeta; tmp: string }> {
    const { meta, handle } = await this.openBody(bucketName, key);
    const tmp = this.tmpFile();
    try {
      await pipeline(handle.createReadStream({ autoClose: false }), createWriteStream(tmp));
    } finally {
      await handle.close();
    }
    return { meta, tmp };
  }

  // --- multipart ---

  async createUpload(upload: Omit<UploadMeta, 'uploadId' | 'initiated'>): Promise<UploadMeta> {
    this.assertBucket(upload.bucket);
    const uploadId = randomUUID().replace(/-/g, '');
    const dir = this.uploadDir(uploadId);
    await fs.mkdir(dir, { recursive: true });
    const meta: UploadMeta = { ...upload, uploadId, initiated: new Date().toISOString() };
    await writeFileAtomic(path.join(dir, 'upload.json'), JSON.stringify(meta), this.tmpDir, this.fsync);
    return meta;
  }

  /** The upload, if it exists and belongs to `bucket`/`key`; throws NoSuchUpload otherwise. */
  async getUpload(bucket: string, key: string, uploadId: string): Promise<UploadMeta> {
    if (!/^[0-9a-f]{32}$/.test(uploadId)) throw s3Errors.noSuchUpload(uploadId);
    try {
      const meta = JSON.parse(await fs.readFile(path.join(this.uploadDir(uploadId), 'upload.json'), 'utf8')) as UploadMeta;
      if (meta.bucket !== bucket || meta.key !== key) throw s3Errors.noSuchUpload(uploadId);
      return meta;
    } catch (err: unknown) {
      if (isNotFound(err)) throw s3Errors.noSuchUpload(uploadId);
      throw err;
    }
  }

  async putPart(upload: UploadMeta, part: Omit<PartMeta, 'file' | 'lastModified'>, tmpBody: string): Promise<PartMeta> {
    const dir = this.uploadDir(upload.uploadId);
    return this.locks.run(`upload:${upload.uploadId}`, async () => {
      const file = `part-${part.partNumber}-${randomUUID()}`;
      const metaPath = path.join(dir, `part-${part.partNumber}.json`);
      const previous = await readJson<PartMeta>(metaPath);
      try {
        await commitFile(tmpBody, path.join(dir, file), false, this.fsync);
      } catch (err: unknown) {
        // The upload directory vanished: aborted or completed meanwhile.
        if (isNotFound(err)) throw s3Errors.noSuchUpload(upload.uploadId);
        throw err;
      }
      const stored: PartMeta = { ...part, file, lastModified: new Date().toISOString() };
      await writeFileAtomic(metaPath, JSON.stringify(stored), this.tmpDir, this.fsync);
      if (previous !== undefined) await unlinkIfExists(path.join(dir, previous.file));
      return stored;
    });
  }

  async listParts(uploadId: string): Promise<Map<number, PartMeta>> {
    const dir = this.uploadDir(uploadId);
    const parts = new Map<number, PartMeta>();
    for (const name of await fs.readdir(dir)) {
      if (!/^part-\d+\.json$/.test(name)) continue;
      const part = await readJson<PartMeta>(path.join(dir, name));
      if (part !== undefined) parts.set(part.partNumber, part);
    }
    return parts;
  }

  /** Concatenates the chosen parts into a temp file; the caller commits it with {@link putObject}. */
  async concatParts(uploadId: string, parts: readonly PartMeta[]): Promise<string> {
    const tmp = this.tmpFile();
    const out = createWriteStream(tmp);
    try {
      for (const part of parts) {
        await pipeline(createReadStream(path.join(this.uploadDir(uploadId), part.file)), out, { end: false });
      }
    } finally {
      await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    }
    return tmp;
  }

  async deleteUpload(uploadId: string): Promise<void> {
    await this.locks.run(`upload:${uploadId}`, () => fs.rm(this.uploadDir(uploadId), { recursive: true, force: true }));
  }

  // --- internals ---

  private bucket(name: string): Bucket {
    const bucket = this.buckets.get(name);
    if (bucket === undefined) throw s3Errors.noSuchBucket(name);
    return bucket;
  }

  private bucketDir(name: string): string {
    return path.join(this.dataDir, 'buckets', name);
  }

  private metaPath(bucket: string, key: string): string {
    return path.join(this.bucketDir(bucket), 'meta', `${createHash('sha256').update(key).digest('hex')}.json`);
  }

  private uploadDir(uploadId: string): string {
    return path.join(this.dataDir, 'uploads', uploadId);
  }

  private async load(): Promise<void> {
    for (const name of await fs.readdir(path.join(this.dataDir, 'buckets'))) {
      const info = await readJson<{ name: string; creationDate: string }>(path.join(this.bucketDir(name), 'bucket.json'));
      if (info === undefined) continue;
      const bucket: Bucket = { name: info.name, creationDate: info.creationDate, objects: new Map() };
      const metaDir = path.join(this.bucketDir(name), 'meta');
      for (const file of await fs.readdir(metaDir)) {
        const meta = await readJson<ObjectMeta>(path.join(metaDir, file));
        if (meta !== undefined) bucket.objects.set(meta.key, meta);
      }
      const referenced = new Set([...bucket.objects.values()].map((meta) => meta.bodyFile));
      const dataDir = path.join(this.bucketDir(name), 'data');
      for (const file of await fs.readdir(dataDir)) {
        if (!referenced.has(file)) await unlinkIfExists(path.join(dataDir, file));
      }
      this.buckets.set(name, bucket);
    }
  }
}

async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as T;
  } catch (err: unknown) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/**
 * Where `key` goes in `sorted` (code point order): the index of the first element not before it. Keeps the
 * listing order up to date on every write instead of re-sorting the whole bucket on the next LIST.
 */
export function lowerBound(sorted: readonly string[], key: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareCodePoints(sorted[mid] as string, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Orders strings by Unicode code point, i.e. by their UTF-8 bytes, as S3 lists keys. */
export function compareCodePoints(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca === cb) continue;
    // Surrogates (astral code points) sort after every BMP character in code point order.
    const sa = ca >= 0xd800 && ca <= 0xdfff;
    const sb = cb >= 0xd800 && cb <= 0xdfff;
    if (sa !== sb) return sa ? 1 : -1;
    return ca - cb;
  }
  return a.length - b.length;
}
