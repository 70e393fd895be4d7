import { createHash, timingSafeEqual } from 'node:crypto';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import type { ApiKeyEntry, Config } from '../../config';
import { type AppError, ForbiddenError, RateLimitedError, UnauthorizedError } from '../../core/errors';
import { type Access, type Principal, principal } from '../../core/principal';
import { type RateLimiter, rateLimitField, rateLimitPolicyField } from '../../core/rate-limit';
import { headerOf } from './headers';

/** The header clients send their key in, as API Gateway reads it. */
export const API_KEY_HEADER = 'x-api-key';

/** What the gate decided about one request; the headers go on the response whatever it is. */
export interface AccessDecision {
  principal?: Principal;
  headers: Record<string, string>;
  refusal?: AppError;
}

export type Gate = (event: APIGatewayProxyEvent, access: Access) => AccessDecision;

const sha256 = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/**
 * Finds the entry of a presented key in time independent of where, or whether, it matches: every entry is compared,
 * as equal-length digests, so neither the key's length nor a prefix of it shows in the answer time.
 */
export function keyLookup(entries: readonly ApiKeyEntry[]): (presented: string) => ApiKeyEntry | undefined {
  const table = entries.map((entry) => ({ entry, digest: sha256(entry.key) }));
  return (presented) => {
    const digest = sha256(presented);
    let found: ApiKeyEntry | undefined;
    for (const t of table) {
      if (timingSafeEqual(t.digest, digest) && found === undefined) found = t.entry;
    }
    return found;
  };
}

const missingKey = () => new UnauthorizedError(`this route needs an API key: send it in the ${API_KEY_HEADER} header`);
const operatorOnly = () => new ForbiddenError('this route needs an operator key');

/**
 * The access decision for every HTTP function, before any of its work. `keys`: the key is looked up, its bucket
 * charged one token per request, and every answer to it carries the RateLimit fields. `gateway`: API Gateway has
 * checked the key and applied its usage plan; a request without its key id (a route deployed without
 * `private: true`) is refused all the same.
 */
export function accessGate(auth: Config['auth'], limiter: RateLimiter): Gate {
  const lookup = keyLookup(auth.keys);
  const admitted = (p: Principal, access: Access, headers: Record<string, string> = {}): AccessDecision =>
    access === 'operator' && !p.operator ? { principal: p, headers, refusal: operatorOnly() } : { principal: p, headers };
  return (event, access) => {
    if (access === 'public') return { headers: {} };
    if (auth.mode === 'gateway') {
      const id = event.requestContext?.identity?.apiKeyId;
      return id ? admitted(principal(id, auth.operators), access) : { headers: {}, refusal: missingKey() };
    }
    const presented = headerOf(event, API_KEY_HEADER);
    if (!presented) return { headers: {}, refusal: missingKey() };
    const entry = lookup(presented);
    if (!entry) return { headers: {}, refusal: new UnauthorizedError('the API key is not valid') };
    const policy = { ratePerSecond: entry.ratePerSecond, burst: entry.burst };
    const decision = limiter.take(entry.name, policy);
    const headers = { 'RateLimit-Policy': rateLimitPolicyField(policy), RateLimit: rateLimitField(decision) };
    const who = principal(entry.name, auth.operators);
    if (!decision.allowed) {
      return {
        principal: who,
        headers,
        refusal: new RateLimitedError(`over this key's rate of ${entry.ratePerSecond} requests/s (burst ${entry.burst})`, decision.retryAfterSeconds),
      };
    }
    return admitted(who, access, headers);
  };
}
