// Trigger: API Gateway, GET /jobs/{jobId}/results?format=jsonl|csv — every result record of a job so far.
import { jobReport, jobResults } from '../core/batch';
import { BadRequestError } from '../core/errors';
import { isValidJobId, resultsCsv, resultsJsonl } from '../core/jobs';
import { jobLimits, objectStore } from './deps/storage';
import { httpHandler } from './middleware/http';

export const handler = httpHandler(async (event) => {
  const jobId = event.pathParameters?.jobId ?? '';
  if (!isValidJobId(jobId)) throw new BadRequestError('malformed job id');
  const format = event.queryStringParameters?.format ?? 'jsonl';
  if (format !== 'jsonl' && format !== 'csv') throw new BadRequestError('format must be jsonl or csv');
  const deps = { store: objectStore(), limits: jobLimits() };
  const report = await jobReport(deps, jobId);
  const records = await jobResults(deps, jobId);
  return {
    headers: {
      'Content-Type': format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson',
      'X-Job-Status': report.status,
    },
    body: format === 'csv' ? resultsCsv(records) : resultsJsonl(records),
  };
});
