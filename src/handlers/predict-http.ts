// Trigger: API Gateway, POST /predict — one image, top-k labels.
import { createHash } from 'node:crypto';
import { config } from '../config';
import { parseRequestTimeout, requestDeadline } from '../core/admission';
import { classifyImage } from '../core/classify';
import { cacheHeader, getClassifier } from './deps/classifier';
import { headerOf } from './middleware/headers';
import { httpHandler, requestIdOf } from './middleware/http';
import { readImages } from './middleware/http-input';
import { prom } from './middleware/observability';
import { recordClassification } from './middleware/record';

// Built at init (Lambda's init phase runs with the full CPU, before any request waits): catalog, hashes, sessions warming.
const deps = getClassifier();

export const handler = httpHandler(async (event, context) => {
  const started = performance.now();
  const { deadlines } = config();
  const timeoutMs = parseRequestTimeout(
    { requestTimeout: headerOf(event, 'x-request-timeout'), grpcTimeout: headerOf(event, 'grpc-timeout') },
    deadlines.maxPredictMs,
  );
  const deadline = requestDeadline(timeoutMs, deadlines.predictMs, event.requestContext?.requestTimeEpoch);
  deps.engine.precheck(1, 'interactive', deadline);
  const { images, fields } = await readImages(event, config().limits, false);
  const q = event.queryStringParameters ?? {};
  const model = (fields.model as string | undefined) ?? q.model;
  const bytes = images[0] ?? new Uint8Array();
  const result = await classifyImage(deps, bytes, { model, topK: fields.topK ?? q.topK, deadline });
  // A cached answer counts as an image classified, but it took no decode or inference time to observe.
  if (result.cached) prom.images.inc({ model: result.model.name, outcome: 'ok' });
  else recordClassification(result);
  return {
    headers: cacheHeader(deps, result.cached),
    body: {
      requestId: requestIdOf(event, context),
      model: result.model,
      predictions: result.predictions,
      // The checksum of the bytes as received lets a client prove its upload arrived intact.
      image: { ...result.image, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') },
      timings: { ...result.timings, totalMs: performance.now() - started },
    },
  };
});
