import { describe, expect, it } from '@jest/globals';
import type { SecretVersionRow } from '../../adapters/persistence/secrets.repository.js';
import { SecretVersionCache } from './secret-version.cache.js';

const row = (version: string): SecretVersionRow => ({
  vaultId: 'v',
  nameKey: 'n',
  name: 'n',
  status: 'active',
  managed: false,
  version,
  ciphertext: Buffer.from('sealed'),
  keyId: 'k',
  keyRef: 'r',
  contentType: null,
  tags: null,
  enabled: true,
  nbf: null,
  exp: null,
  created: 1,
  updated: 1,
  deletedDate: null,
  scheduledPurgeDate: null,
});

describe('SecretVersionCache', () => {
  it('serves what a read stored until the secret is invalidated', () => {
    const c = new SecretVersionCache({ maxEntries: 10, ttlMs: 60_000 });
    c.fill('v/n', c.begin(), row('1'));
    expect(c.get('v/n')?.version).toBe('1');
    c.invalidate('v/n');
    expect(c.get('v/n')).toBeUndefined();
  });

  it('never stores what a read found when the secret changed while it was reading', () => {
    const c = new SecretVersionCache({ maxEntries: 10, ttlMs: 60_000 });
    const raced = c.begin();
    const other = c.begin();
    c.invalidate('v/n'); // a change committed while both reads were in flight
    c.fill('v/n', raced, row('old'));
    expect(c.get('v/n')).toBeUndefined();
    c.fill('v/other', other, row('1')); // another secret's read is unaffected
    expect(c.get('v/other')?.version).toBe('1');
    const after = c.begin(); // a read that began after the change stores
    c.fill('v/n', after, row('new'));
    expect(c.get('v/n')?.version).toBe('new');
  });

  it('neither serves nor stores while changes of other processes cannot be heard, and forgets what it held', () => {
    const c = new SecretVersionCache({ maxEntries: 10, ttlMs: 60_000 });
    c.fill('v/n', c.begin(), row('1'));
    const during = c.begin();
    c.setListening(false);
    expect(c.get('v/n')).toBeUndefined();
    c.fill('v/n', c.begin(), row('2'));
    expect(c.size).toBe(0);
    c.setListening(true);
    c.fill('v/n', during, row('read-while-deaf'));
    expect(c.get('v/n')).toBeUndefined();
    c.fill('v/n', c.begin(), row('3'));
    expect(c.get('v/n')?.version).toBe('3');
  });

  it('a size of 0 caches nothing', () => {
    const c = new SecretVersionCache({ maxEntries: 0, ttlMs: 60_000 });
    c.fill('v/n', c.begin(), row('1'));
    expect(c.get('v/n')).toBeUndefined();
  });
});
