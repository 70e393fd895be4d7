import { BadRequestError } from '../errors';
import type { JobDeps } from './deps';
import { keys, type ResultRecord } from './records';
import type { JobReadDeps } from './report';

/** Every result record of a job, ordered by image key. */
export async function jobResults(deps: Pick<JobDeps, 'store'>, jobId: string): Promise<ResultRecord[]> {
  const listed = await deps.store.list(keys.results(jobId));
  const records = await Promise.all(
    listed.map(async (o) => {
      const obj = await deps.store.get(o.key);
      return obj ? (JSON.parse(Buffer.from(obj.body).toString('utf8')) as ResultRecord) : undefined;
    }),
  );
  return records.filter((r): r is ResultRecord => r !== undefined).sort((a, b) => a.key.localeCompare(b.key));
}

/** Paging of GET /jobs/{id}/results: a page of at most `maxBytes` fits a Lambda response (6 MB) with headroom. */
export const RESULTS_PAGE = { defaultLimit: 1000, maxLimit: 5000, maxBytes: 5_000_000 } as const;

/** Reads a `limit` query parameter: absent is the default, else an integer from 1 to the maximum. */
export function parsePageLimit(raw: string | undefined): number {
  if (raw === undefined) return RESULTS_PAGE.defaultLimit;
  const n = /^\d{1,5}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(n >= 1 && n <= RESULTS_PAGE.maxLimit)) throw new BadRequestError(`limit must be an integer from 1 to ${RESULTS_PAGE.maxLimit}`);
  return n;
}

/** One page of a job's results: its body, the records in it and, unless it is the last, the cursor of the next. */
export interface ResultsPage {
  body: string;
  count: number;
  next?: string;
}

// Bytes of a body as it travels: Lambda sends it JSON-escaped inside its response, and it is that response the
// 6 MB limit applies to, so a body full of quotes must not be measured as if it were not.
const wireBytes = (s: string): number => Buffer.byteLength(JSON.stringify(s), 'utf8') - 2;

/** Gets in flight at once while filling a page: enough to hide S3 latency, few enough not to read far past it. */
const READ_AHEAD = 50;

/**
 * A page of a job's result records, in the S3 listing order of their keys (`results/<jobId>/<itemId>.json`,
 * UTF-8 byte order; by item id, not image key), which is stable across pages. `after` is the cursor of the
 * previous page, the last result key it covered; a page resumes after it as S3's StartAfter does, so a record
 * deleted meanwhile does not break the walk. A page ends at `limit` records (at least 1) or before its body
 * would pass `maxBytes`, but always holds at least one record when any is left. A CSV page repeats the header.
 */
export async function jobResultsPage(
  deps: Pick<JobDeps, 'store'>,
  jobId: string,
  page: { after?: string | undefined; limit: number; maxBytes: number; format: 'jsonl' | 'csv' },
): Promise<ResultsPage> {
  const prefix = keys.results(jobId);
  const { after } = page;
  if (after !== undefined && !(after.length <= 1024 && after.startsWith(prefix) && /^[^/]+\.json$/.test(after.slice(prefix.length)))) {
    throw new BadRequestError("after is not a cursor of this job's results");
  }
  const listed = await deps.store.list(prefix);
  const rest = after === undefined ? listed : listed.filter((o) => o.key > after);
  const limit = Math.max(1, page.limit);
  const header = page.format === 'csv' ? resultsCsv([]) : '';
  // resultsCsv([r]) is the header followed by r's row; the page's body is the header once, then each row.
  const chunk = (r: ResultRecord) => (page.format === 'csv' ? resultsCsv([r]).slice(header.length) : resultsJsonl([r]));
  const records: ResultRecord[] = [];
  let bytes = wireBytes(header);
  let consumed = 0;
  fill: while (consumed < rest.length && records.length < limit) {
    const window = rest.slice(consumed, consumed + Math.min(READ_AHEAD, limit - records.length));
    const read = await Promise.all(
      window.map(async (o) => {
        const obj = await deps.store.get(o.key);
        return obj ? (JSON.parse(Buffer.from(obj.body).toString('utf8')) as ResultRecord) : undefined;
      }),
    );
    for (const r of read) {
      if (r) {
        const size = wireBytes(chunk(r));
        if (records.length > 0 && bytes + size > page.maxBytes) break fill;
        records.push(r);
        bytes += size;
      }
      // A record gone since the listing is passed over, and the cursor moves past it all the same.
      consumed += 1;
      if (records.length >= limit) break fill;
    }
  }
  const body = page.format === 'csv' ? resultsCsv(records) : resultsJsonl(records);
  const last = rest[consumed - 1];
  return { body, count: records.length, ...(consumed < rest.length && last ? { next: last.key } : {}) };
}

/**
 * Writes the JSONL and CSV of a finished job at its `revision`, once, and returns links to them. An image
 * re-uploaded after the job finished moves the revision, so a download is never stale; each revision has its
 * own files, so a slow request assembling an older one cannot overwrite a newer one.
 */
export async function assembleResults(deps: JobReadDeps, jobId: string, revision: string): Promise<{ jsonl: string; csv: string }> {
  const jsonlKey = keys.assembled(jobId, revision, 'jsonl');
  const csvKey = keys.assembled(jobId, revision, 'csv');
  if (!(await deps.store.head(jsonlKey))) {
    const records = await jobResults(deps, jobId);
    await deps.store.put(csvKey, resultsCsv(records), { contentType: 'text/csv' });
    // Last: its presence says both are written.
    await deps.store.put(jsonlKey, resultsJsonl(records), { contentType: 'application/x-ndjson' });
  }
  return {
    jsonl: await deps.store.presignGet(jsonlKey, deps.limits.presignExpiresSeconds),
    csv: await deps.store.presignGet(csvKey, deps.limits.presignExpiresSeconds),
  };
}

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

export const resultsJsonl = (records: readonly ResultRecord[]): string =>
  records.map((r) => JSON.stringify(r)).join('\n') + (records.length ? '\n' : '');
