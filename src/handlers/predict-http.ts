// Trigger: API Gateway, POST /predict — one image, top-k labels.
import { classifyImage } from '../core/classify';
import { config } from '../config';
import { getContainer } from './container';
import { httpHandler, requestIdOf } from './middleware/http';
import { readImages } from './middleware/http-input';
import { recordClassification } from './middleware/record';

export const handler = httpHandler(async (event, context) => {
  const started = performance.now();
  const deps = getContainer();
  const { images, fields } = await readImages(event, config().limits, false);
  const q = event.queryStringParameters ?? {};
  const model = (fields.model as string | undefined) ?? q.model;
  const result = await classifyImage(deps, images[0] ?? new Uint8Array(), { model, topK: fields.topK ?? q.topK });
  recordClassification(result);
  return {
    body: {
      requestId: requestIdOf(event, context),
      model: result.model,
      predictions: result.predictions,
      image: result.image,
      timings: { ...result.timings, totalMs: performance.now() - started },
    },
  };
});
