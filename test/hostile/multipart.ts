/** A part of a hand-built multipart/form-data body: a file when it has a filename, else a field. */
export interface Part {
  name: string;
  filename?: string;
  type?: string;
  data: Buffer | string;
}

export const BOUNDARY = 'hostile-3f9a';

/**
 * A multipart/form-data body written byte by byte (FormData cannot be truncated, mis-cased or left unclosed),
 * `close: false` leaves out the closing boundary.
 */
export function multipartBody(parts: readonly Part[], options: { boundary?: string; close?: boolean } = {}): Buffer {
  const boundary = options.boundary ?? BOUNDARY;
  const chunks: Buffer[] = [];
  for (const p of parts) {
    const disposition = `form-data; name="${p.name}"${p.filename === undefined ? '' : `; filename="${p.filename}"`}`;
    const head = `--${boundary}\r\nContent-Disposition: ${disposition}\r\n${p.type ? `Content-Type: ${p.type}\r\n` : ''}\r\n`;
    chunks.push(Buffer.from(head), Buffer.isBuffer(p.data) ? p.data : Buffer.from(p.data), Buffer.from('\r\n'));
  }
  if (options.close !== false) chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

/** `n` plain fields named f0…, for bodies that probe the field limit. */
export const fillerFields = (n: number): Part[] => Array.from({ length: n }, (_, i) => ({ name: `f${i}`, data: `v${i}` }));
