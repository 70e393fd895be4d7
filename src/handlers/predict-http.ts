// Trigger: API Gateway, POST /predict — one image, top-k labels.
import { createHash } from 'node:crypto';
import { classifyImage } from '../core/classify';
import { config } from '../config';
import { getClassifier } from './deps/classifier';
import { httpHandler, requestIdOf } from './middleware/http';
import { readImages } from './middleware/http-input';
import { recordClassification } from './middleware/record';

// Built at init (Lambda's init phase runs with the full CPU, before any request waits): catalog, hashes, sessions warming.
const deps = getClassifier();

export const handler = httpHandler(async (event, context) => {
  const started = performance.now();
  deps.engine.precheck(1, 'interactive');
  const { images, fields } = await readImages(event, config().limits, false);
  const q = event.queryStringParameters ?? {};
  const model = (fields.model as string | undefined) ?? q.model;
  const bytes = images[0] ?? new Uint8Array();
  const result = await classifyImage(deps, bytes, { model, topK: fields.topK ?? q.topK });
  recordClassification(result);
  return {
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
