import { readFileSync } from 'node:fs';
import { photoPath } from '../fixtures/paths';

export const API = (): string => {
  const url = process.env.API_URL;
  if (!url) throw new Error('API_URL is not set: the integration global setup starts the stack');
  return url;
};

export const photo = (name: string): Buffer => readFileSync(photoPath(name));
export const mimeOf = (name: string): string => (name.endsWith('.png') ? 'image/png' : 'image/jpeg');

export interface Json {
  status: number;
  headers: Headers;
  body: Record<string, unknown> & { [k: string]: any };
}

/**
 * The credential of the suite's own client (API_KEY, set by the global setup), for requests that do not go through
 * {@link call}.
 */
export const authHeaders = (): Record<string, string> => (process.env.API_KEY ? { 'x-api-key': process.env.API_KEY } : {});

/** The keys of the global setup's other clients: `other` on the default limits, `noisy` held to 2 requests/s. */
export function keyOf(client: 'other' | 'noisy'): string {
  const key = process.env[client === 'other' ? 'API_KEY_OTHER' : 'API_KEY_NOISY'];
  if (!key) throw new Error(`no key for client "${client}": the integration global setup makes them`);
  return key;
}

export async function call(method: string, path: string, init: { body?: RequestInit['body']; headers?: Record<string, string> } = {}): Promise<Json> {
  // A streamed body needs half-duplex, the only mode fetch has.
  const duplex: Pick<RequestInit, 'duplex'> = init.body instanceof ReadableStream ? { duplex: 'half' } : {};
  const res = await fetch(`${API()}${path}`, { method, ...init, ...duplex, headers: { ...authHeaders(), ...init.headers } });
  const text = await res.text();
  let body: Json['body'];
  try {
    body = JSON.parse(text) as Json['body'];
  } catch {
    body = { text };
  }
  return { status: res.status, headers: res.headers, body };
}

/**
 * A body whose first byte goes with the headers and whose rest follows `delayMs` later, as over a slow uplink. The
 * gateway's clock starts at the headers, so the delay counts against the request's deadline before any handler runs,
 * however fast the machine. (fetch sends the headers with the first chunk, hence the one-byte head.)
 */
export function lateBody(bytes: Uint8Array, delayMs: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (sent === 0) {
        sent = 1;
        controller.enqueue(bytes.subarray(0, 1));
        return;
      }
      await new Promise((r) => setTimeout(r, delayMs));
      controller.enqueue(bytes.subarray(1));
      controller.close();
    },
  });
}

export function multipart(files: Array<{ field: string; name: string; data: Buffer; type: string }>, fields: Record<string, string> = {}): FormData {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  for (const f of files) form.append(f.field, new Blob([new Uint8Array(f.data)], { type: f.type }), f.name);
  return form;
}

/** What GET /jobs/{id} answers, as far as the batch tests read it. */
export interface JobBody {
  status: string;
  counts: { expected: number; ingested: number; done: number; failed: number };
  results?: { download?: { jsonl: string; csv: string } };
}

/** Polls GET /jobs/{id} until `until` holds; throws with the last answer if it never does. */
export async function waitForJob(jobId: string, until: (b: JobBody) => boolean, timeoutMs = 90_000): Promise<JobBody> {
  const deadline = Date.now() + timeoutMs;
  let last: JobBody | undefined;
  while (Date.now() < deadline) {
    const res = await call('GET', `/jobs/${jobId}`).catch(() => undefined);
    if (res?.status === 200) {
      last = res.body as unknown as JobBody;
      if (until(last)) return last;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`job ${jobId} did not settle: ${JSON.stringify(last)}`);
}
