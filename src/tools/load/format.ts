/** Small text helpers shared by the markdown and HTML renderers. */

export const ms = (v: number): string => (v >= 100 ? String(Math.round(v)) : (Math.round(v * 10) / 10).toFixed(1));
export const num = (v: number, digits = 1): string => (Math.round(v * 10 ** digits) / 10 ** digits).toFixed(digits);
export const pct = (fraction: number): string =>
  `${fraction === 0 ? '0' : fraction * 100 < 0.01 ? (fraction * 100).toPrecision(2) : num(fraction * 100, 2)} %`;
/** Dollars: cents from $0.01 up, else three significant digits, so a run's fraction of a cent stays readable. */
export const usd = (v: number): string =>
  v === 0 ? '$0' : v >= 0.01 ? `$${v.toFixed(2)}` : `$${v.toFixed(Math.min(20, 2 - Math.floor(Math.log10(v))))}`;
export const times = (v: number | null): string => (v === null ? '–' : `×${num(v, 2)}`);

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function mdTable(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const esc = (c: string) => c.replace(/\|/g, '\\|');
  return [
    `| ${head.map(esc).join(' | ')} |`,
    `| ${head.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

/** Cells are escaped unless wrapped as { html } (for pre-rendered badges). */
export type Cell = string | { html: string };

export function htmlTable(head: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const cell = (c: Cell) => (typeof c === 'string' ? escapeHtml(c) : c.html);
  return [
    '<table>',
    `<thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead>`,
    `<tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${cell(c)}</td>`).join('')}</tr>`).join('\n')}</tbody>`,
    '</table>',
  ].join('\n');
}

export const badge = (ok: boolean, yes = 'PASS', no = 'FAIL'): { html: string } => ({
  html: `<span class="${ok ? 'pass' : 'fail'}">${ok ? yes : no}</span>`,
});

/** A self-contained page: inline CSS, no scripts, no external resources. */
export function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1340px;padding:0 16px;color:#222;background:#fafafa}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0;background:#fff}th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f0f0f0}
.pass{color:#1e7e34;font-weight:bold}.fail{color:#c0392b;font-weight:bold}
.charts{display:flex;flex-wrap:wrap;gap:12px}.chart{border:1px solid #ddd}
.meta{color:#555}code{background:#eee;padding:0 3px}
</style></head>
<body>
${body}
</body></html>
`;
}
