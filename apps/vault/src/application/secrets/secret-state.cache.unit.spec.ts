import { describe, expect, it } from '@jest/globals';
import { parseSecretChange, secretChangePayload } from '../../adapters/persistence/secret-change.listener.js';
import { initialSecretState } from '../../domain/secret/secret.decider.js';
import { SecretStateCache, type CachedSecretState } from './secret-state.cache.js';

const at = (streamVersion: number): CachedSecretState => ({ state: { ...initialSecretState(), status: 'active', name: 'n', latest: `v${streamVersion}` }, streamVersion });
const cache = (): SecretStateCache => new SecretStateCache({ maxEntries: 10, ttlMs: 60_000 });

describe('SecretStateCache', () => {
  it('serves the state this process committed last, never an older one over a newer', () => {
    const c = cache();
    const token = c.begin();
    c.store('v/n', token, at(3));
    expect(c.get('v/n')?.streamVersion).toBe(3);
    c.store('v/n', c.begin(), at(2)); // a slower commit callback of an earlier version
    expect(c.get('v/n')?.streamVersion).toBe(3);
  });

  it('keeps its entry on its own commit’s notification, drops it on a newer version committed elsewhere', () => {
    const c = cache();
    c.store('v/n', c.begin(), at(3));
    c.invalidate('v/n', 3); // this process's own notification, heard back
    expect(c.get('v/n')?.streamVersion).toBe(3);
    c.invalidate('v/n', 4); // another process committed version 4
    expect(c.get('v/n')).toBeUndefined();
  });

  it('does not store a state older than a version announced while it was being decided', () => {
    const c = cache();
    const token = c.begin();
    c.invalidate('v/n', 5); // another process committed version 5 meanwhile
    c.store('v/n', token, at(4));
    expect(c.get('v/n')).toBeUndefined();
    c.store('v/n', c.begin(), at(6));
    expect(c.get('v/n')?.streamVersion).toBe(6);
  });

  it('a change of unknown version (an append whose outcome is unknown, a conflict) drops the entry and what was decided before it', () => {
    const c = cache();
    c.store('v/n', c.begin(), at(1));
    const token = c.begin();
    c.invalidate('v/n');
    expect(c.get('v/n')).toBeUndefined();
    c.store('v/n', token, at(2));
    expect(c.get('v/n')).toBeUndefined();
    c.store('v/n', c.begin(), at(3)); // decided after it: kept
    expect(c.get('v/n')?.streamVersion).toBe(3);
  });

  it('a rebuild or a lost listener drops everything; while deaf it neither serves nor stores', () => {
    const c = cache();
    c.store('v/a', c.begin(), at(1));
    const token = c.begin();
    c.invalidateAll();
    expect(c.get('v/a')).toBeUndefined();
    c.store('v/a', token, at(2));
    expect(c.get('v/a')).toBeUndefined();
    c.setListening(false);
    c.store('v/a', c.begin(), at(3));
    expect(c.get('v/a')).toBeUndefined();
    c.setListening(true);
    expect(c.get('v/a')).toBeUndefined();
    c.store('v/a', c.begin(), at(4));
    expect(c.get('v/a')?.streamVersion).toBe(4);
  });

  it('is off with no room', () => {
    const c = new SecretStateCache({ maxEntries: 0, ttlMs: 60_000 });
    c.store('v/n', c.begin(), at(1));
    expect([c.get('v/n'), c.size]).toEqual([undefined, 0]);
  });
});

describe('secret change payloads', () => {
  it('carry the key and the committed stream version; an old payload without one, or `*`, still parses', () => {
    const key = '0d5c3f3e-1b7a-4a53-9d7e-5c2f6f1d9a11/db-password';
    expect(parseSecretChange(secretChangePayload(key, 42))).toEqual({ key, version: 42 });
    expect(parseSecretChange(key)).toEqual({ key });
    expect(parseSecretChange('*')).toBe('*');
    expect(parseSecretChange('')).toBe('*');
  });
});
