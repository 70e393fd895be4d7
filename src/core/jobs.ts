import { parse as parseCsv } from 'csv-parse/sync';
import { type ErrorRecord, InvalidManifestError, JobUnreadableError } from './errors';
import type { Prediction } from './model';
import type { Principal } from './principal';

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

/** S3's limit on a key, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;

/**
 * Why `key` can be no S3 key of ours, if it cannot: empty, over {@link MAX_KEY_BYTES}, a control character (it
 * would break listings, logs and CSV rows), or a `.`/`..` segment (S3 takes them literally, everything else
 * that reads keys as paths does not).
 */
export function keyProblem(key: string): string | undefined {
  if (key === '') return 'it is empty';
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) return `it is over ${MAX_KEY_BYTES} bytes`;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this looks for.
  if (/[\u0000-\u001f\u007f]/.test(key)) return 'it has a control character';
  if (key.split('/').some((s) => s === '.' || s === '..')) return 'it has a "." or ".." segment';
  return undefined;
}

/** A key short enough to quote in an error message or a record's key. */
export function shortLabel(s: string, max = 200): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this replaces.
  const clean = s.replace(/[\u0000-\u001f\u007f]/g, '\ufffd');
  const chars = [...clean];
  return chars.length <= max ? clean : `${chars.slice(0, max).join('')}…`;
}

/** One line of a manifest: the key it lists, or why it lists none. */
export type ManifestLine = { line: number; key: string } | { line: number; problem: string };

/**
 * Parses a manifest listing S3 keys: CSV (first column, optional `key` header, RFC 4180 quoting, `#` comment
 * lines) or JSONL (`{"key": …}` or a string per line); a UTF-8 BOM is skipped. A line that lists no key is
 * returned as such, with its 1-based line number. Content it cannot read as a whole (over `maxLines` lines, CSV
 * that does not parse, such as a quote never closed) is an {@link InvalidManifestError}.
 */
export function parseManifest(text: string, format: 'csv' | 'jsonl', maxLines: number): ManifestLine[] {
  let lines = 1;
  for (let i = text.indexOf('\n'); i !== -1 && lines <= maxLines; i = text.indexOf('\n', i + 1)) lines += 1;
  if (lines > maxLines) throw new InvalidManifestError(`the manifest is over ${maxLines} lines`);
  return format === 'jsonl' ? parseJsonl(text.replace(/^\ufeff/, '')) : parseCsvManifest(text);
}

function parseJsonl(text: string): ManifestLine[] {
  const out: ManifestLine[] = [];
  text.split('\n').forEach((raw, i) => {
    const l = raw.trim();
    if (l === '' || l.startsWith('#')) return;
    const line = i + 1;
    let v: unknown;
    try {
      v = JSON.parse(l);
    } catch {
      out.push({ line, problem: 'it is not JSON' });
      return;
    }
    const key = typeof v === 'string' ? v : typeof v === 'object' && v !== null ? (v as { key?: unknown }).key : undefined;
    out.push(typeof key === 'string' && key !== '' ? { line, key } : { line, problem: 'it has no "key"' });
  });
  return out;
}

function parseCsvManifest(text: string): ManifestLine[] {
  let records: Array<{ record: string[]; info: { lines: number } }>;
  try {
    // No skip_records_with_error: after a quoting error csv-parse loses every later line without a word, so any
    // error is the whole manifest's. Relaxed quotes and column counts leave little else (a quote never closed).
    // No trim either (with relaxed quotes it has the same failing): keys are trimmed below.
    records = parseCsv(text, {
      bom: true,
      comment: '#',
      comment_no_infix: true,
      relax_column_count: true,
      relax_quotes: true,
      skip_empty_lines: true,
      info: true,
    }) as unknown as Array<{ record: string[]; info: { lines: number } }>;
  } catch (err: unknown) {
    const { code, lines } = err as { code?: unknown; lines?: unknown };
    const where = code === 'CSV_QUOTE_NOT_CLOSED' ? ': a quote is never closed' : typeof lines === 'number' ? ` (line ${lines})` : '';
    throw new InvalidManifestError(`the manifest is not valid CSV${where}`, { cause: err });
  }
  const out: ManifestLine[] = [];
  records.forEach(({ record, info }, i) => {
    const key = (record[0] ?? '').trim();
    if (i === 0 && key.toLowerCase() === 'key') return;
    if (key === '' && record.every((c) => c.trim() === '')) return;
    out.push(key === '' ? { line: info.lines, problem: 'its first column is empty' } : { line: info.lines, key });
  });
  return out;
}

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
        : !(Number.isInteger(j.topK) && (j.topK as number) >= 1 && (j.topK as number) <= 20)
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
  const job: Job = { ...j, jobId, model: j.model as string, topK: j.topK as number, createdAt: j.createdAt as string, announced: j.announced as number, explicit: j.explicit as boolean };
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

/** Content types of what a job's uploads may be, by the extension of their name; images with no known one get `image/*`. */
const UPLOAD_TYPES: Record<string, string> = {
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  gif: 'image/gif',
  tif: 'image/tiff',
  tiff: 'image/tiff',
  avif: 'image/avif',
  heic: 'image/heic',
  bmp: 'image/bmp',
  zip: 'application/zip',
  csv: 'text/csv',
  jsonl: 'application/x-ndjson',
};

/** The content type an upload under `name` must declare, or the prefix it must begin with (an image with no known extension). */
export function uploadContentType(name: string, kind: UploadKind): { contentType: string } | { contentTypePrefix: string } {
  const ext = /\.([A-Za-z0-9]+)$/.exec(name)?.[1]?.toLowerCase() ?? '';
  const type = UPLOAD_TYPES[ext];
  if (kind === 'image') return type?.startsWith('image/') ? { contentType: type } : { contentTypePrefix: 'image/' };
  // parseUploadKey names a zip or manifest by its extension, so its type is known.
  return { contentType: type ?? 'application/octet-stream' };
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

/**
 * A text cell a spreadsheet will not run: one that begins like a formula (= + - @, a tab or a carriage return)
 * gets a leading single quote, as OWASP's advice on CSV injection has it.
 */
const textCell = (v: string): string => csvCell(/^[=+\-@\t\r]/.test(v) ? `'${v}` : v);

/** CSV of results: one row per image with its top-1 and the full top-k as JSON. */
export function resultsCsv(records: readonly ResultRecord[]): string {
  const rows = [['key', 'ok', 'label', 'index', 'score', 'error_code', 'error_message', 'model', 'predictions'].join(',')];
  for (const r of records) {
    const top = r.predictions?.[0];
    rows.push(
      [
        textCell(r.key),
        r.ok ? 'true' : 'false',
        textCell(top?.label ?? ''),
        csvCell(top?.index ?? ''),
        top ? top.score.toFixed(6) : '',
        textCell(r.error?.code ?? ''),
        textCell(r.error?.message ?? ''),
        textCell(`${r.model.name}@${r.model.version}`),
        csvCell(JSON.stringify(r.predictions ?? [])),
      ].join(','),
    );
  }
  return `${rows.join('\n')}\n`;
}

export const resultsJsonl = (records: readonly ResultRecord[]): string => records.map((r) => JSON.stringify(r)).join('\n') + (records.length ? '\n' : '');
