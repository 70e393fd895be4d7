import { isValidJobId } from './records';

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
