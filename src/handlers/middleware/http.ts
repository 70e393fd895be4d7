import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { config } from '../../config';
import { isAppError, publicError, UnauthorizedError } from '../../core/errors';
import type { Access, Principal } from '../../core/principal';
import { RateLimiter } from '../../core/rate-limit';
import { API_KEY_HEADER, accessGate, type Gate } from './auth';
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

/** RFC 9110 asks a 401 to name the scheme; there is no registered one for API keys, so it names the header. */
const CHALLENGE = `ApiKey realm="image-classifier", header="${API_KEY_HEADER}"`;

/** The request id clients see: API Gateway's, else the invocation's. */
export const requestIdOf = (event: APIGatewayProxyEvent, context: Context): string => event.requestContext?.requestId || context.awsRequestId;

const json = (statusCode: number, body: unknown, headers: Record<string, string> = {}): APIGatewayProxyResult => ({
  statusCode,
  headers: { 'Content-Type': 'application/json', ...headers },
  body: JSON.stringify(body),
});

/**
 * The one place errors become HTTP responses: the public form of the error (publicError), its status, Retry-After
 * and details where it may be shown. What a client is not shown is logged.
 */
export function errorResponse(err: unknown, requestId: string): APIGatewayProxyResult {
  const { status, ...body } = publicError(err);
  const shown = isAppError(err) && err.expose ? err : undefined;
  if (!shown) logger.error(isAppError(err) ? 'request failed' : 'unhandled error', { error: err as Error, requestId });
  const headers: Record<string, string> = shown?.retryAfterSeconds === undefined ? {} : { 'Retry-After': String(shown.retryAfterSeconds) };
  if (err instanceof UnauthorizedError) headers['WWW-Authenticate'] = CHALLENGE;
  return json(status, { ...body, requestId, ...(shown?.details ? { details: shown.details } : {}) }, headers);
}

const routeOf = (event: APIGatewayProxyEvent): string => `${event.httpMethod} ${event.resource ?? event.path}`;

// Module scope: under serverless-offline every function runs in one process, so one set of buckets serves them all.
let gate: Gate | undefined;
const gateOfProcess = (): Gate => {
  if (!gate) {
    const { auth } = config();
    if (auth.mode === 'keys' && auth.keys.length === 0) logger.warn('AUTH_MODE=keys and API_KEYS is empty: every route but /health answers 401');
    gate = accessGate(auth, new RateLimiter(() => performance.now()));
  }
  return gate;
};

const principals = new WeakMap<APIGatewayProxyEvent, Principal>();

/** The client the gate admitted for this event; undefined on a public route. */
export const principalOf = (event: APIGatewayProxyEvent): Principal | undefined => principals.get(event);

/**
 * The client of a keyed route. The gate admits no request to one without a principal; this keeps a route
 * misconfigured as public closed all the same.
 */
export function requirePrincipal(event: APIGatewayProxyEvent): Principal {
  const who = principals.get(event);
  if (!who) throw new UnauthorizedError(`this route needs an API key in the ${API_KEY_HEADER} header`);
  return who;
}

/** Access control, response shaping, error mapping and Prometheus request metrics for every HTTP function. */
const httpCore = (access: Access): middy.MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult, Error, Context> => {
  const started = new WeakMap<object, number>();
  const gateHeaders = new WeakMap<object, Record<string, string>>();
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
      headers: {
        ...request.response?.headers,
        ...gateHeaders.get(request.event),
        ...corsHeaders(headerOf(request.event, 'origin'), config().corsOrigins),
        'X-Request-Id': requestId,
      },
      body: request.response?.body ?? '',
    };
  };
  return {
    before: (request) => {
      started.set(request.event, performance.now());
      // Before the handler reads its body: a refused request costs a header lookup and a hash.
      const decision = gateOfProcess()(request.event, access);
      gateHeaders.set(request.event, decision.headers);
      if (decision.refusal) throw decision.refusal;
      if (decision.principal) principals.set(request.event, decision.principal);
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

export interface HttpOptions {
  /** Who may call the route (default `client`: any valid API key). */
  access?: Access;
}

/** Wraps a thin HTTP handler in the shared middy stack. */
export const httpHandler = (fn: HttpFn, options: HttpOptions = {}) =>
  middy(fn as unknown as (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>)
    .use(injectLambdaContext(logger))
    .use(tracing())
    .use(logMetrics(metrics))
    .use(httpCore(options.access ?? 'client'));
