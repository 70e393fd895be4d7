// @ts-check
// A small SVG line chart over the last minutes: nice y ticks, relative time on x, a legend, and a text summary for
// screen readers. Gaps (null) break a line rather than pretending to be zero.
import { svg } from './dom.js';

/** @typedef {{ name: string; color: string; points: Array<[number, number | null]> }} Series */

const W = 480;
const H = 210;
const PAD = { left: 46, right: 10, top: 36, bottom: 24 };

/** @param {number} max */
function niceStep(max) {
  const raw = max / 4;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const unit = raw / mag;
  return (unit <= 1 ? 1 : unit <= 2 ? 2 : unit <= 5 ? 5 : 10) * mag;
}

/** @param {number} v */
const tickLabel = (v) =>
  v >= 1000 ? `${(v / 1000).toFixed(v % 1000 === 0 ? 0 : 1)}k` : v >= 10 || v === 0 ? String(Math.round(v)) : v.toPrecision(2);

/**
 * Draws `series` into `el`, x from `t1 - windowS` to `t1` (seconds).
 * @param {SVGSVGElement} el
 * @param {Series[]} series
 * @param {{ t1: number; windowS: number; unit: string }} opts
 */
export function lineChart(el, series, { t1, windowS, unit }) {
  const t0 = t1 - windowS;
  const visible = series.map((s) => ({ ...s, points: s.points.filter(([t]) => t >= t0) }));
  const values = visible.flatMap((s) => s.points.map(([, v]) => v)).filter((v) => v !== null);
  const max = Math.max(...values, 0);
  const step = max > 0 ? niceStep(max) : 1;
  const top = Math.max(step * Math.ceil(max / step), step);
  const x = (/** @type {number} */ t) => PAD.left + ((t - t0) / windowS) * (W - PAD.left - PAD.right);
  const y = (/** @type {number} */ v) => H - PAD.bottom - (v / top) * (H - PAD.top - PAD.bottom);
  el.setAttribute('viewBox', `0 0 ${W} ${H}`);
  // The figure's caption names the chart; the title says what it shows now.
  const title = svg('title', {});
  el.replaceChildren(title);
  for (let v = 0; v <= top + step / 2; v += step) {
    el.append(svg('line', { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: 'grid' }));
    el.append(svg('text', { x: PAD.left - 6, y: y(v) + 4, class: 'tick', 'text-anchor': 'end' }, tickLabel(v)));
  }
  const minutes = windowS / 60;
  const every = minutes > 5 ? 300 : 60;
  for (let s = 0; s <= windowS; s += every) {
    el.append(svg('text', { x: x(t1 - s), y: H - 6, class: 'tick', 'text-anchor': s === 0 ? 'end' : 'middle' }, s === 0 ? 'now' : `−${s / 60} min`));
  }
  el.append(svg('text', { x: 4, y: PAD.top - 10, class: 'unit' }, unit));
  let legendX = 4;
  for (const s of visible) {
    const drawn = s.points.filter(([, v]) => v !== null);
    let d = '';
    let pen = false;
    for (const [t, v] of s.points) {
      if (v === null) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${x(t).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
    }
    // The test reads data-points and data-max: a chart "with data" has a drawn line, not just axes.
    el.append(
      svg('path', {
        d: d || 'M0,0',
        class: 'series',
        stroke: s.color,
        'data-series': s.name,
        'data-points': drawn.length,
        'data-max': Math.max(0, ...drawn.map(([, v]) => v ?? 0)),
      }),
    );
    // A lone point has no line: a dot shows it.
    if (drawn.length === 1) {
      const [t, v] = /** @type {[number, number]} */ (drawn[0]);
      el.append(svg('circle', { cx: x(t), cy: y(v), r: 2.5, fill: s.color }));
    }
    el.append(svg('rect', { x: legendX, y: 2, width: 10, height: 10, fill: s.color }));
    const label = svg('text', { x: legendX + 14, y: 11, class: 'legend' }, s.name);
    el.append(label);
    legendX += 22 + s.name.length * 6.5;
  }
  if (values.length === 0) el.append(svg('text', { x: W / 2, y: H / 2, class: 'empty', 'text-anchor': 'middle' }, 'waiting for data…'));
  const latest = visible.map((s) => {
    const last = [...s.points].reverse().find(([, v]) => v !== null);
    return `${s.name} ${last ? tickLabel(/** @type {number} */ (last[1])) : 'none'}`;
  });
  title.textContent = `Latest (${unit}): ${latest.join(', ') || 'no data yet'}`;
}

/** Colours with at least 4.5:1 contrast on white, told apart by hue. */
export const PALETTE = ['#1f5fbf', '#b3261e', '#1b7f3b', '#8a4b00', '#6a3d9a', '#00707a', '#5c5c5c', '#a0306e'];

/** @type {Record<string, string>} */
const STATUS = {
  200: '#1f5fbf',
  201: '#00707a',
  400: '#8a4b00',
  401: '#6a3d9a',
  403: '#a0306e',
  404: '#5c5c5c',
  429: '#6b5800',
  500: '#000000',
  503: '#b3261e',
};
/** For the codes without a colour of their own: none of STATUS's. */
const OTHER = ['#2d6a00', '#7a1f5c', '#3b3b98', '#995500', '#00545c', '#8c1d40'];

/**
 * A stable colour for a status code (others by position), else one of the palette by position.
 * @param {string} name
 * @param {number} i
 */
export const colorOf = (name, i) => STATUS[name] ?? (/^\d{3}$/.test(name) ? OTHER[i % OTHER.length] : PALETTE[i % PALETTE.length]) ?? '#000000';
