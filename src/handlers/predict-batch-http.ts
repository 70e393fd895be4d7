// Trigger: API Gateway, POST /predict/batch — up to MAX_BATCH_IMAGES images, one result per image, in order.
import { classifyImages, resolveModel } from '../core/classify';
import { config } from '../config';
import { getClassifier } from './deps/classifier';
import { httpHandler, requestIdOf } from './middleware/http';
import { readImages } from './middleware/http-input';
import { recordOutcomes } from './middleware/record';

// Built at init (Lambda's init phase runs with the full CPU, before any request waits): catalog, hashes, sessions warming.
const deps = getClassifier();

export const handler = httpHandler(async (event, context) => {
  const started = performance.now();
  const { images, fields } = await readImages(event, config().limits, true);
  const q = event.queryStringParameters ?? {};
  const model = resolveModel(deps.catalog, (fields.model as string | undefined) ?? q.model);
  const outcomes = await classifyImages(deps, images, { model, topK: fields.topK ?? q.topK });
  recordOutcomes(model, outcomes);
  const requestId = requestIdOf(event, context);
  const results = outcomes.map((o, index) =>
    o.ok
      ? { index, ok: true, predictions: o.value.predictions, image: o.value.image, timings: o.value.timings }
      : { index, ok: false, error: { code: o.error.code, status: o.error.statusCode, message: o.error.message } },
  );
  const manifest = deps.catalog.manifest(model);
  return {
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
