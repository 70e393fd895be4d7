// @ts-check
// The Prometheus text of GET /metrics, and what the Operate charts plot from two scrapes of it: rates of counters
// and quantiles of histogram buckets over the interval between them (as PromQL's rate() and histogram_quantile()).

/** @typedef {{ name: string; labels: Record<string, string>; value: number }} Sample */
/** @typedef {{ t: number; samples: Sample[] }} Scrape */

const LINE = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/**
 * Parses the text exposition format (comments and blank lines skipped).
 * @param {string} text
 * @returns {Sample[]}
 */
export function parsePrometheus(text) {
  /** @type {Sample[]} */
  const out = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    /** @type {Record<string, string>} */
    const labels = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1] ?? ''] = (l[2] ?? '').replace(/\\n/g, '\n').replace(/\\(.)/g, '$1');
    const value = Number(m[3]);
    if (Number.isFinite(value) || m[3] === '+Inf') out.push({ name: m[1] ?? '', labels, value });
  }
  return out;
}

/**
 * Sums of a metric's samples, grouped by one label (or all together when `by` is empty), keeping those `keep` allows.
 * @param {Sample[]} samples
 * @param {string} name
 * @param {string} by
 * @param {(labels: Record<string, string>) => boolean} [keep]
 * @returns {Map<string, number>}
 */
export function sumBy(samples, name, by, keep = () => true) {
  /** @type {Map<string, number>} */
  const out = new Map();
  for (const s of samples) {
    if (s.name !== name || !keep(s.labels)) continue;
    const k = by ? (s.labels[by] ?? '') : '';
    out.set(k, (out.get(k) ?? 0) + s.value);
  }
  return out;
}

/**
 * Per-second rates of a counter between two scrapes, by label; a counter that went down (a restarted process) has
 * no rate for that interval.
 * @param {Scrape} a
 * @param {Scrape} b
 * @param {string} name
 * @param {string} by
 * @param {(labels: Record<string, string>) => boolean} [keep]
 * @returns {Map<string, number | null>}
 */
export function rates(a, b, name, by, keep) {
  const before = sumBy(a.samples, name, by, keep);
  const after = sumBy(b.samples, name, by, keep);
  const dt = b.t - a.t;
  /** @type {Map<string, number | null>} */
  const out = new Map();
  for (const [k, v] of after) {
    const d = v - (before.get(k) ?? 0);
    out.set(k, dt > 0 && d >= 0 ? d / dt : null);
  }
  return out;
}

/**
 * Quantiles (0–1) of a histogram's observations between two scrapes, in the histogram's unit; null without any.
 * Linear interpolation inside the bucket, as histogram_quantile() does.
 * @param {Scrape} a
 * @param {Scrape} b
 * @param {string} name  the histogram's name (its `_bucket` series are read)
 * @param {number[]} qs
 * @param {(labels: Record<string, string>) => boolean} [keep]
 * @returns {Array<number | null>}
 */
export function quantiles(a, b, name, qs, keep = () => true) {
  const before = sumBy(a.samples, `${name}_bucket`, 'le', keep);
  const after = sumBy(b.samples, `${name}_bucket`, 'le', keep);
  const buckets = [...after]
    .map(([le, v]) => ({ le: le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le), count: v - (before.get(le) ?? 0) }))
    .sort((x, y) => x.le - y.le);
  const total = buckets.at(-1)?.count ?? 0;
  if (!(total > 0) || buckets.some((x) => x.count < 0)) return qs.map(() => null);
  return qs.map((q) => {
    const rank = q * total;
    let lower = 0;
    let below = 0;
    for (const bucket of buckets) {
      if (bucket.count >= rank) {
        // Past the last finite bound nothing is known but that bound.
        if (!Number.isFinite(bucket.le)) return lower;
        return bucket.count === below ? bucket.le : lower + ((bucket.le - lower) * (rank - below)) / (bucket.count - below);
      }
      lower = bucket.le;
      below = bucket.count;
    }
    return lower;
  });
}
