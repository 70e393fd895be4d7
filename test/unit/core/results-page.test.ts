import { createHash } from 'node:crypto';
import { keys, type ResultRecord } from '../../../src/core/jobs/records';
import { jobResultsPage, parsePageLimit, type ResultsPage, resultsCsv } from '../../../src/core/jobs/results';
import { FakeStore } from './fakes';

const jobId = 'job-1';

/** A job with `n` result records of equal size, quotes in each (escaped on the wire). */
async function seeded(n: number) {
  const store = new FakeStore();
  const records: ResultRecord[] = [];
  for (let i = 0; i < n; i++) {
    const itemId = createHash('sha256').update(String(i)).digest('hex').slice(0, 32);
    const r: ResultRecord = {
      jobId,
      itemId,
      key: `uploads/${jobId}/img-${String(i).padStart(5, '0')}.jpg`,
      etag: 'e',
      model: { name: 'm', version: '1' },
      ok: false,
      error: { code: 'INVALID_IMAGE', message: 'the decoder said "no", "never" and "not a jpeg"' },
      completedAt: '2025-01-01T00:00:00.000Z',
    };
    records.push(r);
    await store.put(keys.result(jobId, itemId), JSON.stringify(r));
  }
  return { store, records };
}

/** Walks every page, as a client following the cursor would. */
async function walk(store: FakeStore, page: { limit: number; maxBytes: number; format: 'jsonl' | 'csv' }): Promise<ResultsPage[]> {
  const pages: ResultsPage[] = [];
  let after: string | undefined;
  do {
    const p = await jobResultsPage({ store }, jobId, { ...page, after });
    pages.push(p);
    after = p.next;
  } while (after !== undefined && pages.length < 100);
  return pages;
}

const lines = (body: string) => body.split('\n').filter(Boolean);
// What Lambda's response carries: the body as a JSON string.
const wire = (s: string) => Buffer.byteLength(JSON.stringify(s)) - 2;

describe('jobResultsPage', () => {
  it('2,500 records at limit 1000 are 3 pages in listing order, each record once, no cursor on the last', async () => {
    const { store, records } = await seeded(2500);
    const pages = await walk(store, { limit: 1000, maxBytes: 5_000_000, format: 'jsonl' });
    expect(pages.map((p) => p.count)).toEqual([1000, 1000, 500]);
    expect(pages.map((p) => p.next === undefined)).toEqual([false, false, true]);
    const seen = pages.flatMap((p) => lines(p.body).map((l) => (JSON.parse(l) as ResultRecord).itemId));
    expect(seen).toHaveLength(2500);
    expect(new Set(seen).size).toBe(2500);
    expect(seen).toEqual(records.map((r) => r.itemId).sort());
    // The cursor is the last result key of its page.
    expect(pages[0]?.next).toBe(keys.result(jobId, seen[999] ?? ''));
  });

  it('a byte budget under 3 records gives pages of 2, measured as Lambda sends the body', async () => {
    const { store } = await seeded(7);
    const one = (await jobResultsPage({ store }, jobId, { limit: 1, maxBytes: 5_000_000, format: 'jsonl' })).body;
    // All records have the same size; the quotes in them are escaped on the wire, so bytes alone would fit 3.
    expect(Buffer.byteLength(one) * 3).toBeLessThanOrEqual(wire(one) * 2.9);
    const pages = await walk(store, { limit: 1000, maxBytes: Math.floor(wire(one) * 2.9), format: 'jsonl' });
    expect(pages.map((p) => p.count)).toEqual([2, 2, 2, 1]);
    for (const p of pages) expect(wire(p.body)).toBeLessThanOrEqual(wire(one) * 2.9);
  });

  it('CSV pages each carry the header row, which counts against the budget', async () => {
    const { store } = await seeded(5);
    const header = resultsCsv([]);
    const one = (await jobResultsPage({ store }, jobId, { limit: 1, maxBytes: 5_000_000, format: 'csv' })).body;
    const row = wire(one) - wire(header);
    const pages = await walk(store, { limit: 1000, maxBytes: wire(header) + 2 * row, format: 'csv' });
    expect(pages.map((p) => p.count)).toEqual([2, 2, 1]);
    for (const p of pages) expect(p.body.startsWith(header)).toBe(true);
    expect(new Set(pages.flatMap((p) => lines(p.body).slice(1))).size).toBe(5);
  });

  it('a budget below one record still moves on, one record a page', async () => {
    const { store } = await seeded(3);
    expect((await walk(store, { limit: 1000, maxBytes: 1, format: 'jsonl' })).map((p) => p.count)).toEqual([1, 1, 1]);
  });

  it('a job without results is one empty page', async () => {
    const store = new FakeStore();
    expect(await jobResultsPage({ store }, jobId, { limit: 1000, maxBytes: 5_000_000, format: 'jsonl' })).toEqual({ body: '', count: 0 });
    expect((await jobResultsPage({ store }, jobId, { limit: 1000, maxBytes: 5_000_000, format: 'csv' })).body).toBe(resultsCsv([]));
  });

  it('a record gone between pages does not break the walk', async () => {
    const { store } = await seeded(4);
    const first = await jobResultsPage({ store }, jobId, { limit: 2, maxBytes: 5_000_000, format: 'jsonl' });
    await store.delete(first.next ?? '');
    const second = await jobResultsPage({ store }, jobId, { limit: 2, maxBytes: 5_000_000, format: 'jsonl', after: first.next });
    expect([second.count, second.next]).toEqual([2, undefined]);
  });

  it.each([
    ['another job', keys.result('job-2', 'a'.repeat(32))],
    ['a prefix of this job', 'results/job-1'],
    ['a key in a sub-folder', 'results/job-1/x/../y.json'],
    ['not a result key', 'uploads/job-1/a.jpg'],
    ['no key at all', 'abc'],
    ['an empty cursor', ''],
  ])('a cursor of %s is a 400, before any read', async (_, after) => {
    const { store } = await seeded(2);
    store.calls.length = 0;
    await expect(jobResultsPage({ store }, jobId, { limit: 10, maxBytes: 5_000_000, format: 'jsonl', after })).rejects.toMatchObject({
      statusCode: 400,
      code: 'BAD_REQUEST',
    });
    expect(store.calls).toEqual([]);
  });
});

describe('parsePageLimit', () => {
  it('defaults to 1000 and accepts 1..5000', () => {
    expect(parsePageLimit(undefined)).toBe(1000);
    expect(parsePageLimit('1')).toBe(1);
    expect(parsePageLimit('5000')).toBe(5000);
  });
  it.each(['0', '5001', '-1', '2.5', 'abc', '', '1e3', '99999999'])('refuses %p with a 400', (v) => {
    expect(() => parsePageLimit(v)).toThrow(expect.objectContaining({ statusCode: 400, code: 'BAD_REQUEST' }));
  });
});
