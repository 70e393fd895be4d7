import { createHash } from 'node:crypto';
import { JobUnreadableError, NotFoundError } from '../errors';
import type { Principal } from '../principal';
import type { JobDeps } from './deps';
import { type Job, type JobCounts, type JobStatus, jobStatus, keys, mayRead, parseJobRecord, recordOwner } from './records';

/** Reading a job's status and results: the bucket alone. */
export type JobReadDeps = Pick<JobDeps, 'store' | 'limits'>;

export interface JobReport {
  jobId: string;
  status: JobStatus;
  model: string;
  counts: JobCounts;
  createdAt: string;
  explicit: boolean;
  /** Changes whenever an image's answer does (a new, replaced or re-done record): the results' version. */
  revision: string;
}

/**
 * The job `who` may read. Another's job is not found, with the same error and after the same one GET as a job that
 * does not exist: its existence is not told. An unreadable record (JOB_UNREADABLE) is told by the same rule, to the
 * owner it still names or, naming none, to operators; to anyone else it is not found either.
 */
async function readableJob(deps: Pick<JobDeps, 'store'>, jobId: string, who: Principal): Promise<Job> {
  const notFound = () => new NotFoundError('JOB_NOT_FOUND', `no job "${jobId}"`);
  const obj = await deps.store.get(keys.job(jobId));
  if (!obj) throw notFound();
  let job: Job;
  try {
    job = parseJobRecord(jobId, obj.body);
  } catch (err: unknown) {
    if (err instanceof JobUnreadableError && !mayRead(recordOwner(obj.body), who)) throw notFound();
    throw err;
  }
  if (!mayRead(job.owner, who)) throw notFound();
  return job;
}

/**
 * GET /jobs/{id}: status and counts, from the item markers, the result records and the failure markers, for a
 * principal that may read the job (else JOB_NOT_FOUND). Callers read the job's results only after it answered.
 */
export async function jobReport(deps: JobReadDeps, jobId: string, who: Principal): Promise<JobReport> {
  const job = await readableJob(deps, jobId, who);
  const [items, answered, failed] = await Promise.all([
    deps.store.list(keys.items(jobId)),
    deps.store.list(keys.results(jobId)),
    deps.store.list(keys.failed(jobId)),
  ]);
  // A failure marker is written before its record, so a failed image is never counted as done.
  const done = Math.max(0, answered.length - failed.length);
  const counts: JobCounts = { expected: Math.max(job.announced, items.length), ingested: items.length, done, failed: failed.length };
  // Every rewrite of a record gives it a new ETag (it holds its completion time), so the listing is the version.
  const revision = createHash('sha256')
    .update(answered.map((o) => `${o.key} ${o.etag}`).join('\n'))
    .digest('hex')
    .slice(0, 16);
  return { jobId, status: jobStatus(counts), model: job.model, counts, createdAt: job.createdAt, explicit: job.explicit, revision };
}
