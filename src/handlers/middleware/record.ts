import type { Outcome } from '../../core/classify';
import type { Classification } from '../../core/model';
import { prom } from './observability';

/** Per-image Prometheus figures for a classification or a failed image. */
export function recordClassification(c: Classification): void {
  prom.images.inc({ model: c.model.name, outcome: 'ok' });
  prom.decodeSeconds.observe({ model: c.model.name }, c.timings.decodeMs / 1000);
  prom.inferSeconds.observe({ model: c.model.name }, c.timings.inferMs / 1000);
  prom.queueSeconds.observe({ model: c.model.name }, c.timings.queueMs / 1000);
}

export function recordOutcomes(model: string, outcomes: readonly Outcome[]): void {
  for (const o of outcomes) {
    if (o.ok) recordClassification(o.value);
    else prom.images.inc({ model, outcome: o.error.code });
  }
}
