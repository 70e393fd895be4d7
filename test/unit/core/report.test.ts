import { storeResult } from '../../../src/core/jobs/answer';
import { keys, type ResultRecord } from '../../../src/core/jobs/records';
import { jobReport } from '../../../src/core/jobs/report';
import { assembleResults } from '../../../src/core/jobs/results';
import { FakeStore, operator } from './fakes';

const JOB = 'job-1';
const limits = { maxImageBytes: 64, maxPresignedUrls: 10, presignExpiresSeconds: 60 };
const model = { name: 'm', version: '1' };

function setup(announced = 3) {
  const store = new FakeStore();
  const job = { jobId: JOB, model: 'm', topK: 5, createdAt: '2025-01-01T00:00:00.000Z', announced, explicit: true };
  store.upload(keys.job(JOB), new Uint8Array(Buffer.from(JSON.stringify(job))));
  /** Counts `id` as ingested and, if told, stores its record. */
  const image = async (id: string, answer?: { ok: boolean; at?: string }) => {
    store.upload(keys.item(JOB, id), new Uint8Array(Buffer.from('{}')));
    if (!answer) return;
    const base = { jobId: JOB, itemId: id, key: `uploads/${JOB}/${id}.jpg`, etag: 'e', model, completedAt: answer.at ?? '2025-01-01T00:00:01.000Z' };
    const record: ResultRecord = answer.ok
      ? { ...base, ok: true, predictions: [] }
      : { ...base, ok: false, error: { code: 'INVALID_IMAGE', message: 'no' } };
    await storeResult({ store }, record, { record: store.objects.has(keys.result(JOB, id)) });
  };
  const report = () => jobReport({ store, limits }, JOB, operator);
  return { store, image, report };
}

describe('jobReport', () => {
  it('counts from the markers and records: expected is at least what was announced, failures are not done', async () => {
    const { image, report } = setup(3);
    await image('a', { ok: true });
    await image('b', { ok: false });
    expect(await report()).toMatchObject({ status: 'running', counts: { expected: 3, ingested: 2, done: 1, failed: 1 } });
    await image('c');
    await image('d', { ok: true });
    expect((await report()).counts).toEqual({ expected: 4, ingested: 4, done: 2, failed: 1 });
    await image('c', { ok: true });
    expect(await report()).toMatchObject({ status: 'done', counts: { expected: 4, ingested: 4, done: 3, failed: 1 } });
  });

  it('its revision moves when an answer is replaced, and only then', async () => {
    const { image, report } = setup(1);
    await image('a', { ok: false });
    const first = (await report()).revision;
    expect((await report()).revision).toBe(first);
    await image('a', { ok: true, at: '2025-01-01T00:00:02.000Z' });
    const second = await report();
    expect(second.revision).not.toBe(first);
    expect(second.counts).toEqual({ expected: 1, ingested: 1, done: 1, failed: 0 });
  });
});

describe('assembleResults', () => {
  it('writes the downloads of a revision once, the JSONL last, and links to both', async () => {
    // Prepare
    const { store, image, report } = setup(1);
    await image('a', { ok: true });
    const { revision } = await report();
    store.calls.length = 0;
    // Act
    const links = await assembleResults({ store, limits }, JOB, revision);
    const again = await assembleResults({ store, limits }, JOB, revision);
    // Assess
    expect(links).toEqual({
      jsonl: `https://fake/${keys.assembled(JOB, revision, 'jsonl')}?get`,
      csv: `https://fake/${keys.assembled(JOB, revision, 'csv')}?get`,
    });
    expect(again).toEqual(links);
    expect(store.calls.filter((c) => c.op === 'put').map((c) => c.key)).toEqual([
      keys.assembled(JOB, revision, 'csv'),
      keys.assembled(JOB, revision, 'jsonl'),
    ]);
    expect(
      Buffer.from(store.objects.get(keys.assembled(JOB, revision, 'jsonl'))?.body ?? [])
        .toString()
        .trim()
        .split('\n'),
    ).toHaveLength(1);
  });
});
