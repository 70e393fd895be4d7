import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Tracer } from '@aws-lambda-powertools/tracer';
import type middy from '@middy/core';
import { Counter, containerRegistry, Histogram, trackedCounter, trackedGauge } from '../../adapters/prometheus';

/** One service name for logs, metrics and traces. */
const serviceName = process.env.POWERTOOLS_SERVICE_NAME || 'image-classifier';

export const logger = new Logger({ serviceName });
/** CloudWatch EMF metrics in AWS; disabled locally with POWERTOOLS_METRICS_DISABLED. */
export const metrics = new Metrics({ namespace: 'ImageClassifier', serviceName });
/**
 * X-Ray tracing, only where it is on: loading the X-Ray SDK installs process-wide async hooks (cls-hooked)
 * that cost ~1 ms of main-thread time per request in the local single-process stack.
 */
export const tracer: Tracer | undefined =
  process.env.POWERTOOLS_TRACE_ENABLED === 'false'
    ? undefined
    : new (require('@aws-lambda-powertools/tracer') as typeof import('@aws-lambda-powertools/tracer')).Tracer({ serviceName });

/** The tracing middleware, or a no-op when tracing is off. */
export const tracing = (): middy.MiddlewareObj =>
  tracer
    ? (require('@aws-lambda-powertools/tracer/middleware') as typeof import('@aws-lambda-powertools/tracer/middleware')).captureLambdaHandler(
        tracer,
        {
          captureResponse: false,
        },
      )
    : { before: () => undefined };

/** Metric names, kept in one place. */
export const MetricName = {
  requests: 'http_requests_total',
  requestSeconds: 'http_request_duration_seconds',
  decodeSeconds: 'image_decode_duration_seconds',
  inferSeconds: 'model_inference_duration_seconds',
  queueSeconds: 'inference_queue_wait_seconds',
  images: 'images_classified_total',
  shed: 'requests_shed_total',
  modelLoadSeconds: 'model_load_seconds',
  engineQueued: 'inference_queued_images',
  engineInFlight: 'inference_in_flight_images',
  eventLoopDelay: 'nodejs_eventloop_delay_seconds',
  shedEarly: 'requests_shed_early_total',
  admissionShed: 'admission_shed_total',
  expired: 'inference_expired_requests_total',
  servicePerImage: 'inference_service_seconds_per_image',
  standingQueue: 'admission_standing_queue',
  cacheHits: 'response_cache_hits_total',
  cacheMisses: 'response_cache_misses_total',
  cacheEntries: 'response_cache_entries',
} as const;

const latencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const stageBuckets = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1];

const registry = containerRegistry();
const registers = [registry];

/**
 * Prometheus metrics for GET /metrics, per container: locally (serverless-offline in process) that is the whole
 * service, every handler sharing this module; in AWS each function's container has its own.
 */
export const prom = {
  registry,
  requests: new Counter({ name: MetricName.requests, help: 'HTTP requests by route and status code.', labelNames: ['route', 'status'], registers }),
  requestSeconds: new Histogram({
    name: MetricName.requestSeconds,
    help: 'HTTP request latency inside the function.',
    labelNames: ['route'],
    buckets: latencyBuckets,
    registers,
  }),
  decodeSeconds: new Histogram({
    name: MetricName.decodeSeconds,
    help: 'Decode, resize and crop time per image.',
    labelNames: ['model'],
    buckets: stageBuckets,
    registers,
  }),
  inferSeconds: new Histogram({
    name: MetricName.inferSeconds,
    help: 'Model inference time per image.',
    labelNames: ['model'],
    buckets: stageBuckets,
    registers,
  }),
  queueSeconds: new Histogram({
    name: MetricName.queueSeconds,
    help: 'Time an image waited for an inference slot.',
    labelNames: ['model'],
    buckets: latencyBuckets,
    registers,
  }),
  images: new Counter({ name: MetricName.images, help: 'Images classified, by model and outcome.', labelNames: ['model', 'outcome'], registers }),
  shed: new Counter({ name: MetricName.shed, help: 'Requests refused by admission control, by route.', labelNames: ['route'], registers }),
  modelLoadSeconds: trackedGauge({
    name: MetricName.modelLoadSeconds,
    help: 'Time to create and warm up each model session.',
    labelNames: ['model'],
    registry,
  }),
  engineQueued: trackedGauge({ name: MetricName.engineQueued, help: 'Images waiting for the inference pool.', registry }),
  engineInFlight: trackedGauge({ name: MetricName.engineInFlight, help: 'Images being decoded or inferred.', registry }),
  eventLoopDelay: new Histogram({
    name: MetricName.eventLoopDelay,
    help: 'How late a 100 ms timer fires on the thread that serves HTTP.',
    buckets: stageBuckets,
    registers,
  }),
  shedEarly: new Counter({
    name: MetricName.shedEarly,
    help: 'Requests shed before their body was read (local front door), by route; also in requests_shed_total.',
    labelNames: ['route'],
    registers,
  }),
  admissionShed: trackedCounter({
    name: MetricName.admissionShed,
    help: 'Requests admission control refused, by lane and reason (standing-queue, deadline, queue-full).',
    labelNames: ['lane', 'reason'],
    registry,
  }),
  expired: trackedCounter({
    name: MetricName.expired,
    help: 'Requests dropped unclassified because their deadline passed before their images ran (on arrival, or while they waited).',
    registry,
  }),
  servicePerImage: trackedGauge({
    name: MetricName.servicePerImage,
    help: 'Measured pool time per image: the inverse of the inference throughput.',
    registry,
  }),
  standingQueue: trackedGauge({
    name: MetricName.standingQueue,
    help: '1 while a lane has a standing queue (admission sheds past its budget), else 0.',
    labelNames: ['lane'],
    registry,
  }),
  cacheHits: trackedCounter({
    name: MetricName.cacheHits,
    help: 'Images answered from the response cache (also counted in images_classified_total).',
    registry,
  }),
  cacheMisses: trackedCounter({ name: MetricName.cacheMisses, help: 'Images looked up in the response cache and not found.', registry }),
  cacheEntries: trackedGauge({ name: MetricName.cacheEntries, help: 'Answers held by the response cache.', registry }),
};

const EVENT_LOOP_PROBE_MS = 100;

/**
 * Samples the event-loop delay of a process that serves many invocations at once (locally, every request):
 * the wait a request sees before its handler even runs, and so the floor under the latency of a shed answer.
 * A timer's lateness rather than perf_hooks' monitor, so the figures land in Prometheus buckets that add up
 * across scrapes and instances. Not for Lambda, where a frozen container would report the freeze as delay.
 */
export function watchEventLoop(): void {
  let due = performance.now() + EVENT_LOOP_PROBE_MS;
  setInterval(() => {
    const now = performance.now();
    prom.eventLoopDelay.observe({}, Math.max(0, now - due) / 1000);
    due = now + EVENT_LOOP_PROBE_MS;
  }, EVENT_LOOP_PROBE_MS).unref();
}
