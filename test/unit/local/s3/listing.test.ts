import { listPage } from '../../../../src/local/s3/server';
import { compareCodePoints, lowerBound } from '../../../../src/local/s3/store';

/** The listing rule written plainly: walk every key in order. listPage must agree with it on every input. */
function reference(keys: readonly string[], o: { prefix: string; delimiter: string | undefined; after: string | undefined; maxKeys: number }) {
  const out: string[] = [];
  const seen = new Set<string>();
  let truncated = false;
  for (const key of keys) {
    if (!key.startsWith(o.prefix)) continue;
    if (o.after !== undefined && compareCodePoints(key, o.after) <= 0) continue;
    let entry = key;
    if (o.delimiter !== undefined) {
      const at = key.indexOf(o.delimiter, o.prefix.length);
      if (at !== -1) entry = key.slice(0, at + o.delimiter.length);
    }
    if (seen.has(entry) || (o.after !== undefined && entry === o.after)) continue;
    if (out.length >= o.maxKeys) {
      truncated = true;
      break;
    }
    seen.add(entry);
    out.push(entry);
  }
  return { entries: out, truncated };
}

describe('S3 listing over a sorted index', () => {
  // A deterministic pseudo-random generator, so a failure reproduces.
  let seed = 42;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const alphabet = ['a', 'b', '/', 'é', '😀', 'Z', '0'];
  const word = (max: number) => Array.from({ length: 1 + rnd(max) }, () => alphabet[rnd(alphabet.length)]).join('');

  it('lowerBound finds the insertion point that keeps code point order', () => {
    const sorted: string[] = [];
    for (let i = 0; i < 500; i++) {
      const k = word(6);
      const at = lowerBound(sorted, k);
      if (sorted[at] !== k) sorted.splice(at, 0, k);
    }
    expect(sorted).toEqual([...new Set(sorted)].sort(compareCodePoints));
  });

  it('pages exactly as a full walk of the bucket would, for random prefixes, markers and delimiters', () => {
    for (let trial = 0; trial < 300; trial++) {
      const keys = [...new Set(Array.from({ length: 1 + rnd(60) }, () => word(5)))].sort(compareCodePoints);
      const o = {
        prefix: rnd(3) === 0 ? '' : word(2),
        delimiter: rnd(2) === 0 ? undefined : '/',
        after: rnd(2) === 0 ? undefined : rnd(2) === 0 ? (keys[rnd(keys.length)] as string) : word(3),
        maxKeys: 1 + rnd(8),
      };
      const page = listPage(keys, o);
      const want = reference(keys, o);
      expect({ entries: [...page.contents, ...page.commonPrefixes].sort(compareCodePoints), truncated: page.truncated }).toEqual({
        entries: [...want.entries].sort(compareCodePoints),
        truncated: want.truncated,
      });
    }
  });
});
