import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Tracer } from '@aws-lambda-powertools/tracer';
import type middy from '@middy/core';
import { Counter, Gauge, Histogram, ObservedCounter, Registry } from '../../adapters/prometheus';

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
    ? (require('@aws-lambda-powertools/tracer/middleware') as typeof import('@aws-lambda-powertools/tracer/middleware')).captureLambdaHandler(tracer, {
        captureResponse: false,
      })
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

/** Prometheus registry for GET /metrics (per process: locally that is the whole service). */
export const prom = {
  registry: new Registry(),
  requests: new Counter(MetricName.requests, 'HTTP requests by route and status code.'),
  requestSeconds: new Histogram(MetricName.requestSeconds, 'HTTP request latency inside the function.', latencyBuckets),
  decodeSeconds: new Histogram(MetricName.decodeSeconds, 'Decode, resize and crop time per image.', stageBuckets),
  inferSeconds: new Histogram(MetricName.inferSeconds, 'Model inference time per image.', stageBuckets),
  queueSeconds: new Histogram(MetricName.queueSeconds, 'Time an image waited for an inference slot.', latencyBuckets),
  images: new Counter(MetricName.images, 'Images classified, by model and outcome.'),
  shed: new Counter(MetricName.shed, 'Requests refused by admission control, by route.'),
  modelLoadSeconds: new Gauge(MetricName.modelLoadSeconds, 'Time to create and warm up each model session.'),
  engineQueued: new Gauge(MetricName.engineQueued, 'Images waiting for the inference pool.'),
  engineInFlight: new Gauge(MetricName.engineInFlight, 'Images being decoded or inferred.'),
  eventLoopDelay: new Histogram(MetricName.eventLoopDelay, 'How late a 100 ms timer fires on the thread that serves HTTP.', stageBuckets),
  shedEarly: new Counter(MetricName.shedEarly, 'Requests shed before their body was read (local front door), by route; also in requests_shed_total.'),
  admissionShed: new ObservedCounter(MetricName.admissionShed, 'Requests admission control refused, by lane and reason (standing-queue, deadline, queue-full).'),
  expired: new ObservedCounter(MetricName.expired, 'Requests dropped unclassified because their deadline passed while they waited.'),
  servicePerImage: new Gauge(MetricName.servicePerImage, 'Measured pool time per image: the inverse of the inference throughput.'),
  standingQueue: new Gauge(MetricName.standingQueue, '1 while a lane has a standing queue (admission sheds past its budget), else 0.'),
  cacheHits: new ObservedCounter(MetricName.cacheHits, 'Images answered from the response cache (also counted in images_classified_total).'),
  cacheMisses: new ObservedCounter(MetricName.cacheMisses, 'Images looked up in the response cache and not found.'),
  cacheEntries: new Gauge(MetricName.cacheEntries, 'Answers held by the response cache.'),
};
for (const m of [
  prom.requests,
  prom.requestSeconds,
  prom.decodeSeconds,
  prom.inferSeconds,
  prom.queueSeconds,
  prom.images,
  prom.shed,
  prom.modelLoadSeconds,
  prom.engineQueued,
  prom.engineInFlight,
  prom.eventLoopDelay,
  prom.shedEarly,
  prom.admissionShed,
  prom.expired,
  prom.servicePerImage,
  prom.standingQueue,
  prom.cacheHits,
  prom.cacheMisses,
  prom.cacheEntries,
]) {
  prom.registry.register(m);
}

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
