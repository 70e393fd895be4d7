// Hand-made inline SVG charts: the report must render offline, with no chart library.
import { escapeXml } from '../../shared/xml';

export interface Series {
  name: string;
  color: string;
  points: readonly (readonly [number, number])[];
  /** Draw a dot on every point (for sparse data such as sweep steps). */
  dots?: boolean;
}

export interface Marker {
  x: number;
  label: string;
  color?: string;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  markers?: readonly Marker[];
  width?: number;
  height?: number;
  /** Logarithmic x axis (base 2), for user counts that double each step. */
  logX?: boolean;
}

/** 1, 2, 5 × 10^n steps: round tick labels. */
export function niceStep(range: number, ticks = 5): number {
  if (!(range > 0)) return 1;
  const raw = range / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  return (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
}

const fmt = (v: number) => (Math.abs(v) >= 1000 ? `${Math.round(v / 100) / 10}k` : String(Math.round(v * 100) / 100));

/** A line chart with axes, grid, legend and optional vertical markers. */
export function lineChart(o: ChartOptions): string {
  const width = o.width ?? 640;
  const height = o.height ?? 260;
  const m = { left: 56, right: 16, top: 30, bottom: 42 };
  const w = width - m.left - m.right;
  const h = height - m.top - m.bottom;
  const tx = (x: number) => (o.logX ? Math.log2(Math.max(x, 1e-9)) : x);
  const all = o.series.flatMap((s) => s.points);
  const xs = all.map((p) => tx(p[0]));
  const ys = all.map((p) => p[1]);
  // Time axes start at 0 so charts of different runs line up; log axes start at their first point.
  const xMin = xs.length > 0 ? (o.logX ? Math.min(...xs) : Math.min(0, ...xs)) : 0;
  const xMax = xs.length > 0 ? Math.max(...xs) : 1;
  const yStep = niceStep(Math.max(...ys, 0));
  const yMax = Math.max(yStep, Math.ceil(Math.max(...ys, 0) / yStep) * yStep);
  const sx = (x: number) => m.left + (xMax > xMin ? ((tx(x) - xMin) / (xMax - xMin)) * w : w / 2);
  const sy = (y: number) => m.top + h - (y / yMax) * h;
  const r = (v: number) => Math.round(v * 10) / 10;

  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(o.title)}">`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${m.left}" y="18" font-size="13" font-weight="bold" fill="#222">${escapeXml(o.title)}</text>`,
  );
  for (let y = 0; y <= yMax + 1e-9; y += yStep) {
    parts.push(
      `<line x1="${m.left}" x2="${m.left + w}" y1="${r(sy(y))}" y2="${r(sy(y))}" stroke="#e4e4e4"/>`,
      `<text x="${m.left - 6}" y="${r(sy(y) + 4)}" font-size="10" text-anchor="end" fill="#555">${fmt(y)}</text>`,
    );
  }
  const xTicks: number[] = [];
  if (o.logX) {
    for (let e = Math.floor(xMin); e <= Math.ceil(xMax); e++) xTicks.push(2 ** e);
  } else {
    const step = niceStep(xMax - xMin, 6);
    for (let x = Math.ceil(xMin / step) * step; x <= xMax + 1e-9; x += step) xTicks.push(x);
  }
  for (const x of xTicks) {
    parts.push(`<text x="${r(sx(x))}" y="${m.top + h + 14}" font-size="10" text-anchor="middle" fill="#555">${fmt(x)}</text>`);
  }
  parts.push(
    `<line x1="${m.left}" x2="${m.left + w}" y1="${m.top + h}" y2="${m.top + h}" stroke="#888"/>`,
    `<line x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${m.top + h}" stroke="#888"/>`,
    `<text x="${m.left + w / 2}" y="${height - 6}" font-size="11" text-anchor="middle" fill="#333">${escapeXml(o.xLabel)}</text>`,
    `<text x="12" y="${m.top + h / 2}" font-size="11" text-anchor="middle" fill="#333" transform="rotate(-90 12 ${m.top + h / 2})">${escapeXml(o.yLabel)}</text>`,
  );
  // Markers at the same x share one line and one label; labels sit at the bottom, clear of the legend.
  const byX = new Map<number, Marker[]>();
  for (const mk of o.markers ?? []) byX.set(mk.x, [...(byX.get(mk.x) ?? []), mk]);
  for (const [mx, group] of byX) {
    const x = r(sx(mx));
    const color = group[0]?.color ?? '#c0392b';
    const right = x > m.left + w * 0.7;
    parts.push(
      `<line class="marker" x1="${x}" x2="${x}" y1="${m.top}" y2="${m.top + h}" stroke="${color}" stroke-dasharray="4 3"/>`,
      `<text x="${right ? x - 4 : x + 4}" y="${m.top + h - 6}" font-size="10" text-anchor="${right ? 'end' : 'start'}" fill="${color}">${escapeXml(group.map((g) => g.label).join(', '))}</text>`,
    );
  }
  o.series.forEach((s, i) => {
    const pts = [...s.points].sort((a, b) => a[0] - b[0]);
    if (pts.length > 0) {
      const d = pts.map((p, j) => `${j === 0 ? 'M' : 'L'}${r(sx(p[0]))},${r(sy(p[1]))}`).join(' ');
      parts.push(`<path class="series" data-series="${escapeXml(s.name)}" d="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
      if (s.dots || pts.length === 1) {
        for (const p of pts) parts.push(`<circle cx="${r(sx(p[0]))}" cy="${r(sy(p[1]))}" r="3" fill="${s.color}"/>`);
      }
    }
    const lx = m.left + w - 130;
    const ly = m.top + 4 + i * 14;
    parts.push(
      `<rect x="${lx}" y="${ly}" width="10" height="10" fill="${s.color}"/>`,
      `<text x="${lx + 14}" y="${ly + 9}" font-size="10" fill="#333">${escapeXml(s.name)}</text>`,
    );
  });
  if (all.length === 0) {
    parts.push(`<text x="${m.left + w / 2}" y="${m.top + h / 2}" font-size="12" text-anchor="middle" fill="#999">no data</text>`);
  }
  parts.push('</svg>');
  return parts.join('\n');
}
