import type { Header, MediaType, OpenApiDocument, Operation, Parameter, Ref, Response, Schema } from './document';

/** The page's context: where it is served from (a `<base>`) and the console's style sheet. */
export interface DocsPage {
  base: string;
  stylesheet: string;
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
/** Inline `code` spans of the document's own descriptions, escaped first. */
const prose = (s: string | undefined): string => (s ? esc(s).replace(/`([^`]+)`/g, '<code>$1</code>') : '');
const isRef = (v: unknown): v is Ref => typeof v === 'object' && v !== null && typeof (v as Ref).$ref === 'string';
const refName = (r: Ref): string => r.$ref.split('/').pop() ?? r.$ref;
const anchor = (kind: string, name: string): string => `${kind}-${name.replace(/[^A-Za-z0-9_-]/g, '_')}`;

function resolve<T>(doc: OpenApiDocument, v: T | Ref): T {
  if (!isRef(v)) return v;
  const [, , kind, name] = v.$ref.split('/');
  const table = doc.components[kind as 'responses' | 'headers'] as unknown as Record<string, T> | undefined;
  const found = name === undefined ? undefined : table?.[name];
  if (found === undefined) throw new Error(`unresolved ${v.$ref}`);
  return found;
}

/** One line saying what a schema allows, with its properties as a nested list. */
function schemaHtml(s: Schema | Ref, depth = 0): string {
  if (isRef(s)) return `<a href="#${anchor('schema', refName(s))}">${esc(refName(s))}</a>`;
  const parts: string[] = [];
  const facets: string[] = [];
  if (Array.isArray(s.allOf)) parts.push((s.allOf as Schema[]).map((x) => schemaHtml(x, depth)).join(' and '));
  if (Array.isArray(s.oneOf)) parts.push(`one of: ${(s.oneOf as Schema[]).map((x) => schemaHtml(x, depth)).join(' <em>or</em> ')}`);
  if (Array.isArray(s.enum)) parts.push((s.enum as unknown[]).map((v) => `<code>${esc(JSON.stringify(v))}</code>`).join(' | '));
  if ('const' in s) parts.push(`<code>${esc(JSON.stringify(s.const))}</code>`);
  const type = Array.isArray(s.type) ? (s.type as string[]).join(' | ') : (s.type as string | undefined);
  if (type === 'array') parts.push(`array of ${s.items ? schemaHtml(s.items as Schema, depth) : 'anything'}`);
  else if (type && type !== 'object') parts.push(esc(type));
  else if (type === 'object' && !s.properties)
    parts.push(
      s.additionalProperties && typeof s.additionalProperties === 'object'
        ? `map of ${schemaHtml(s.additionalProperties as Schema, depth)}`
        : 'object',
    );
  for (const [k, label] of [
    ['minimum', '≥'],
    ['maximum', '≤'],
    ['minItems', 'items ≥'],
    ['maxItems', 'items ≤'],
    ['minLength', 'length ≥'],
    ['maxLength', 'length ≤'],
  ] as const) {
    if (typeof s[k] === 'number') facets.push(`${label} ${s[k]}`);
  }
  for (const k of ['format', 'pattern', 'contentMediaType', 'contentEncoding'] as const)
    if (typeof s[k] === 'string') facets.push(`${k} <code>${esc(s[k] as string)}</code>`);
  if ('default' in s) facets.push(`default <code>${esc(JSON.stringify(s.default))}</code>`);
  let html = parts.join(' ') || 'any';
  if (facets.length > 0) html += ` <span class="facets">(${facets.join(', ')})</span>`;
  if (typeof s.description === 'string' && depth > 0) html += ` — ${prose(s.description)}`;
  if (s.properties && typeof s.properties === 'object') {
    const required = new Set(Array.isArray(s.required) ? (s.required as string[]) : []);
    const rows = Object.entries(s.properties as Record<string, Schema>).map(
      ([name, p]) =>
        `<li><code>${esc(name)}</code>${required.has(name) ? ' <span class="req" title="required">required</span>' : ''}: ${schemaHtml(p, depth + 1)}</li>`,
    );
    const extra = s.additionalProperties === false ? '' : '<li><em>other fields allowed</em></li>';
    html = `${type === 'object' ? 'object' : html}<ul>${rows.join('')}${extra}</ul>`;
  }
  return html;
}

/** Media types whose bodies read the same (the raw image types) share one entry. */
function mediaHtml(types: Record<string, MediaType>): string {
  const groups = new Map<string, string[]>();
  for (const [t, m] of Object.entries(types)) {
    const html = m['x-line-schema'] ? `each line: ${schemaHtml(m['x-line-schema'])}` : schemaHtml(m.schema, 1);
    groups.set(html, [...(groups.get(html) ?? []), t]);
  }
  return `<dl class="media">${[...groups].map(([html, list]) => `<dt>${list.map((t) => `<code>${esc(t)}</code>`).join(', ')}</dt><dd>${html}</dd>`).join('')}</dl>`;
}

function parametersHtml(doc: OpenApiDocument, params: Array<Parameter | Ref>): string {
  const rows = params
    .map((p) => resolve<Parameter>(doc, p))
    .map(
      (p) =>
        `<tr><td><code>${esc(p.name)}</code></td><td>${p.in}${p.required ? ', required' : ''}</td><td>${schemaHtml(p.schema, 1)}</td><td>${prose(p.description)}</td></tr>`,
    );
  return `<table><thead><tr><th scope="col">name</th><th scope="col">in</th><th scope="col">schema</th><th scope="col">what</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function responsesHtml(doc: OpenApiDocument, responses: Operation['responses']): string {
  const rows = Object.entries(responses).map(([status, r]) => {
    const res = resolve<Response>(doc, r);
    const headers = Object.entries(res.headers ?? {}).map(([name, h]) => {
      const header = resolve<Header>(doc, h as Header | Ref);
      return `<code title="${esc(header.description)}">${esc(name)}</code>${header.required ? '' : '?'}`;
    });
    return `<tr><td class="status s${status[0]}">${esc(status)}</td><td>${prose(res.description)}${headers.length ? `<div class="headers">headers: ${headers.join(', ')}</div>` : ''}</td><td>${res.content ? mediaHtml(res.content) : ''}</td></tr>`;
  });
  return `<table><thead><tr><th scope="col">status</th><th scope="col">when</th><th scope="col">body</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

const ACCESS = { public: 'no key', client: 'API key', operator: 'operator key' } as const;

function operationHtml(doc: OpenApiDocument, method: string, path: string, op: Operation): string {
  return `<section class="op" id="${anchor('op', op.operationId)}" aria-labelledby="${anchor('h', op.operationId)}">
<h3 id="${anchor('h', op.operationId)}"><span class="method m-${method}">${method.toUpperCase()}</span> <code>${esc(path)}</code> — ${esc(op.summary)}</h3>
<p><span class="badge access-${op['x-access']}">${ACCESS[op['x-access']]}</span>${op['x-local-only'] ? ' <span class="badge">npm start only</span>' : ''} ${prose(op.description)}</p>
${op.parameters?.length ? `<h4>Parameters</h4>${parametersHtml(doc, op.parameters)}` : ''}
${op.requestBody ? `<h4>Request body${op.requestBody.required ? '' : ' (optional)'}</h4>${mediaHtml(op.requestBody.content)}` : ''}
<h4>Responses</h4>${responsesHtml(doc, op.responses)}
</section>`;
}

/** The reference page of /docs: every route with its parameters, bodies and answers, then the schemas; no script. */
export function renderDocs(doc: OpenApiDocument, page: DocsPage): string {
  const ops = Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ path, method, op })));
  const byTag = doc.tags.map((t) => ({ tag: t, ops: ops.filter((o) => o.op.tags.includes(t.name)) }));
  const toc = byTag
    .map(
      ({ tag, ops: list }) =>
        `<li>${esc(tag.name)}<ul>${list.map((o) => `<li><a href="#${anchor('op', o.op.operationId)}"><span class="method m-${o.method}">${o.method.toUpperCase()}</span> ${esc(o.path)}</a></li>`).join('')}</ul></li>`,
    )
    .join('');
  const scheme = Object.entries(doc.components.securitySchemes)
    .map(([name, s]) => `<p><strong>${esc(name)}</strong>: header <code>${esc(s.name)}</code>. ${prose(s.description)}</p>`)
    .join('');
  const sections = byTag
    .map(
      ({ tag, ops: list }) =>
        `<h2 id="${anchor('tag', tag.name)}">${esc(tag.name)}</h2><p>${prose(tag.description)}</p>${list.map((o) => operationHtml(doc, o.method, o.path, o.op)).join('\n')}`,
    )
    .join('\n');
  const schemas = Object.entries(doc.components.schemas)
    .map(
      ([name, s]) =>
        `<section class="schema" id="${anchor('schema', name)}"><h3>${esc(name)}</h3>${s.description ? `<p>${prose(s.description as string)}</p>` : ''}<div>${schemaHtml(s)}</div></section>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<base href="${esc(page.base)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(doc.info.title)} API ${esc(doc.info.version)}</title>
<link rel="stylesheet" href="${esc(page.stylesheet)}">
</head>
<body class="docs">
<header class="bar"><h1>${esc(doc.info.title)} API <small>${esc(doc.info.version)}, OpenAPI ${esc(doc.openapi)}</small></h1>
<nav aria-label="Elsewhere"><a href="./">Console</a> <a href="openapi.json">openapi.json</a></nav></header>
<div class="docs-layout">
<nav class="toc" aria-label="Routes"><ul>${toc}<li><a href="#schemas">Schemas</a></li></ul></nav>
<main>
<p>${prose(doc.info.description)}</p>
<h2>Authentication</h2>${scheme}
${sections}
<h2 id="schemas">Schemas</h2>
${schemas}
</main></div>
</body></html>
`;
}
