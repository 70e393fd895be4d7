// Leaf helpers that both the service's parts (the local S3) and its tooling (load reports) use; this folder
// imports nothing of the project, so either may depend on it without depending on the other.

// CR as a character reference: an XML parser normalises a literal CR to LF, so a key with one would come back changed.
const XML_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;', '\r': '&#xD;' };

/** Escapes text for an XML element body or attribute (SVG included). */
export function escapeXml(value: string): string {
  return value.replace(/[&<>"'\r]/g, (c) => XML_ENTITIES[c] ?? c);
}
