import http from 'node:http';
import { percentile } from '../load/stats';

/** One request template: method, path, headers and body. */
export interface RequestSpec {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: Buffer;
}

export interface LoadResult {
  connections: number;
  durationS: number;
  requests: number;
  ok: number;
  /** 429/503 answers (load shed), counted apart from failures. */
  shed: number;
  /** Shed answers that lacked a Retry-After header. */
  shedWithoutRetryAfter: number;
  /** Other non-2xx statuses. */
  httpErrors: number;
  /** Socket errors: resets, refused connections, timeouts. */
  socketErrors: number;
  statuses: Record<string, number>;
  rps: number;
  okRps: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  shedP99: number;
}

/**
 * Closed-loop load: `connections` keep-alive clients, each sending its next request as soon as the last
 * answered, for `durationS` seconds. Latency percentiles are over successful (2xx) responses.
 */
export async function runLoad(opts: {
  url: string;
  connections: number;
  durationS: number;
  requests: readonly RequestSpec[];
  timeoutMs?: number;
  /**
   * Wait Retry-After before a connection's next request after a 429/503, as a well-behaved client SDK does: at least
   * that long, plus random jitter up to as much again, so clients shed together do not all come back in one wave.
   * Off, every shed request is re-sent at once: an adversarial flood rather than a population of clients.
   */
  honorRetryAfter?: boolean;
  /** Sent as x-api-key on every request; defaults to API_KEY, as every client of this repo does. */
  apiKey?: string;
}): Promise<LoadResult> {
  const base = new URL(opts.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.connections });
  const okLat: number[] = [];
  const shedLat: number[] = [];
  const statuses: Record<string, number> = {};
  let shed = 0;
  let shedWithoutRetryAfter = 0;
  let httpErrors = 0;
  let socketErrors = 0;
  let ok = 0;
  let n = 0;
  const started = performance.now();
  const endAt = started + opts.durationS * 1000;
  const apiKey = opts.apiKey ?? process.env.API_KEY;

  const once = (spec: RequestSpec) =>
    new Promise<number>((resolve) => {
      const t0 = performance.now();
      const req = http.request(
        {
          host: base.hostname,
          port: base.port,
          method: spec.method,
          path: spec.path,
          agent,
          headers: {
            ...(apiKey ? { 'x-api-key': apiKey } : {}),
            ...spec.headers,
            ...(spec.body ? { 'Content-Length': String(spec.body.length) } : {}),
          },
          timeout: opts.timeoutMs ?? 30_000,
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            const ms = performance.now() - t0;
            const code = res.statusCode ?? 0;
            statuses[code] = (statuses[code] ?? 0) + 1;
            if (code >= 200 && code < 300) {
              ok++;
              okLat.push(ms);
            } else if (code === 429 || code === 503) {
              shed++;
              shedLat.push(ms);
              if (!res.headers['retry-after']) shedWithoutRetryAfter++;
              resolve(Number(res.headers['retry-after'] ?? 1) * 1000);
              return;
            } else {
              httpErrors++;
            }
            resolve(0);
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (err: NodeJS.ErrnoException) => {
        socketErrors++;
        const k = err.code ?? err.message;
        statuses[k] = (statuses[k] ?? 0) + 1;
        resolve(0);
      });
      req.end(spec.body);
    });

  const client = async (c: number) => {
    let i = c;
    while (performance.now() < endAt) {
      const spec = opts.requests[i % opts.requests.length];
      i += opts.connections;
      if (!spec) return;
      n++;
      const backoffMs = await once(spec);
      if (backoffMs > 0 && opts.honorRetryAfter !== false) {
        const wait = backoffMs * (1 + Math.random());
        await new Promise((r) => setTimeout(r, Math.min(wait, Math.max(0, endAt - performance.now()))));
      }
    }
  };
  await Promise.all(Array.from({ length: opts.connections }, (_, c) => client(c)));
  const elapsed = (performance.now() - started) / 1000;
  agent.destroy();
  okLat.sort((a, b) => a - b);
  shedLat.sort((a, b) => a - b);
  return {
    connections: opts.connections,
    durationS: elapsed,
    requests: n,
    ok,
    shed,
    shedWithoutRetryAfter,
    httpErrors,
    socketErrors,
    statuses,
    rps: n / elapsed,
    okRps: ok / elapsed,
    p50: percentile(okLat, 50),
    p90: percentile(okLat, 90),
    p99: percentile(okLat, 99),
    max: okLat[okLat.length - 1] ?? 0,
    shedP99: percentile(shedLat, 99),
  };
}
