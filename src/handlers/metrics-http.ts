// Trigger: API Gateway, GET /metrics — Prometheus text exposition of this process's counters and histograms.
import { httpHandler } from './middleware/http';
import { prom } from './middleware/observability';

export const handler = httpHandler(async () => {
  return { headers: { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' }, body: prom.registry.render() };
}, { access: 'operator' });
