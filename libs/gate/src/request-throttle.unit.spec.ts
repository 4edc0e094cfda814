import { describe, expect, it } from '@jest/globals';
import { AZURE_VAULT_LIMITS, parseThrottleLimits, RequestThrottle, throttleClassOf } from './request-throttle.js';

const limits = { 'keys-create': 2, keys: 3, secrets: 3, other: 3 };

describe('request budgets with Azure semantics', () => {
  it("defaults to Azure's published Key Vault limits per 10 s", () => {
    expect(AZURE_VAULT_LIMITS).toEqual({ 'keys-create': 10, keys: 2000, secrets: 4000, other: 4000 });
  });

  it('classes operations as Azure counts them', () => {
    expect(throttleClassOf({ name: 'KeyCreate', collection: 'keys' })).toBe('keys-create');
    expect(throttleClassOf({ name: 'KeyImport', collection: 'keys' })).toBe('keys-create');
    expect(throttleClassOf({ name: 'KeySign', collection: 'keys' })).toBe('keys');
    expect(throttleClassOf({ name: 'SecretGet', collection: 'secrets' })).toBe('secrets');
    expect(throttleClassOf({ name: 'VaultList' })).toBe('other');
  });

  it('refuses a vault budget once spent, with the seconds until its window ends, and lets the next window through', () => {
    let now = 1_000_000;
    const t = new RequestThrottle(limits, { ...limits, secrets: 100 }, () => now);
    expect([t.take('/vaults/a', 'p1', 'secrets'), t.take('/vaults/a', 'p2', 'secrets'), t.take('/vaults/a', 'p3', 'secrets')]).toEqual([undefined, undefined, undefined]);
    expect(t.take('/vaults/a', 'p4', 'secrets')).toBe(10);
    now += 7_500;
    expect(t.take('/vaults/a', 'p4', 'secrets')).toBe(3);
    // Other vaults and other classes have their own budgets.
    expect(t.take('/vaults/b', 'p4', 'secrets')).toBeUndefined();
    expect(t.take('/vaults/a', 'p4', 'keys')).toBeUndefined();
    now += 2_500;
    expect(t.take('/vaults/a', 'p4', 'secrets')).toBeUndefined();
  });

  it('refuses one principal that spent its own budget while others still get through', () => {
    const now = 5_000;
    const t = new RequestThrottle({ ...limits, keys: 100 }, { ...limits, keys: 2 }, () => now);
    expect(t.take('/vaults/a', 'noisy', 'keys')).toBeUndefined();
    expect(t.take('/vaults/a', 'noisy', 'keys')).toBeUndefined();
    expect(t.take('/vaults/a', 'noisy', 'keys')).toBe(10);
    expect(t.take('/vaults/a', 'quiet', 'keys')).toBeUndefined();
  });

  it('does not count refused requests against the budget', () => {
    let now = 0;
    const t = new RequestThrottle(limits, limits, () => now);
    for (let i = 0; i < 2; i++) t.take('/vaults/a', 'p', 'keys-create');
    for (let i = 0; i < 50; i++) expect(t.take('/vaults/a', 'p', 'keys-create')).toBeGreaterThan(0);
    now += 10_000;
    expect(t.take('/vaults/a', 'p', 'keys-create')).toBeUndefined();
  });

  it('reads limits from configuration over the defaults and names a bad entry', () => {
    expect(parseThrottleLimits('keys-create=100, secrets=8000')).toEqual({ 'keys-create': 100, keys: 2000, secrets: 8000, other: 4000 });
    expect(parseThrottleLimits('')).toEqual(AZURE_VAULT_LIMITS);
    expect(() => parseThrottleLimits('certs=5')).toThrow(/certs=5/);
    expect(() => parseThrottleLimits('keys=0')).toThrow(/keys=0/);
  });
});
