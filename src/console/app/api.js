// @ts-check
// The API as the console calls it: relative to the page (so a stage path in AWS just works), with the key of this
// browser session, and errors read as the API's JSON error says them.
import { h } from './dom.js';

const KEY = 'image-classifier.apiKey';

/** The key of this tab's session: asked for once, never stored beyond it. */
export const apiKey = {
  get: () => sessionStorage.getItem(KEY) ?? '',
  /** @param {string} key */
  set: (key) => sessionStorage.setItem(KEY, key),
  clear: () => sessionStorage.removeItem(KEY),
};

/** An answer that is not a success, with what the API's error body says. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {{ code?: string; message?: string; requestId?: string; details?: unknown }} body
   * @param {Headers} headers
   */
  constructor(status, body, headers) {
    super(body.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body.code ?? `HTTP_${status}`;
    this.requestId = body.requestId ?? headers.get('x-request-id') ?? undefined;
    const retry = headers.get('retry-after');
    this.retryAfterSeconds = retry === null ? undefined : Number(retry);
    this.details = body.details;
  }
}

/** @type {(reason: string) => void} */
let unauthorized = () => {};
/**
 * What to do when the API refuses the key (the console opens the key dialog).
 * @param {(reason: string) => void} fn
 */
export const onUnauthorized = (fn) => {
  unauthorized = fn;
};

/** @param {string} path */
export const urlOf = (path) => new URL(path, document.baseURI).toString();

/**
 * A request to the API; a non-2xx answer throws an {@link ApiError}.
 * @param {string} path relative to the API root, e.g. `predict?topK=3`
 * @param {RequestInit} [init]
 * @returns {Promise<Response>}
 */
export async function api(path, init = {}) {
  const headers = new Headers(init.headers);
  const key = apiKey.get();
  if (key) headers.set('x-api-key', key);
  const res = await fetch(urlOf(path), { ...init, headers });
  if (res.ok) return res;
  /** @type {Record<string, any>} */
  let body = {};
  try {
    body = await res.json();
  } catch {
    // Not our JSON (a proxy's page): the status says enough.
  }
  const err = new ApiError(res.status, body, res.headers);
  if (res.status === 401) unauthorized(err.message);
  throw err;
}

/**
 * A JSON answer of the API.
 * @param {string} path
 * @param {RequestInit} [init]
 * @returns {Promise<any>}
 */
export async function apiJson(path, init) {
  return (await api(path, init)).json();
}

/**
 * An error as a person reads it: status and code, the API's message, the request id to quote, when to retry.
 * @param {unknown} err
 * @returns {Node}
 */
export function describeError(err) {
  if (err instanceof ApiError) {
    return h(
      'div',
      { class: 'api-error' },
      h('strong', {}, `${err.status} ${err.code}`),
      ` ${err.message}`,
      err.retryAfterSeconds === undefined ? null : h('span', {}, ` · retry after ${err.retryAfterSeconds} s`),
      err.requestId ? h('span', { class: 'meta' }, ' · request id ', h('code', {}, err.requestId)) : null,
    );
  }
  return h('div', { class: 'api-error' }, h('strong', {}, 'Network error'), ` ${err instanceof Error ? err.message : String(err)}`);
}
