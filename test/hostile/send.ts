import { request } from 'node:http';
import type { HttpRequest } from './corpus';

/** A response as the corpus checks it: status, headers (lower-case names) and the body as text and, if it is JSON, parsed. */
export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: Record<string, any> | undefined;
  ms: number;
}

/**
 * Sends one request on a connection of its own. A hostile request may end its connection (hapi closes it after its own
 * 413 while still saying keep-alive): on a shared keep-alive pool the next case would inherit that and fail for it.
 * `auth` is the suite's credential header (helpers.ts authHeaders()), sent unless the request names its own.
 */
export function send(base: string, req: HttpRequest, auth: Record<string, string>): Promise<RawResponse> {
  const url = new URL(req.path, base);
  const body =
    req.body === undefined
      ? undefined
      : typeof req.body === 'string'
        ? Buffer.from(req.body)
        : Buffer.from(req.body.buffer, req.body.byteOffset, req.body.byteLength);
  const headers: Record<string, string> = { ...auth, ...req.headers };
  if (body !== undefined) headers['Content-Length'] = String(body.length);
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let answered = false;
    const r = request(
      { host: url.hostname, port: url.port, path: `${url.pathname}${url.search}`, method: req.method, headers, agent: false },
      (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: Record<string, any> | undefined;
          try {
            const parsed: unknown = JSON.parse(text);
            json = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, any>) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json, ms: performance.now() - started });
        });
      },
    );
    // A server may answer before reading the whole body and close: the write then fails, but the answer stands.
    r.on('error', (err) => {
      if (!answered) reject(err);
    });
    r.end(body);
  });
}
