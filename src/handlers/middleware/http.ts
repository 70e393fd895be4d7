import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { config } from '../../config';
import { isAppError } from '../../core/errors';
import { corsHeaders } from './cors';
import { headerOf } from './headers';
import { logger, metrics, prom, tracing } from './observability';

/** What a thin HTTP handler returns; the stack turns it into an API Gateway response. */
export interface HttpResult {
  statusCode?: number;
  /** Objects are sent as JSON; strings as they are. */
  body: unknown;
  headers?: Record<string, string>;
}

export type HttpFn = (event: APIGatewayProxyEvent, context: Context) => Promise<HttpResult>;

/** The request id clients see: API Gateway's, else the invocation's. */
export const requestIdOf = (event: APIGatewayProxyEvent, context: Context): string =>
  event.requestContext?.requestId || context.awsRequestId;

const json = (statusCode: number, body: unknown, headers: Record<string, string> = {}): APIGatewayProxyResult => ({
  statusCode,
  headers: { 'Content-Type': 'application/json', ...headers },
  body: JSON.stringify(body),
});

/**
 * The one place errors become HTTP responses: our AppErrors keep their status, code and Retry-After;
 * anything else is logged and answered with a generic 500.
 */
export function errorResponse(err: unknown, requestId: string): APIGatewayProxyResult {
  if (isAppError(err)) {
    const headers: Record<string, string> = err.retryAfterSeconds === undefined ? {} : { 'Retry-After': String(err.retryAfterSeconds) };
    if (err.statusCode >= 500 && err.retryAfterSeconds === undefined) logger.error('request failed', { error: err, requestId });
    return json(
      err.statusCode,
      {
        error: err.name.replace(/Error$/, ''),
        code: err.code,
        message: err.expose ? err.message : 'internal error',
        requestId,
        ...(err.details ? { details: err.details } : {}),
      },
      headers,
    );
  }
  logger.error('unhandled error', { error: err as Error, requestId });
  return json(500, { error: 'Internal', code: 'INTERNAL', message: 'internal error', requestId });
}

const routeOf = (event: APIGatewayProxyEvent): string => `${event.httpMethod} ${event.resource ?? event.path}`;

/** Response shaping, error mapping and Prometheus request metrics for every HTTP function. */
const httpCore = (): middy.MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult, Error, Context> => {
  const started = new WeakMap<object, number>();
  const observe = (request: middy.Request<APIGatewayProxyEvent, APIGatewayProxyResult, Error, Context>) => {
    const status = request.response?.statusCode ?? 500;
    const route = routeOf(request.event);
    prom.requests.inc({ route, status: String(status) });
    const t0 = started.get(request.event);
    if (t0 !== undefined) prom.requestSeconds.observe({ route }, (performance.now() - t0) / 1000);
    if (status === 503 || status === 429) prom.shed.inc({ route });
    // EMF in AWS (CloudWatch): one data point per request, by status class.
    metrics.addMetric(status >= 500 ? 'Http5xx' : status >= 400 ? 'Http4xx' : 'Http2xx', MetricUnit.Count, 1);
    const requestId = requestIdOf(request.event, request.context);
    request.response = {
      ...request.response,
      statusCode: status,
      headers: { ...request.response?.headers, ...corsHeaders(headerOf(request.event, 'origin'), config().corsOrigins), 'X-Request-Id': requestId },
      body: request.response?.body ?? '',
    };
  };
  return {
    before: (request) => {
      started.set(request.event, performance.now());
    },
    after: (request) => {
      const result = request.response as unknown as HttpResult;
      const headers = result.headers ?? {};
      request.response =
        typeof result.body === 'string'
          ? { statusCode: result.statusCode ?? 200, headers, body: result.body }
          : json(result.statusCode ?? 200, result.body, headers);
      observe(request);
    },
    onError: (request) => {
      request.response = errorResponse(request.error, requestIdOf(request.event, request.context));
      observe(request);
    },
  };
};

/** Wraps a thin HTTP handler in the shared middy stack. */
export const httpHandler = (fn: HttpFn) =>
  middy(fn as unknown as (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>)
    .use(injectLambdaContext(logger))
    .use(tracing())
    .use(logMetrics(metrics))
    .use(httpCore());
