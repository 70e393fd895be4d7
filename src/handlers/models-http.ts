// Trigger: API Gateway, GET /models — the registered models, their input spec, checksum and load time.
import { modelCatalog } from './deps/catalog';
import { httpHandler } from './middleware/http';

// Read at init.
const catalog = modelCatalog();

export const handler = httpHandler(async () => {
  return { body: { default: catalog.defaultModel, models: catalog.info() } };
});
