/**
 * A bounded least-recently-used map from content keys to answers. The same bytes through the same model version with
 * the same top-k always classify the same way, so a retry that resends them (mobile clients do) is answered without a
 * decode or an inference, as Triton's response cache answers a repeated request. Entries are small and their number
 * is capped, so the memory is too.
 */
export class ResponseCache<V> {
  private readonly entries = new Map<string, V>();
  private hitCount = 0;
  private missCount = 0;

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.entries.size;
  }

  get hits(): number {
    return this.hitCount;
  }

  get misses(): number {
    return this.missCount;
  }

  get(key: string): V | undefined {
    const value = this.entries.get(key);
    if (value === undefined) {
      this.missCount++;
      return undefined;
    }
    // Map keeps insertion order: re-inserting makes this the most recently used.
    this.entries.delete(key);
    this.entries.set(key, value);
    this.hitCount++;
    return value;
  }

  set(key: string, value: V): void {
    if (this.capacity <= 0) return;
    this.entries.delete(key);
    this.entries.set(key, value);
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.capacity) break;
      this.entries.delete(oldest);
    }
  }
}

/** The key of one answer: the bytes' SHA-256 (hex), the model's name and version, and the top-k asked for. */
export const responseCacheKey = (sha256Hex: string, model: string, version: string, topK: number): string =>
  `${sha256Hex}|${model}|${version}|${topK}`;
