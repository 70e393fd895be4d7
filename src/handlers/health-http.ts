// Trigger: API Gateway, GET /health — liveness (always answers) and readiness (models loaded and warmed).
import { getContainer } from './container';
import { httpHandler } from './middleware/http';

const WARM_WAIT_MS = 50;

export const handler = httpHandler(async () => {
  const { engine, catalog, startedAt } = getContainer();
  // Readiness is "ready() has resolved"; give a nearly-warm engine a moment rather than flapping.
  const state = await Promise.race([
    engine.ready().then(
      () => 'ready' as const,
      (err: unknown) => ({ failed: err instanceof Error ? err.message : String(err) }),
    ),
    new Promise<'starting'>((r) => setTimeout(() => r('starting'), WARM_WAIT_MS)),
  ]);
  const ready = state === 'ready';
  const def = catalog.manifest(catalog.defaultModel);
  return {
    statusCode: ready ? 200 : 503,
    headers: (ready ? {} : { 'Retry-After': '1' }) as Record<string, string>,
    body: {
      status: ready ? 'ok' : typeof state === 'object' ? 'failed' : 'starting',
      live: true,
      ready,
      ...(typeof state === 'object' ? { error: state.failed } : {}),
      model: { name: catalog.defaultModel, version: def?.version },
      models: catalog.names(),
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
      engine: engine.stats(),
    },
  };
});
