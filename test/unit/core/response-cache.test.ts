import { createHash } from 'node:crypto';
import { classifyImages } from '../../../src/core/classify';
import type { Classification } from '../../../src/core/model';
import { ResponseCache, responseCacheKey } from '../../../src/core/response-cache';
import { FakeEngine, modelCatalogOf, realManifest } from './fakes';

describe('ResponseCache', () => {
  it('keeps the most recently used entries up to its capacity and counts hits and misses', () => {
    // Prepare
    const c = new ResponseCache<number>(2);
    c.set('a', 1);
    c.set('b', 2);
    // Act: reading a makes b the oldest, so c pushes b out
    expect(c.get('a')).toBe(1);
    c.set('c', 3);
    // Assess
    expect([c.get('b'), c.get('a'), c.get('c')]).toEqual([undefined, 1, 3]);
    expect({ size: c.size, hits: c.hits, misses: c.misses }).toEqual({ size: 2, hits: 3, misses: 1 });
  });

  it('holds nothing at size 0', () => {
    const c = new ResponseCache<number>(0);
    c.set('a', 1);
    expect(c.get('a')).toBeUndefined();
    expect(c.size).toBe(0);
  });

  it('keys by content, model, version and top-k', () => {
    const keys = new Set([
      responseCacheKey('ab', 'm', '1', 5),
      responseCacheKey('ac', 'm', '1', 5),
      responseCacheKey('ab', 'n', '1', 5),
      responseCacheKey('ab', 'm', '2', 5),
      responseCacheKey('ab', 'm', '1', 3),
    ]);
    expect(keys.size).toBe(5);
  });
});

describe('classifyImages with a response cache', () => {
  const manifest = realManifest();
  const setup = () => {
    const engine = new FakeEngine(manifest.output.classes);
    const store = new ResponseCache<Classification>(16);
    const deps = {
      engine,
      catalog: modelCatalogOf(manifest),
      cache: { store, digest: (b: Uint8Array) => createHash('sha256').update(b).digest('hex') },
    };
    return { engine, store, deps };
  };
  const bytes = (s: string) => new Uint8Array(Buffer.from(s));

  it('infers only the images it has not seen with that top-k, and says which answers were cached', async () => {
    // Prepare
    const { engine, deps } = setup();
    await classifyImages(deps, [bytes('a'), bytes('b')]);
    // Act
    const out = await classifyImages(deps, [bytes('b'), bytes('c'), bytes('a')]);
    const otherK = await classifyImages(deps, [bytes('a')], { topK: 3 });
    // Assess
    expect(out.map((o) => o.ok && o.cached)).toEqual([true, false, true]);
    expect(otherK.map((o) => o.ok && o.cached)).toEqual([false]);
    expect(engine.seen.map((b) => Buffer.from(b).toString())).toEqual(['a', 'b', 'c', 'a']);
    const [hit] = out;
    expect(hit?.ok && hit.value.timings.queueMs).toBe(0);
  });

  it('leaves background (batch-path) work uncached', async () => {
    const { engine, store, deps } = setup();
    await classifyImages(deps, [bytes('a')], { priority: 'background' });
    await classifyImages(deps, [bytes('a')], { priority: 'background' });
    expect(engine.seen).toHaveLength(2);
    expect(store.size).toBe(0);
  });
});
