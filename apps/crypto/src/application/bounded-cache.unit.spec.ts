import { describe, expect, it } from '@jest/globals';
import { BoundedCache } from './bounded-cache.js';

describe('BoundedCache', () => {
  it('evicts the least recently used entry beyond the bound, and disposes what it drops', () => {
    const disposed: string[] = [];
    const cache = new BoundedCache<string, string>(2, 60_000, (v) => disposed.push(v));
    cache.set('a', 'A');
    cache.set('b', 'B');
    expect(cache.get('a')).toBe('A');
    cache.set('c', 'C');
    expect(cache.get('b')).toBeUndefined();
    expect(disposed).toEqual(['B']);
    cache.close();
    expect(disposed.sort()).toEqual(['A', 'B', 'C']);
  });

  it('expires entries after the TTL and disposes them', () => {
    let now = 0;
    const disposed: string[] = [];
    const cache = new BoundedCache<string, string>(10, 1_000, (v) => disposed.push(v), () => now);
    cache.set('a', 'A');
    now = 999;
    expect(cache.get('a')).toBe('A');
    now = 1_000;
    expect(cache.get('a')).toBeUndefined();
    expect(disposed).toEqual(['A']);
    cache.close();
  });

  it('a bound of 0 keeps nothing; deleteWhere and replace dispose', () => {
    const disposed: string[] = [];
    const none = new BoundedCache<string, string>(0, 1_000, (v) => disposed.push(v));
    none.set('a', 'A');
    expect(none.get('a')).toBeUndefined();
    const cache = new BoundedCache<string, string>(10, 60_000, (v) => disposed.push(v));
    cache.set('k1', 'old');
    cache.set('k1', 'new');
    cache.set('x', 'X');
    cache.deleteWhere((k) => k.startsWith('k'));
    expect(disposed).toEqual(['A', 'old', 'new']);
    expect(cache.size).toBe(1);
    cache.close();
    none.close();
  });
});
