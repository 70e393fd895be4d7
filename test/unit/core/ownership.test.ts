import fc from 'fast-check';
import { JobUnreadableError, NotFoundError } from '../../../src/core/errors';
import { createJob } from '../../../src/core/jobs/create-job';
import { keys, parseJobRecord } from '../../../src/core/jobs/records';
import { jobReport } from '../../../src/core/jobs/report';
import type { Principal } from '../../../src/core/principal';
import { clientOf, FakeStore, modelCatalogOf, operator, realManifest } from './fakes';

const limits = { maxImageBytes: 1024 * 1024, maxPresignedUrls: 10, presignExpiresSeconds: 60 };
const ingestLimits = { maxZipBytes: 1024, maxManifestBytes: 1024 };

/** A bucket with one job: created by `owner` with POST /jobs, or (owner undefined) by a bucket drop. */
async function bucketWithJob(owner: Principal | undefined) {
  const store = new FakeStore();
  let jobId = 'dropped-1';
  if (owner) {
    jobId = (await createJob({ store, catalog: modelCatalogOf(realManifest()), limits, ingestLimits }, owner, { count: 1 })).job.jobId;
  } else {
    const job = { jobId, model: 'mobilenetv2-int8', topK: 5, createdAt: '2025-01-01T00:00:00.000Z', announced: 0, explicit: false };
    await store.put(keys.job(jobId), JSON.stringify(job));
  }
  store.calls.length = 0;
  return { store, jobId };
}

/** What a reader learns from jobReport: its answer or error, and the S3 calls it made (their order is its timing). */
async function read(store: FakeStore, jobId: string, who: Principal) {
  store.calls.length = 0;
  const outcome = await jobReport({ store, limits }, jobId, who).then(
    (report) => ({ ok: true as const, report }),
    (err: unknown) => ({
      ok: false as const,
      error: err,
      shape: {
        name: (err as Error).name,
        code: (err as NotFoundError).code,
        statusCode: (err as NotFoundError).statusCode,
        message: (err as Error).message,
      },
    }),
  );
  return { outcome, calls: store.calls.map((c) => c.op) };
}

/** The same read of an id that was never created, with the same length and alphabet, for the same reader. */
async function readUnknown(jobId: string, who: Principal) {
  const store = new FakeStore();
  const { outcome, calls } = await read(store, jobId, who);
  return { outcome, calls };
}

describe('job ownership', () => {
  it('the owner reads its job', async () => {
    const { store, jobId } = await bucketWithJob(clientOf('acme'));
    const { outcome } = await read(store, jobId, clientOf('acme'));
    expect(outcome).toMatchObject({ ok: true, report: { jobId, status: 'pending' } });
  });

  it('another client, even an operator, gets the very answer an unknown id gets, after the same S3 calls', async () => {
    const { store, jobId } = await bucketWithJob(clientOf('acme'));
    for (const who of [clientOf('mallory'), operator]) {
      const foreign = await read(store, jobId, who);
      const unknown = await readUnknown(jobId, who);
      expect(foreign.outcome.ok).toBe(false);
      expect(foreign.outcome.ok ? undefined : foreign.outcome.error).toBeInstanceOf(NotFoundError);
      expect(foreign.outcome.ok ? undefined : foreign.outcome.shape).toEqual(unknown.outcome.ok ? undefined : unknown.outcome.shape);
      expect(foreign.outcome.ok ? undefined : foreign.outcome.shape).toEqual({
        name: 'NotFoundError',
        code: 'JOB_NOT_FOUND',
        statusCode: 404,
        message: `no job "${jobId}"`,
      });
      expect(foreign.calls).toEqual(unknown.calls);
      expect(foreign.calls).toEqual(['get']);
    }
  });

  it('a job a bucket drop created, with no owner, is read by operators only', async () => {
    const { store, jobId } = await bucketWithJob(undefined);
    expect((await read(store, jobId, operator)).outcome).toMatchObject({ ok: true, report: { jobId } });
    const client = await read(store, jobId, clientOf('acme'));
    expect(client.outcome).toMatchObject({ ok: false, shape: { code: 'JOB_NOT_FOUND', message: `no job "${jobId}"` } });
    expect(client.calls).toEqual((await readUnknown(jobId, clientOf('acme'))).calls);
  });

  it('an unreadable record is told (409) only to whom the same rule lets read it, and is not found for anyone else', async () => {
    const store = new FakeStore();
    await store.put(keys.job('owned'), JSON.stringify({ jobId: 'owned', owner: 'acme', topK: 'garbled' }));
    await store.put(keys.job('ownerless'), '{"overwritten": true}');
    const code = async (jobId: string, who: Principal) =>
      (await jobReport({ store, limits }, jobId, who).catch((err: unknown) => err)) as { code?: string };
    expect(await code('owned', clientOf('acme'))).toBeInstanceOf(JobUnreadableError);
    expect((await code('owned', clientOf('mallory'))).code).toBe('JOB_NOT_FOUND');
    expect((await code('owned', operator)).code).toBe('JOB_NOT_FOUND');
    expect((await code('ownerless', operator)).code).toBe('JOB_UNREADABLE');
    expect((await code('ownerless', clientOf('acme'))).code).toBe('JOB_NOT_FOUND');
  });

  it('for any owner and reader, a job reads exactly when the reader owns it (or, ownerless, is an operator), else as unknown', async () => {
    const principalArb = fc.record({ id: fc.constantFrom('acme', 'beta', 'ops'), operator: fc.boolean() });
    await fc.assert(
      fc.asyncProperty(fc.option(principalArb, { nil: undefined }), principalArb, async (owner, who) => {
        const { store, jobId } = await bucketWithJob(owner);
        const seen = await read(store, jobId, who);
        const allowed = owner === undefined ? who.operator : owner.id === who.id;
        expect(seen.outcome.ok).toBe(allowed);
        if (!seen.outcome.ok) {
          const unknown = await readUnknown(jobId, who);
          expect({ shape: seen.outcome.shape, calls: seen.calls }).toEqual({
            shape: unknown.outcome.ok ? undefined : unknown.outcome.shape,
            calls: unknown.calls,
          });
        }
      }),
      { numRuns: 100 },
    );
  });

  it('a record with an owner that is not a non-empty string is unreadable', () => {
    const record = (owner: unknown) =>
      new Uint8Array(
        Buffer.from(JSON.stringify({ jobId: 'j', model: 'm', topK: 5, createdAt: '2025-01-01T00:00:00Z', announced: 0, explicit: true, owner })),
      );
    expect(parseJobRecord('j', record('acme')).owner).toBe('acme');
    expect(() => parseJobRecord('j', record(7))).toThrow('bad or missing "owner"');
    expect(() => parseJobRecord('j', record(''))).toThrow('bad or missing "owner"');
  });
});
