import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { logger, metrics, tracing } from './observability';

/** The shared middy stack for event-triggered functions (S3, SQS): context-aware logs, EMF metrics, traces. */
export const eventHandler = <E, R>(fn: (event: E, context: Context) => Promise<R>) =>
  middy(fn).use(injectLambdaContext(logger)).use(tracing()).use(logMetrics(metrics));
