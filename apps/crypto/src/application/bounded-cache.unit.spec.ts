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
    const start = 1_700_000_000_000; // a wall-clock instant: lru-cache reads a start time of 0 as "no TTL"
    let now = start;
    const disposed: string[] = [];
    const cache = new BoundedCache<string, string>(10, 1_000, (v) => disposed.push(v), () => now);
    cache.set('a', 'A');
    now = start + 1_000;
    expect(cache.get('a')).toBe('A');
    now = start + 1_001; // stale once older than the TTL
    expect(cache.get('a')).toBeUndefined();
    expect(disposed).toEqual(['A']);
    cache.close();
  });

  it('a periodic sweep disposes expired entries nobody asks for again', () => {
    const start = 1_700_000_000_000;
    let now = start;
    const disposed: string[] = [];
    const cache = new BoundedCache<string, string>(10, 1_000, (v) => disposed.push(v), () => now);
    cache.set('a', 'A');
    cache.set('b', 'B');
    now = start + 1_001;
    cache.set('c', 'C');
    cache.sweep();
    expect(disposed.sort()).toEqual(['A', 'B']);
    expect(cache.size).toBe(1);
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
