/**
 * Per-client rate limiting: one token bucket per client, and the values of the `RateLimit-Policy` and `RateLimit`
 * fields (draft-ietf-httpapi-ratelimit-headers-09) that tell the client where it stands.
 */

/** A client's allowance: `ratePerSecond` tokens flow back continuously, up to `burst` held at once. */
export interface RatePolicy {
  readonly ratePerSecond: number;
  readonly burst: number;
}

export interface BucketState {
  tokens: number;
  updatedMs: number;
}

export interface RateDecision {
  allowed: boolean;
  /** Whole tokens left after this request (the field's `r`). */
  remaining: number;
  /**
   * Seconds until the bucket is full again when allowed; when refused, until the request would pass, the same
   * instant as Retry-After, as the draft asks of a response that carries both (the field's `t`).
   */
  resetSeconds: number;
  /** Seconds to wait before retrying; 0 when allowed. */
  retryAfterSeconds: number;
}

/**
 * Refills `state` to `nowMs` and takes `cost` tokens if they are there. A new client starts with a full bucket.
 * Pure: the caller keeps the returned state.
 */
export function takeTokens(
  state: BucketState | undefined,
  policy: RatePolicy,
  nowMs: number,
  cost = 1,
): { state: BucketState; decision: RateDecision } {
  const elapsedS = state === undefined ? 0 : Math.max(0, nowMs - state.updatedMs) / 1000;
  const available = state === undefined ? policy.burst : Math.min(policy.burst, state.tokens + elapsedS * policy.ratePerSecond);
  // A client exactly at its rate must not lose a request to float rounding (1000 / 3 ms of refill is 0.999… token).
  if (available + 1e-9 >= cost) {
    const tokens = Math.max(0, available - cost);
    return {
      state: { tokens, updatedMs: nowMs },
      decision: {
        allowed: true,
        remaining: Math.floor(tokens),
        resetSeconds: Math.ceil((policy.burst - tokens) / policy.ratePerSecond),
        retryAfterSeconds: 0,
      },
    };
  }
  // Retry-After is whole seconds; rounding up means the retry finds its token.
  const wait = Math.max(1, Math.ceil((cost - available) / policy.ratePerSecond));
  return { state: { tokens: available, updatedMs: nowMs }, decision: { allowed: false, remaining: 0, resetSeconds: wait, retryAfterSeconds: wait } };
}

/** The buckets of every client this process has seen, on one clock. */
export class RateLimiter {
  private readonly buckets = new Map<string, BucketState>();

  /** `now` in milliseconds, monotonic (performance.now()): a wall-clock step must not refill or drain a bucket. */
  constructor(private readonly now: () => number) {}

  take(client: string, policy: RatePolicy, cost = 1): RateDecision {
    const { state, decision } = takeTokens(this.buckets.get(client), policy, this.now(), cost);
    this.buckets.set(client, state);
    return decision;
  }
}

/** The policy's name in both fields: one policy per client. */
export const RATE_POLICY_NAME = 'default';

/**
 * The window over which the bucket hands out `burst` requests at its steady rate, in whole seconds (the field's `w`).
 * Rounded up, so q/w never promises more than the rate.
 */
export const windowSeconds = (policy: RatePolicy): number => Math.max(1, Math.ceil(policy.burst / policy.ratePerSecond));

/** `RateLimit-Policy`: the quota `q` (the burst) per window `w`, unchanging for a client. */
export const rateLimitPolicyField = (policy: RatePolicy): string => `"${RATE_POLICY_NAME}";q=${policy.burst};w=${windowSeconds(policy)}`;

/** `RateLimit`: what is left now (`r`) and when it is back (`t`). */
export const rateLimitField = (decision: RateDecision): string => `"${RATE_POLICY_NAME}";r=${decision.remaining};t=${decision.resetSeconds}`;
