import { describe, expect, it } from '@jest/globals';
import { DataKeyCache } from './data-key.cache.js';

const key = (fill: number): Buffer => Buffer.alloc(32, fill);

describe('data key cache', () => {
  it('fetches once, then serves from memory; concurrent misses share one fetch', async () => {
    const cache = new DataKeyCache({ maxEntries: 10, ttlMs: 60_000 });
    let fetches = 0;
    const load = async () => {
      fetches++;
      await new Promise((r) => setTimeout(r, 5));
      return key(1);
    };
    const results = await Promise.all([1, 2, 3].map(() => cache.use('k1', load, (k) => k[0])));
    expect(results).toEqual([1, 1, 1]);
    expect(await cache.use('k1', load, (k) => k[0])).toBe(1);
    expect(fetches).toBe(1);
    cache.close();
  });

  it('is bounded: the least recently used key leaves first and is zeroed', async () => {
    const cache = new DataKeyCache({ maxEntries: 2, ttlMs: 60_000 });
    const k1 = key(1);
    const k2 = key(2);
    cache.put('k1', k1);
    cache.put('k2', k2);
    await cache.use('k1', async () => key(9), () => undefined);
    cache.put('k3', key(3));
    expect(cache.size).toBe(2);
    expect(k2.every((b) => b === 0)).toBe(true);
    expect(await cache.use('k1', async () => key(9), (k) => k[0])).toBe(1);
    cache.close();
    expect(k1.every((b) => b === 0)).toBe(true);
  });

  it('expires keys after the TTL and zeroes them', async () => {
    const start = 1_700_000_000_000; // a wall-clock instant: lru-cache reads a start time of 0 as "no TTL"
    let now = start;
    const cache = new DataKeyCache({ maxEntries: 10, ttlMs: 1_000, now: () => now });
    const k = key(5);
    cache.put('k', k);
    now = start + 1_000;
    expect(await cache.use('k', async () => key(6), (x) => x[0])).toBe(5);
    now = start + 1_001;
    expect(await cache.use('k', async () => key(6), (x) => x[0])).toBe(6);
    expect(k.every((b) => b === 0)).toBe(true);
    cache.close();
  });

  it('forget() drops and zeroes destroyed keys; a zero-size cache zeroes after each use', async () => {
    const cache = new DataKeyCache({ maxEntries: 10, ttlMs: 60_000 });
    const k = key(4);
    cache.put('k', k);
    cache.forget(['k']);
    expect(k.every((b) => b === 0)).toBe(true);
    cache.close();
    const none = new DataKeyCache({ maxEntries: 0, ttlMs: 60_000 });
    const loaded = key(8);
    expect(await none.use('k', async () => loaded, (x) => x[0])).toBe(8);
    expect(loaded.every((b) => b === 0)).toBe(true);
    none.close();
  });

  it('replacing a key zeroes the old buffer, re-putting the same buffer keeps it', async () => {
    const cache = new DataKeyCache({ maxEntries: 10, ttlMs: 60_000 });
    const first = key(1);
    const second = key(2);
    cache.put('k', first);
    cache.put('k', first);
    expect(first.every((b) => b === 1)).toBe(true);
    cache.put('k', second);
    expect(first.every((b) => b === 0)).toBe(true);
    expect(await cache.use('k', async () => key(9), (x) => x[0])).toBe(2);
    cache.close();
    expect(second.every((b) => b === 0)).toBe(true);
  });
});
