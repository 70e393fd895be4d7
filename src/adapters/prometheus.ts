/**
 * GET /metrics through prom-client. One Registry per container, never prom-client's global one: a second copy of
 * the module in one process (a jest file, a reloaded handler) then builds its own instead of colliding by name.
 * Histograms (not summaries) so figures aggregate across instances.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export { Counter, Gauge, Histogram, Registry };

/**
 * prom-client's event-loop lag gauges: they reset at every scrape, so two scrapes within its 10 ms resolution read
 * NaN, and a Lambda container's freeze between invocations reads as lag. `nodejs_eventloop_delay_seconds` (a
 * histogram of ours, see watchEventLoop) says the same without either.
 */
const LAG_GAUGES = ['', '_min', '_max', '_mean', '_stddev', '_p50', '_p90', '_p99'].map((s) => `nodejs_eventloop_lag${s}_seconds`);

/** A fresh registry with Node's process, heap and GC metrics (process_*, nodejs_*) in it. */
export function containerRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  for (const name of LAG_GAUGES) registry.removeSingleMetric(name);
  return registry;
}

type Labels<T extends string> = Partial<Record<T, string>>;

/** A figure something else keeps (an engine, a cache), read at each scrape: one reader per label set. */
export interface Tracked<T extends string> {
  track(labels: Labels<T>, read: () => number): void;
}

interface TrackedConfig<T extends string> {
  name: string;
  help: string;
  labelNames?: readonly T[];
  registry: Registry;
}

function readers<T extends string>(labelNames: readonly T[] = []) {
  const byKey = new Map<string, [Labels<T>, () => number]>();
  return {
    entries: () => byKey.values(),
    track: (labels: Labels<T>, read: () => number) => {
      byKey.set(labelNames.map((n) => labels[n] ?? '').join('\u0000'), [labels, read]);
    },
  };
}

/** A gauge whose values are read from their keepers at each scrape. */
export function trackedGauge<T extends string>(c: TrackedConfig<T>): Tracked<T> {
  const r = readers(c.labelNames);
  new Gauge<T>({
    name: c.name,
    help: c.help,
    labelNames: c.labelNames ?? [],
    registers: [c.registry],
    collect() {
      for (const [labels, read] of r.entries()) this.set(labels, read());
    },
  });
  return { track: r.track };
}

/** A counter another object keeps (monotonic there), read at each scrape: exposed with counter semantics. */
export function trackedCounter<T extends string>(c: TrackedConfig<T>): Tracked<T> {
  const r = readers(c.labelNames);
  new Counter<T>({
    name: c.name,
    help: c.help,
    labelNames: c.labelNames ?? [],
    registers: [c.registry],
    collect() {
      this.reset();
      for (const [labels, read] of r.entries()) this.inc(labels, read());
    },
  });
  return { track: r.track };
}
