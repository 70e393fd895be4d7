import { escapeXml } from '../../shared/xml';

/** A node of the tiny XML builder: `[name, children | text]`; undefined children are skipped. */
export type XmlNode = readonly [string, string | number | boolean | readonly (XmlNode | undefined)[]];

const S3_NS = 'http://s3.amazonaws.com/doc/2006-03-01/';

/** Renders a document the way S3 does: declaration, namespaced root, no whitespace between elements. */
export function renderXml(root: XmlNode, namespaced = true): string {
  const [name, body] = root;
  const open = namespaced ? `<${name} xmlns="${S3_NS}">` : `<${name}>`;
  return `<?xml version="1.0" encoding="UTF-8"?>\n${open}${renderBody(body)}</${name}>`;
}

function renderBody(body: XmlNode[1]): string {
  if (typeof body !== 'object') return escapeXml(String(body));
  let out = '';
  for (const child of body) {
    if (child === undefined) continue;
    out += `<${child[0]}>${renderBody(child[1])}</${child[0]}>`;
  }
  return out;
}

/**
 * Children of `parent` elements as name → text maps, for the flat request bodies S3 accepts
 * (DeleteObjects, CompleteMultipartUpload); a full parser would be a dependency for two shapes.
 */
export function parseElements(xml: string, parent: string): Array<Record<string, string>> {
  const out: Array<Record<string, string>> = [];
  const block = new RegExp(`<${parent}(?:\\s[^>]*)?>([\\s\\S]*?)</${parent}>`, 'g');
  for (const match of xml.matchAll(block)) {
    const fields: Record<string, string> = {};
    const inner = match[1] ?? '';
    for (const field of inner.matchAll(/<([A-Za-z0-9]+)(?:\s[^>]*)?>([\s\S]*?)<\/\1>/g)) {
      const [, name, text] = field;
      if (name !== undefined) fields[name] = unescapeXml(text ?? '');
    }
    // An empty element such as <Key/> still counts as present, with empty text.
    for (const empty of inner.matchAll(/<([A-Za-z0-9]+)\s*\/>/g)) {
      if (empty[1] !== undefined) fields[empty[1]] ??= '';
    }
    out.push(fields);
  }
  return out;
}

/** The text of the first `<name>` element anywhere in the document. */
export function elementText(xml: string, name: string): string | undefined {
  const match = new RegExp(`<${name}(?:\\s[^>]*)?>([\\s\\S]*?)</${name}>`).exec(xml);
  return match?.[1] === undefined ? undefined : unescapeXml(match[1]);
}

function unescapeXml(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);/g, (_, entity: string) => {
    if (entity.startsWith('#x')) return String.fromCodePoint(Number.parseInt(entity.slice(2), 16));
    if (entity.startsWith('#')) return String.fromCodePoint(Number.parseInt(entity.slice(1), 10));
    return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[entity] ?? '';
  });
}
