import { createHash } from 'node:crypto';
import { MAX_TOP_K } from '../classify';
import { JobUnreadableError } from '../errors';
import type { Prediction } from '../model';
import type { Principal } from '../principal';

/** A batch job: images dropped under `uploads/<jobId>/`, one result or error record per image. */
export interface Job {
  jobId: string;
  model: string;
  topK: number;
  createdAt: string;
  /** Images the creator announced; the expected count is at least this and at least what was ingested. */
  announced: number;
  /** False when the job was created by its first upload rather than by POST /jobs. */
  explicit: boolean;
  /**
   * The principal that created it with POST /jobs, the only one that may read it. Absent on a job its first upload
   * created (a bucket drop by someone with bucket rights): only operators may read that one.
   */
  owner?: string;
}

export type JobStatus = 'pending' | 'running' | 'done' | 'failed';

export interface JobCounts {
  expected: number;
  ingested: number;
  done: number;
  failed: number;
}

/** One image of a job, as queued for the worker. */
export interface WorkItem {
  v: 1;
  jobId: string;
  itemId: string;
  bucket: string;
  key: string;
  etag: string;
  model: string;
  topK: number;
  /**
   * Ingest wrote this item's marker for the first time, so a first delivery of the message does not look for an
   * earlier result: it creates its record, and replaces one only if another message wrote it meanwhile. Absent
   * on items from older producers, which look first as before.
   */
  fresh?: boolean;
}

/** What the worker stores for one image: predictions or an error, never neither. */
export interface ResultRecord {
  jobId: string;
  itemId: string;
  key: string;
  etag: string;
  model: { name: string; version: string };
  ok: boolean;
  predictions?: Prediction[];
  error?: { code: string; message: string };
  timings?: { decodeMs: number; inferMs: number; queueMs: number };
  completedAt: string;
}

const JOB_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** The bucket layout, in one place. */
export const keys = {
  uploadPrefix: (jobId: string) => `uploads/${jobId}/`,
  job: (jobId: string) => `jobs/${jobId}/job.json`,
  item: (jobId: string, itemId: string) => `jobs/${jobId}/items/${itemId}`,
  items: (jobId: string) => `jobs/${jobId}/items/`,
  failedMarker: (jobId: string, itemId: string) => `jobs/${jobId}/failed/${itemId}`,
  failed: (jobId: string) => `jobs/${jobId}/failed/`,
  result: (jobId: string, itemId: string) => `results/${jobId}/${itemId}.json`,
  results: (jobId: string) => `results/${jobId}/`,
  assembled: (jobId: string, revision: string, format: 'jsonl' | 'csv') => `jobs/${jobId}/results-${revision}.${format}`,
};

/** Keys in S3 event notifications are URL-encoded with '+' for spaces. */
export const decodeEventKey = (key: string): string => decodeURIComponent(key.replace(/\+/g, ' '));

export const isValidJobId = (id: string): boolean => JOB_ID.test(id);

/** Stable id of one image: the same bucket/key is the same item, whoever reports it and how often. */
export const itemIdOf = (bucket: string, key: string): string => createHash('sha256').update(`${bucket}/${key}`).digest('hex').slice(0, 32);

/**
 * Reads a stored job record, checking it has the shape this service writes: anything else (a hand-edited or
 * overwritten `job.json`) is a {@link JobUnreadableError}, never a crash further on.
 */
export function parseJobRecord(jobId: string, body: Uint8Array): Job {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch {
    throw new JobUnreadableError(jobId, 'not JSON');
  }
  const j = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  const problem =
    j.jobId !== jobId
      ? 'jobId'
      : typeof j.model !== 'string' || j.model === ''
        ? 'model'
        : !(Number.isInteger(j.topK) && (j.topK as number) >= 1 && (j.topK as number) <= MAX_TOP_K)
          ? 'topK'
          : typeof j.createdAt !== 'string' || Number.isNaN(Date.parse(j.createdAt))
            ? 'createdAt'
            : !(Number.isInteger(j.announced) && (j.announced as number) >= 0)
              ? 'announced'
              : typeof j.explicit !== 'boolean'
                ? 'explicit'
                : j.owner !== undefined && (typeof j.owner !== 'string' || j.owner === '')
                  ? 'owner'
                  : undefined;
  if (problem) throw new JobUnreadableError(jobId, `bad or missing "${problem}"`);
  // Fields this version does not know are kept, for the version that wrote them.
  const job: Job = {
    ...j,
    jobId,
    model: j.model as string,
    topK: j.topK as number,
    createdAt: j.createdAt as string,
    announced: j.announced as number,
    explicit: j.explicit as boolean,
  };
  if (typeof j.owner === 'string') job.owner = j.owner;
  return job;
}

/**
 * The owner a job record names, read as leniently as possible: a record unreadable for another reason may still say
 * whose it is, and so who may be told it is unreadable.
 */
export function recordOwner(body: Uint8Array): string | undefined {
  try {
    const raw: unknown = JSON.parse(Buffer.from(body).toString('utf8'));
    const owner = typeof raw === 'object' && raw !== null ? (raw as { owner?: unknown }).owner : undefined;
    return typeof owner === 'string' && owner !== '' ? owner : undefined;
  } catch {
    return undefined;
  }
}

/** Who may read a job: its owner; a job without one (a bucket drop), operators only. */
export const mayRead = (owner: string | undefined, who: Principal): boolean => (owner === undefined ? who.operator : owner === who.id);

/** Derives a job's status from its counts. */
export function jobStatus(c: JobCounts): JobStatus {
  const finished = c.done + c.failed;
  if (c.expected === 0 || (finished === 0 && c.ingested === 0)) return 'pending';
  if (finished < c.expected) return 'running';
  return c.done === 0 ? 'failed' : 'done';
}
