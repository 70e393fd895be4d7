// Trigger: API Gateway, GET /jobs/{jobId} — status, counts and, once finished, links to the results; its owner's only.

import { BadRequestError } from '../core/errors';
import { isValidJobId } from '../core/jobs/records';
import { jobReport } from '../core/jobs/report';
import { assembleResults } from '../core/jobs/results';
import { jobLimits, objectStore } from './deps/storage';
import { httpHandler, requirePrincipal } from './middleware/http';

// Built at init: one S3 client per container.
const deps = { store: objectStore(), limits: jobLimits() };

export const handler = httpHandler(async (event) => {
  const who = requirePrincipal(event);
  const jobId = event.pathParameters?.jobId ?? '';
  if (!isValidJobId(jobId)) throw new BadRequestError('malformed job id');
  const report = await jobReport(deps, jobId, who);
  const finished = report.status === 'done' || report.status === 'failed';
  return {
    body: {
      ...report,
      results: {
        jsonl: `/jobs/${jobId}/results?format=jsonl`,
        csv: `/jobs/${jobId}/results?format=csv`,
        ...(finished ? { download: await assembleResults(deps, jobId, report.revision) } : {}),
      },
    },
  };
});
