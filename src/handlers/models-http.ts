// Trigger: API Gateway, GET /models — the registered models, their input spec, checksum and load time.
import { getContainer } from './container';
import { httpHandler } from './middleware/http';

export const handler = httpHandler(async () => {
  const { catalog } = getContainer();
  return { body: { default: catalog.defaultModel, models: catalog.info() } };
});
