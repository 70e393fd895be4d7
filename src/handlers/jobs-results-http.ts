// Trigger: API Gateway, GET /jobs/{jobId}/results?format=jsonl|csv&limit=&after= — a page of a job's result records so far.

import { BadRequestError } from '../core/errors';
import { isValidJobId } from '../core/jobs/records';
import { jobReport } from '../core/jobs/report';
import { jobResultsPage, parsePageLimit, RESULTS_PAGE } from '../core/jobs/results';
import { jobLimits, objectStore } from './deps/storage';
import { httpHandler, requirePrincipal } from './middleware/http';

// Built at init: one S3 client per container.
const deps = { store: objectStore(), limits: jobLimits() };

export const handler = httpHandler(async (event) => {
  const who = requirePrincipal(event);
  const jobId = event.pathParameters?.jobId ?? '';
  if (!isValidJobId(jobId)) throw new BadRequestError('malformed job id');
  const query = event.queryStringParameters ?? {};
  const format = query.format ?? 'jsonl';
  if (format !== 'jsonl' && format !== 'csv') throw new BadRequestError('format must be jsonl or csv');
  const limit = parsePageLimit(query.limit);
  const report = await jobReport(deps, jobId, who);
  const page = await jobResultsPage(deps, jobId, { after: query.after, limit, maxBytes: RESULTS_PAGE.maxBytes, format });
  const headers: Record<string, string> = {
    'Content-Type': format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson',
    'X-Job-Status': report.status,
  };
  if (page.next !== undefined) {
    headers.Link = `</jobs/${jobId}/results?format=${format}&limit=${limit}&after=${encodeURIComponent(page.next)}>; rel="next"`;
    headers['X-Next-Cursor'] = page.next;
  }
  return { headers, body: page.body };
});
