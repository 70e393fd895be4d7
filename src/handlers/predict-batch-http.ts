// Trigger: API Gateway, POST /predict/batch — up to MAX_BATCH_IMAGES images, one result per image, in order.

import { config } from '../config';
import { parseRequestTimeout, requestDeadline } from '../core/admission';
import { classifyImages, resolveModel } from '../core/classify';
import { publicError } from '../core/errors';
import { cacheHeader, getClassifier } from './deps/classifier';
import { headerOf } from './middleware/headers';
import { httpHandler, requestIdOf } from './middleware/http';
import { readImages } from './middleware/http-input';
import { logger, prom } from './middleware/observability';
import { recordOutcomes } from './middleware/record';

// Built at init (Lambda's init phase runs with the full CPU, before any request waits): catalog, hashes, sessions warming.
const deps = getClassifier();

export const handler = httpHandler(async (event, context) => {
  const started = performance.now();
  const { deadlines } = config();
  const timeoutMs = parseRequestTimeout(
    { requestTimeout: headerOf(event, 'x-request-timeout'), grpcTimeout: headerOf(event, 'grpc-timeout') },
    deadlines.maxBatchMs,
  );
  const deadline = requestDeadline(timeoutMs, deadlines.batchMs, event.requestContext?.requestTimeEpoch);
  const { images, fields } = await readImages(event, config().limits, true);
  const q = event.queryStringParameters ?? {};
  const model = resolveModel(deps.catalog, (fields.model as string | undefined) ?? q.model);
  const outcomes = await classifyImages(deps, images, { model, topK: fields.topK ?? q.topK, deadline });
  // A cached answer counts as an image classified, but it took no decode or inference time to observe.
  recordOutcomes(
    model,
    outcomes.filter((o) => !o.ok || !o.cached),
  );
  for (const o of outcomes) if (o.ok && o.cached) prom.images.inc({ model, outcome: 'ok' });
  const requestId = requestIdOf(event, context);
  const results = outcomes.map((o, index) =>
    o.ok
      ? { index, ok: true, predictions: o.value.predictions, image: o.value.image, timings: o.value.timings }
      : { index, ok: false, error: publicError(o.error) },
  );
  // A fault of ours in one slot is only "internal error" to the client: the logs keep what it was.
  outcomes.forEach((o, index) => {
    if (!o.ok && !o.error.expose) logger.error('image failed', { error: o.error, requestId, index });
  });
  const manifest = deps.catalog.manifest(model);
  return {
    headers: cacheHeader(deps, outcomes.length > 0 && outcomes.every((o) => o.ok && o.cached)),
    body: {
      requestId,
      model: { name: model, version: manifest?.version },
      count: results.length,
      failed: results.filter((r) => !r.ok).length,
      results,
      timings: { totalMs: performance.now() - started },
    },
  };
});
