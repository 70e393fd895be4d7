// Trigger: API Gateway, GET /health — liveness (always answers) and, where this process classifies, readiness.
import { config } from '../config';
import { publicError } from '../core/errors';
import type { Classifier } from './deps/classifier';
import { httpHandler } from './middleware/http';
import { logger } from './middleware/observability';

const WARM_WAIT_MS = 50;
const startedAt = Date.now();
let loggedFailure = false;

/**
 * The classifier whose readiness this answer reports. Locally every function shares one process, and so one
 * engine, built here so that `npm start` is ready when the models are warm. In AWS each function has its own
 * containers and this one never classifies: it loads no model (the bundler leaves deps/classifier out of it),
 * and every classifying container warms its own sessions at cold start.
 */
async function classifierOfThisProcess(): Promise<Classifier | undefined> {
  if (!config().offline) return undefined;
  const { getClassifier } = await import('./deps/classifier');
  return getClassifier();
}

export const handler = httpHandler(
  async () => {
    const classifier = await classifierOfThisProcess();
    const uptimeSeconds = Math.round((Date.now() - startedAt) / 1000);
    if (!classifier) {
      return { body: { status: 'ok', live: true, ready: true, model: { name: config().defaultModel }, stage: config().stage, uptimeSeconds } };
    }
    const { engine, catalog } = classifier;
    // Readiness is "ready() has resolved"; give a nearly-warm engine a moment rather than flapping.
    const state = await Promise.race([
      engine.ready().then(
        () => 'ready' as const,
        (err: unknown) => {
          // Logged once with its cause (which files, which checksum); the public answer says only what failed.
          if (!loggedFailure) logger.error('models failed to load', { error: err as Error, cause: (err as Error)?.cause as Error | undefined });
          loggedFailure = true;
          return { failed: publicError(err).message };
        },
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
        stage: config().stage,
        uptimeSeconds,
        engine: engine.stats(),
      },
    };
    // Load balancers and `npm start`'s readiness wait call it without a key.
  },
  { access: 'public' },
);
