import { type ErrorRecord, InvalidManifestError } from './errors';
import type { Prediction } from './model';

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

export type UploadKind = 'image' | 'zip' | 'manifest';

/**
 * Reads an upload key `uploads/<jobId>/<name…>`: which job it belongs to and what it is.
 * Returns undefined for keys the ingest function must ignore (folders, hidden files, other prefixes).
 */
export function parseUploadKey(key: string): { jobId: string; name: string; kind: UploadKind } | undefined {
  const m = /^uploads\/([^/]+)\/(.+)$/.exec(key);
  if (!m) return undefined;
  const jobId = m[1] ?? '';
  const name = m[2] ?? '';
  if (!isValidJobId(jobId) || name.endsWith('/')) return undefined;
  const base = name.split('/').pop() ?? name;
  if (base.startsWith('.')) return undefined;
  const lower = base.toLowerCase();
  if (lower.endsWith('.zip')) return { jobId, name, kind: 'zip' };
  if (lower === 'manifest.csv' || lower === 'manifest.jsonl' || lower.endsWith('.manifest.csv') || lower.endsWith('.manifest.jsonl')) {
    return { jobId, name, kind: 'manifest' };
  }
  return { jobId, name, kind: 'image' };
}

/**
 * Parses a manifest listing S3 keys: CSV (first column, optional `key` header) or JSONL (`{"key": …}` or a string).
 * Content it cannot read is an {@link InvalidManifestError}.
 */
export function parseManifest(text: string, format: 'csv' | 'jsonl'): string[] {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  if (format === 'jsonl') {
    return lines.map((l, i) => {
      let v: unknown;
      try {
        v = JSON.parse(l);
      } catch {
        throw new InvalidManifestError(`manifest line ${i + 1} is not JSON`);
      }
      const key = typeof v === 'string' ? v : typeof v === 'object' && v !== null ? (v as { key?: unknown }).key : undefined;
      if (typeof key !== 'string' || key === '') throw new InvalidManifestError(`manifest line ${i + 1} has no "key"`);
      return key;
    });
  }
  const first = lines[0]?.split(',')[0]?.trim().replace(/^"|"$/g, '').toLowerCase();
  const body = first === 'key' ? lines.slice(1) : lines;
  return body.map((l) => (l.split(',')[0] ?? '').trim().replace(/^"|"$/g, '')).filter((k) => k !== '');
}

/** Derives a job's status from its counts. */
export function jobStatus(c: JobCounts): JobStatus {
  const finished = c.done + c.failed;
  if (c.expected === 0 || (finished === 0 && c.ingested === 0)) return 'pending';
  if (finished < c.expected) return 'running';
  return c.done === 0 ? 'failed' : 'done';
}

/** Turns an error into the record stored for an image that will never get predictions. */
export const errorResult = (item: WorkItem, model: { name: string; version: string }, error: ErrorRecord, now: Date): ResultRecord => ({
  jobId: item.jobId,
  itemId: item.itemId,
  key: item.key,
  etag: item.etag,
  model,
  ok: false,
  error: { code: error.code, message: error.message },
  completedAt: now.toISOString(),
});

const csvCell = (v: string | number): string => {
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

/** CSV of results: one row per image with its top-1 and the full top-k as JSON. */
export function resultsCsv(records: readonly ResultRecord[]): string {
  const rows = [['key', 'ok', 'label', 'index', 'score', 'error_code', 'error_message', 'model', 'predictions'].join(',')];
  for (const r of records) {
    const top = r.predictions?.[0];
    rows.push(
      [
        r.key,
        r.ok ? 'true' : 'false',
        top?.label ?? '',
        top?.index ?? '',
        top ? top.score.toFixed(6) : '',
        r.error?.code ?? '',
        r.error?.message ?? '',
        `${r.model.name}@${r.model.version}`,
        JSON.stringify(r.predictions ?? []),
      ]
        .map(csvCell)
        .join(','),
    );
  }
  return `${rows.join('\n')}\n`;
}

export const resultsJsonl = (records: readonly ResultRecord[]): string => records.map((r) => JSON.stringify(r)).join('\n') + (records.length ? '\n' : '');
