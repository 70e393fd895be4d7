// @ts-check
// Operate: GET /metrics scraped every few seconds once the view was opened, the last minutes charted; the models
// (version, sha256, load time) and readiness from GET /health.
import { ApiError, api, apiJson, describeError } from './api.js';
import { colorOf, lineChart } from './chart.js';
import { byId, h, showError, sleep } from './dom.js';
import { parsePrometheus, quantiles, rates } from './metrics.js';

/** @typedef {import('./metrics.js').Scrape} Scrape */

const SCRAPE_MS = 2000;
/** Scrapes kept: the longest window at the scrape interval. */
const KEEP = (15 * 60 * 1000) / SCRAPE_MS;

export function initOperate() {
  const route = byId('operate-route', HTMLSelectElement);
  const windowSelect = byId('operate-window', HTMLSelectElement);
  const error = byId('operate-error', HTMLElement);
  const health = byId('operate-health', HTMLElement);
  /** @type {Scrape[]} */
  const scrapes = [];
  let running = false;
  let modelsShown = false;

  const draw = () => {
    const t1 = scrapes.at(-1)?.t ?? Date.now() / 1000;
    // The axis grows with the history up to the chosen window, so a view opened a moment ago is not all blank.
    const windowS = Math.min(Number(windowSelect.value), Math.max(60, Math.ceil((t1 - (scrapes[0]?.t ?? t1)) / 60) * 60));
    const chosen = route.value;
    const onRoute = (/** @type {Record<string, string>} */ l) => !chosen || l.route === chosen;
    /** @type {Map<string, Array<[number, number | null]>>} */
    const byStatus = new Map();
    /** @type {Map<string, Array<[number, number | null]>>} */
    const byModel = new Map();
    /** @type {Array<[number, number | null]>[]} */
    const latency = [[], [], []];
    /** @type {Array<[number, number | null]>[]} */
    const shed = [[], []];
    /** @type {Array<[number, number | null]>[]} */
    const queue = [[], []];
    /** @param {Map<string, Array<[number, number | null]>>} m @param {string} k @param {number} t @param {number | null} v */
    const push = (m, k, t, v) => {
      const list = m.get(k) ?? [];
      list.push([t, v]);
      m.set(k, list);
    };
    for (let i = 1; i < scrapes.length; i++) {
      const a = /** @type {Scrape} */ (scrapes[i - 1]);
      const b = /** @type {Scrape} */ (scrapes[i]);
      for (const [status, v] of rates(a, b, 'http_requests_total', 'status', onRoute)) push(byStatus, status, b.t, v);
      const qs = quantiles(a, b, 'http_request_duration_seconds', [0.5, 0.95, 0.99], onRoute);
      for (const [j, q] of qs.entries()) latency[j]?.push([b.t, q === null ? null : q * 1000]);
      const statusRates = rates(a, b, 'http_requests_total', 'status', onRoute);
      shed[0]?.push([b.t, statusRates.get('503') ?? 0]);
      shed[1]?.push([b.t, statusRates.get('429') ?? 0]);
      for (const [model, v] of rates(a, b, 'images_classified_total', 'model')) push(byModel, model, b.t, v);
    }
    for (const s of scrapes) {
      const gauge = (/** @type {string} */ name) => s.samples.filter((x) => x.name === name).reduce((sum, x) => sum + x.value, 0);
      queue[0]?.push([s.t, gauge('inference_queued_images')]);
      queue[1]?.push([s.t, gauge('inference_in_flight_images')]);
    }
    const opts = { t1, windowS };
    const series = (/** @type {Map<string, Array<[number, number | null]>>} */ m) =>
      [...m].sort(([x], [y]) => x.localeCompare(y)).map(([name, points], i) => ({ name, color: colorOf(name, i), points }));
    lineChart(byId('chart-rps', SVGSVGElement), series(byStatus), { ...opts, unit: 'req/s' });
    lineChart(
      byId('chart-latency', SVGSVGElement),
      ['p50', 'p95', 'p99'].map((name, i) => ({ name, color: ['#1f5fbf', '#8a4b00', '#b3261e'][i] ?? '#000', points: latency[i] ?? [] })),
      { ...opts, unit: 'ms' },
    );
    lineChart(
      byId('chart-shed', SVGSVGElement),
      [
        { name: 'shed 503', color: '#b3261e', points: shed[0] ?? [] },
        { name: 'rate-limited 429', color: '#6b5800', points: shed[1] ?? [] },
      ],
      { ...opts, unit: 'req/s' },
    );
    lineChart(
      byId('chart-queue', SVGSVGElement),
      [
        { name: 'queued', color: '#6a3d9a', points: queue[0] ?? [] },
        { name: 'in flight', color: '#00707a', points: queue[1] ?? [] },
      ],
      { ...opts, unit: 'images' },
    );
    lineChart(byId('chart-images', SVGSVGElement), series(byModel), { ...opts, unit: 'images/s' });
  };

  /** New routes join the route picker as they appear. */
  const offerRoutes = (/** @type {Scrape} */ s) => {
    const known = new Set([...route.options].map((o) => o.value));
    const seen = [...new Set(s.samples.filter((x) => x.name === 'http_requests_total').map((x) => x.labels.route ?? ''))].sort();
    for (const r of seen) if (r && !known.has(r)) route.append(h('option', { value: r }, r));
  };

  const showModels = async () => {
    const { models } = await apiJson('models');
    byId('operate-models', HTMLTableElement).tBodies[0]?.replaceChildren(
      ...models.map((/** @type {any} */ m) =>
        h(
          'tr',
          {},
          h('td', {}, m.name, m.default ? h('span', { class: 'badge' }, 'default') : null),
          h('td', {}, m.version),
          h('td', {}, h('code', { title: m.sha256 }, `${m.sha256.slice(0, 12)}…`)),
          h('td', { class: 'num' }, m.loadMs === null ? 'not loaded here' : `${Math.round(m.loadMs)} ms`),
          h('td', {}, `${m.input.width}×${m.input.height} ${m.input.channels}`),
          h('td', { class: 'num' }, String(m.labels)),
        ),
      ),
    );
    modelsShown = true;
  };

  const showHealth = async () => {
    // Public: no key needed, and a 503 still carries the body that says why.
    const res = await fetch(new URL('health', document.baseURI));
    const body = await res.json();
    const engine = body.engine
      ? ` · engine ${body.engine.kind}, ${body.engine.workers} worker(s), ${body.engine.inFlight} in flight, ${body.engine.queued} queued`
      : '';
    health.replaceChildren(
      'Readiness: ',
      h('strong', { class: body.ready ? 'pass' : 'fail' }, body.ready ? 'ready' : body.status),
      ` · default model ${body.model?.name ?? '?'} · up ${body.uptimeSeconds}s${engine}`,
    );
  };

  let loops = 0;
  /** @param {number} id only the latest loop runs on: a quick hide and show must not start a second one */
  const loop = async (id) => {
    while (running && id === loops) {
      try {
        const text = await (await api('metrics')).text();
        const scrape = { t: Date.now() / 1000, samples: parsePrometheus(text) };
        scrapes.push(scrape);
        if (scrapes.length > KEEP) scrapes.shift();
        offerRoutes(scrape);
        showError(error, undefined);
        await Promise.all([showHealth(), modelsShown ? undefined : showModels()]);
      } catch (err) {
        showError(
          error,
          err instanceof ApiError && err.status === 403
            ? h('div', {}, describeError(err), 'Charts need an operator key (OPERATOR_KEYS).')
            : describeError(err),
        );
      }
      draw();
      await sleep(SCRAPE_MS);
    }
  };

  route.addEventListener('change', draw);
  windowSelect.addEventListener('change', draw);
  draw();
  // Scraping starts when the view is first opened and goes on while the page is visible, so that switching views
  // keeps the history; a hidden tab costs the service nothing.
  let wanted = false;
  const resume = () => {
    if (running || !wanted || document.visibilityState !== 'visible') return;
    running = true;
    void loop(++loops);
  };
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') resume();
    else running = false;
  });
  return {
    show() {
      wanted = true;
      resume();
      draw();
    },
  };
}
