/** Headers a browser script may read on a cross-origin response. */
const EXPOSED = 'X-Request-Id, Retry-After, Location, X-Job-Status, Link, X-Next-Cursor, RateLimit, RateLimit-Policy, WWW-Authenticate, X-Cache';

/**
 * CORS headers of an actual response (preflights are API Gateway's, from serverless.yml). No credentials are
 * allowed: clients authenticate with headers, which a wildcard origin does not expose to other sites.
 */
export function corsHeaders(origin: string | undefined, allowed: readonly string[]): Record<string, string> {
  if (allowed.includes('*')) return { 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': EXPOSED };
  const headers: Record<string, string> = { Vary: 'Origin' };
  if (origin !== undefined && allowed.includes(origin)) {
    headers['Access-Control-Allow-Origin'] = origin;
    headers['Access-Control-Expose-Headers'] = EXPOSED;
  }
  return headers;
}
