// Trigger: API Gateway, GET /metrics — Prometheus text exposition of this container's counters, histograms and
// Node's process metrics.
import { httpHandler } from './middleware/http';
import { prom } from './middleware/observability';

export const handler = httpHandler(
  async () => {
    return { headers: { 'Content-Type': prom.registry.contentType }, body: await prom.registry.metrics() };
  },
  { access: 'operator' },
);
