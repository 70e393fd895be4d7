import fc from 'fast-check';
import { type BucketState, RateLimiter, rateLimitField, rateLimitPolicyField, takeTokens, windowSeconds } from '../../../src/core/rate-limit';

const policy = { ratePerSecond: 2, burst: 4 };

describe('takeTokens', () => {
  it('lets a new client spend its whole burst at once, then refuses with the wait for one token', () => {
    // Prepare
    let state: BucketState | undefined;
    const decisions = [];
    // Act
    for (let i = 0; i < 5; i++) {
      const r = takeTokens(state, policy, 1000, 1);
      state = r.state;
      decisions.push(r.decision);
    }
    // Assess
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, true, false]);
    expect(decisions.map((d) => d.remaining)).toEqual([3, 2, 1, 0, 0]);
    // Full again in (4 - tokens) / 2 s, rounded up.
    expect(decisions.slice(0, 4).map((d) => d.resetSeconds)).toEqual([1, 1, 2, 2]);
    expect(decisions[4]).toEqual({ allowed: false, remaining: 0, resetSeconds: 1, retryAfterSeconds: 1 });
  });

  it('refills at the rate, never past the burst', () => {
    const empty: BucketState = { tokens: 0, updatedMs: 0 };
    expect(takeTokens(empty, policy, 499, 1).decision.allowed).toBe(false); // 0.998 tokens
    expect(takeTokens(empty, policy, 500, 1).decision).toMatchObject({ allowed: true, remaining: 0 });
    // An hour idle still holds no more than the burst.
    expect(takeTokens(empty, policy, 3_600_000, 1).decision).toMatchObject({ allowed: true, remaining: 3, resetSeconds: 1 });
  });

  it('rounds Retry-After up to whole seconds, so the retry finds its token', () => {
    const slow = { ratePerSecond: 0.25, burst: 1 };
    const r = takeTokens({ tokens: 0.5, updatedMs: 0 }, slow, 0, 1);
    // Half a token missing at 0.25/s: 2 s.
    expect(r.decision).toMatchObject({ allowed: false, retryAfterSeconds: 2, resetSeconds: 2 });
    expect(takeTokens(r.state, slow, 2000, 1).decision.allowed).toBe(true);
  });

  it('does not refill on a clock that steps back', () => {
    const r = takeTokens({ tokens: 1, updatedMs: 10_000 }, policy, 5_000, 1);
    expect(r.decision).toMatchObject({ allowed: true, remaining: 0 });
    expect(r.state.tokens).toBe(0);
  });

  it('never lets a client through more than its burst plus what its rate earned, whatever the timing', () => {
    fc.assert(
      fc.property(
        fc.record({ ratePerSecond: fc.double({ min: 0.1, max: 100, noNaN: true }), burst: fc.integer({ min: 1, max: 50 }) }),
        fc.array(fc.integer({ min: 0, max: 2000 }), { minLength: 1, maxLength: 200 }),
        (p, gaps) => {
          let state: BucketState | undefined;
          let now = 0;
          let allowed = 0;
          for (const gap of gaps) {
            now += gap;
            const r = takeTokens(state, p, now, 1);
            state = r.state;
            if (r.decision.allowed) allowed++;
            expect(r.decision.remaining).toBeGreaterThanOrEqual(0);
            expect(r.decision.remaining).toBeLessThan(p.burst);
            if (!r.decision.allowed) expect(r.decision.retryAfterSeconds).toBeGreaterThanOrEqual(1);
          }
          expect(allowed).toBeLessThanOrEqual(p.burst + Math.floor((now / 1000) * p.ratePerSecond + 1e-9));
        },
      ),
    );
  });

  it('never refuses a client that keeps to its rate', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 300 }), (rate, burst, n) => {
        let state: BucketState | undefined;
        for (let i = 0; i < n; i++) {
          const r = takeTokens(state, { ratePerSecond: rate, burst }, (i * 1000) / rate, 1);
          state = r.state;
          expect(r.decision.allowed).toBe(true);
        }
      }),
    );
  });
});

describe('RateLimiter', () => {
  it('keeps one bucket per client on its clock', () => {
    // Prepare
    let now = 0;
    const limiter = new RateLimiter(() => now);
    // Act: A spends its burst; B, on the same clock, still has all of its own.
    const a = Array.from({ length: 5 }, () => limiter.take('A', policy).allowed);
    const b = limiter.take('B', policy);
    now += 500;
    const aLater = limiter.take('A', policy);
    // Assess
    expect(a).toEqual([true, true, true, true, false]);
    expect(b).toMatchObject({ allowed: true, remaining: 3 });
    expect(aLater).toMatchObject({ allowed: true, remaining: 0 });
  });
});

describe('RateLimit fields (draft-ietf-httpapi-ratelimit-headers-09)', () => {
  it('states the policy as a quota per window: the burst, over the seconds the rate takes to earn it', () => {
    expect(rateLimitPolicyField({ ratePerSecond: 50, burst: 100 })).toBe('"default";q=100;w=2');
    expect(rateLimitPolicyField({ ratePerSecond: 2, burst: 4 })).toBe('"default";q=4;w=2');
    // Rounded up, q/w never exceeds the rate; never under a second.
    expect(windowSeconds({ ratePerSecond: 3, burst: 10 })).toBe(4);
    expect(windowSeconds({ ratePerSecond: 100, burst: 10 })).toBe(1);
  });

  it('states what is left and when, as a String item with Integer parameters', () => {
    const field = rateLimitField({ allowed: false, remaining: 0, resetSeconds: 3, retryAfterSeconds: 3 });
    expect(field).toBe('"default";r=0;t=3');
    expect(field).toMatch(/^"[a-z]+";r=\d+;t=\d+$/);
  });
});
