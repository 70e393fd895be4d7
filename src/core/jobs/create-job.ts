import { randomUUID } from 'node:crypto';
import { parseTopK, resolveModel } from '../classify';
import { BadRequestError, PayloadTooLargeError } from '../errors';
import type { Principal } from '../principal';
import { type IngestLimits, type JobDeps, now } from './deps';
import type { PresignedPost, UploadPolicy } from './ports';
import { type Job, keys } from './records';
import { parseUploadKey, shortLabel, uploadContentType } from './upload-keys';

/** POST /jobs: the ingest limits bound the zips and manifests its forms accept. */
export type CreateJobDeps = Pick<JobDeps, 'store' | 'catalog' | 'limits' | 'now'> & {
  ingestLimits: Pick<IngestLimits, 'maxZipBytes' | 'maxManifestBytes'>;
};

/** Bytes of an upload name: with the job's prefix (at most 73 bytes) it stays far under S3's 1,024 for a key. */
const MAX_NAME_BYTES = 255;

/**
 * The upload names of POST /jobs, sanitised to `[A-Za-z0-9._-]`. A name ingest would ignore (empty, `.`, `..`,
 * a leading dot), one over {@link MAX_NAME_BYTES}, or two that sanitise to the same key (the job would wait forever
 * for an image that is one key) is a 400 naming its index.
 */
function uploadNames(raw: unknown): string[] | undefined {
  if (raw === undefined) return undefined;
  if (!Array.isArray(raw)) throw new BadRequestError('names must be an array of strings');
  const seen = new Map<string, number>();
  return raw.map((n: unknown, i) => {
    const refuse = (why: string): never => {
      throw new BadRequestError(`names[${i}] ${why}`, { details: { index: i } });
    };
    if (typeof n !== 'string') return refuse('is not a string');
    if (Buffer.byteLength(n, 'utf8') > MAX_NAME_BYTES) refuse(`is over ${MAX_NAME_BYTES} bytes`);
    const name = n.replace(/[^A-Za-z0-9._-]/g, '_');
    if (name === '') refuse('is empty');
    if (name.startsWith('.')) refuse(`("${shortLabel(name, 40)}") begins with a dot: ingest ignores hidden files, "." and ".."`);
    const first = seen.get(name);
    if (first !== undefined) refuse(`is the same upload key as names[${first}] once sanitised ("${shortLabel(name, 40)}")`);
    seen.set(name, i);
    return name;
  });
}

/** One upload of POST /jobs: the key it lands under and the form that uploads it. */
export interface JobUpload extends PresignedPost {
  key: string;
  method: 'POST';
}

/** The policy of the form for `key`: its type from its name, and the limit ingest would apply to its kind. */
function uploadPolicy(deps: CreateJobDeps, key: string): UploadPolicy {
  const kind = parseUploadKey(key)?.kind ?? 'image';
  const maxBytes =
    kind === 'zip' ? deps.ingestLimits.maxZipBytes : kind === 'manifest' ? deps.ingestLimits.maxManifestBytes : deps.limits.maxImageBytes;
  return { ...uploadContentType(key, kind), maxBytes, expiresSeconds: deps.limits.presignExpiresSeconds };
}

/**
 * POST /jobs: a job owned by `owner` and one presigned POST form per upload, each bounded by S3 to its own key, a
 * content type and a size (see {@link uploadPolicy}).
 */
export async function createJob(
  deps: CreateJobDeps,
  owner: Principal,
  input: { count?: unknown; model?: unknown; topK?: unknown; names?: unknown },
): Promise<{ job: Job; uploadPrefix: string; uploads: JobUpload[]; expiresInSeconds: number }> {
  const names = uploadNames(input.names);
  const count = names ? names.length : input.count === undefined ? 0 : Number(input.count);
  if (!Number.isInteger(count) || count < 0) throw new BadRequestError('count must be a non-negative integer');
  if (count > deps.limits.maxPresignedUrls) throw new PayloadTooLargeError(`at most ${deps.limits.maxPresignedUrls} upload URLs per job`);
  const model = resolveModel(deps.catalog, typeof input.model === 'string' ? input.model : undefined);
  const job: Job = {
    jobId: randomUUID(),
    model,
    topK: parseTopK(input.topK),
    createdAt: now(deps).toISOString(),
    announced: count,
    explicit: true,
    owner: owner.id,
  };
  await deps.store.put(keys.job(job.jobId), JSON.stringify(job), { contentType: 'application/json' });
  const prefix = keys.uploadPrefix(job.jobId);
  const uploads = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const name = names?.[i] ?? `image-${String(i).padStart(5, '0')}`;
      const key = `${prefix}${name}`;
      const form = await deps.store.presignPost(key, uploadPolicy(deps, key));
      return { key, method: 'POST' as const, url: form.url, fields: form.fields };
    }),
  );
  return { job, uploadPrefix: prefix, uploads, expiresInSeconds: deps.limits.presignExpiresSeconds };
}
