// Trigger: API Gateway, POST /jobs — a batch job owned by the caller, and a presigned POST form per upload.

import { config } from '../config';
import { createJob } from '../core/jobs/create-job';
import { modelCatalog } from './deps/catalog';
import { jobLimits, objectStore } from './deps/storage';
import { httpHandler, requirePrincipal } from './middleware/http';
import { readJsonObject } from './middleware/http-input';

// Built at init: the S3 client and the manifests. The forms bound zips and manifests as ingest will.
const { ingest } = config();
const deps = {
  store: objectStore(),
  catalog: modelCatalog(),
  limits: jobLimits(),
  ingestLimits: { maxZipBytes: ingest.maxZipBytes, maxManifestBytes: ingest.maxManifestBytes },
};

// Room for the most names a job takes (MAX_PRESIGNED_URLS, 1,000 by default) at 255 bytes each, escaped.
const MAX_JOB_REQUEST_BYTES = 1024 * 1024;

export const handler = httpHandler(async (event) => {
  const who = requirePrincipal(event);
  const input = readJsonObject(event, MAX_JOB_REQUEST_BYTES, '{"count": 20, "model": "mobilenetv2-int8"}');
  const created = await createJob(deps, who, input);
  return {
    statusCode: 201,
    headers: { Location: `/jobs/${created.job.jobId}` },
    body: {
      jobId: created.job.jobId,
      model: created.job.model,
      topK: created.job.topK,
      uploadPrefix: created.uploadPrefix,
      expiresInSeconds: created.expiresInSeconds,
      uploads: created.uploads,
    },
  };
});
