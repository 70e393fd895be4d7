// Trigger: API Gateway, POST /jobs — a batch job and presigned PUT URLs for its images.
import { createJob } from '../core/batch';
import { BadRequestError } from '../core/errors';
import { modelCatalog } from './deps/catalog';
import { jobLimits, objectStore } from './deps/storage';
import { httpHandler } from './middleware/http';

// Built at init: the S3 client and the manifests.
const deps = { store: objectStore(), catalog: modelCatalog(), limits: jobLimits() };

export const handler = httpHandler(async (event) => {
  let input: Record<string, unknown> = {};
  if (event.body) {
    try {
      const raw = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
      input = JSON.parse(raw) as Record<string, unknown>;
    } catch (err: unknown) {
      throw new BadRequestError('the body must be JSON like {"count": 20, "model": "mobilenetv2-int8"}', { cause: err });
    }
  }
  const created = await createJob(deps, input);
  return {
    statusCode: 201,
    headers: { Location: `/jobs/${created.job.jobId}` },
    body: { jobId: created.job.jobId, model: created.job.model, topK: created.job.topK, uploadPrefix: created.uploadPrefix, expiresInSeconds: created.expiresInSeconds, uploads: created.uploads },
  };
});
