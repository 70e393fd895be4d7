import fc from 'fast-check';

/**
 * How hard the fuzzers try. The defaults keep the whole fuzz suite well under a minute on 2 shared cores;
 * FUZZ_RUNS_SCALE multiplies the runs for a longer session, FUZZ_SEED replays the run a failure printed (fast-check prints seed and path).
 */
const scale = Number(process.env.FUZZ_RUNS_SCALE || 1);
const seed = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);

/**
 * fast-check parameters for one property: `runs` runs at most, each failed past `perRunMs` (a hang), and the property
 * stopped, passing on the runs made, after `budgetMs` so a slow machine shortens the search rather than the suite failing.
 */
export function budget<T>(runs: number, options: { perRunMs: number; budgetMs: number }): fc.Parameters<T> {
  return {
    numRuns: Math.max(1, Math.round(runs * scale)),
    ...(seed === undefined ? {} : { seed }),
    plugins: [fc.timeout(options.perRunMs), fc.interruptAfterTimeLimit(options.budgetMs * scale)],
  };
}

/** A mutation of a byte string, as fuzzers apply them: flip, overwrite, insert, delete, duplicate, truncate. */
export type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'overwrite' | 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete' | 'duplicate'; at: number; length: number }
  | { kind: 'truncate'; at: number };

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({ kind: fc.constantFrom('overwrite' as const, 'insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
  fc.record({ kind: fc.constantFrom('delete' as const, 'duplicate' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 4096 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);

/** Applies mutations in order; positions wrap around the current length, so every mutation lands somewhere. */
export function mutate(input: Uint8Array, mutations: readonly Mutation[]): Buffer {
  let b = Buffer.from(input);
  for (const m of mutations) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    switch (m.kind) {
      case 'flip':
        b[at] = (b[at] ?? 0) ^ (1 << m.bit);
        break;
      case 'overwrite':
        b.set(m.bytes.subarray(0, b.length - at), at);
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.length)]);
        break;
      case 'duplicate':
        b = Buffer.concat([b.subarray(0, at + m.length), b.subarray(at, at + m.length), b.subarray(at + m.length)]);
        break;
      case 'truncate':
        b = b.subarray(0, at);
        break;
    }
  }
  return b;
}

/** Collects what escapes as an uncaught exception or unhandled rejection while `fn` runs (and a tick after). */
export async function escapes(fn: () => Promise<void>): Promise<unknown[]> {
  const escaped: unknown[] = [];
  const onEscape = (err: unknown) => escaped.push(err);
  process.on('uncaughtException', onEscape);
  process.on('unhandledRejection', onEscape);
  try {
    await fn();
    await new Promise((r) => setTimeout(r, 50));
  } finally {
    process.off('uncaughtException', onEscape);
    process.off('unhandledRejection', onEscape);
  }
  return escaped;
}
