// @ts-check
// Load reports (npm start only): the runs under reports/, their verdicts, each opening its HTML report.
import { apiJson, describeError } from './api.js';
import { byId, h, showError } from './dom.js';

/** @typedef {{ name: string; value: number; limit: number; pass: boolean }} Check */
/** @typedef {{ name: string; kind: 'run' | 'sweep'; scenario?: string; users?: number; durationS?: number; requests?: number; startedAt?: string; verdict?: { ready: boolean; checks: Check[] }; href: string }} Run */

/** @param {Check} c */
const checkText = (c) => {
  const [value, limit] =
    c.name === 'errors' ? [`${(c.value * 100).toFixed(2)} %`, `${(c.limit * 100).toFixed(2)} %`] : [`${Math.round(c.value)} ms`, `${c.limit} ms`];
  return `${c.name} ${value} ${c.pass ? '<' : '≥'} ${limit}`;
};

export async function showReports() {
  const error = byId('reports-error', HTMLElement);
  const tbody = byId('reports-table', HTMLTableElement).tBodies[0];
  try {
    /** @type {{ runs: Run[] }} */
    const { runs } = await apiJson('reports');
    showError(error, undefined);
    tbody?.replaceChildren(
      ...(runs.length
        ? runs.map((r) =>
            h(
              'tr',
              {},
              h('td', {}, h('a', { href: r.href, target: '_blank', rel: 'noopener' }, r.name)),
              h('td', {}, r.kind === 'sweep' ? 'sweep' : (r.scenario ?? '')),
              h('td', { class: 'num' }, r.users === undefined ? '' : String(r.users)),
              h('td', { class: 'num' }, r.durationS === undefined ? '' : `${Math.round(r.durationS)} s`),
              h('td', { class: 'num' }, r.requests === undefined ? '' : r.requests.toLocaleString()),
              h(
                'td',
                {},
                r.verdict
                  ? h(
                      'span',
                      { title: r.verdict.checks.map((c) => `${c.pass ? '✓' : '✗'} ${checkText(c)}`).join('\n') },
                      h('strong', { class: r.verdict.ready ? 'pass' : 'fail' }, r.verdict.ready ? 'READY' : 'NOT READY'),
                      ` ${r.verdict.checks
                        .filter((c) => !c.pass)
                        .map(checkText)
                        .join('; ')}`,
                    )
                  : '–',
              ),
            ),
          )
        : [h('tr', {}, h('td', { colspan: '6' }, 'No runs yet: npm run load -- smoke, then come back.'))]),
    );
  } catch (err) {
    showError(error, describeError(err));
  }
}
