import { parse as parseCsv } from 'csv-parse/sync';
import { InvalidManifestError } from '../errors';

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
