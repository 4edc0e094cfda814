/**
 * "Who used key K in the last hour, with which algorithm": signatures made with the official
 * CryptographyClient are counted by principal and algorithm by the audit API (and so by
 * `keyledger audit usage --object K --by principal,algorithm`), from the vault's records.
 */
import { createHash } from 'node:crypto';
import { afterAll, describe, expect, it, jest } from '@jest/globals';
import { CryptographyClient, KeyClient } from '@azure/keyvault-keys';
import { audit } from './audit-e2e.support.js';
import { CA, closeDb, credential, installLocalhostDns, suffix, vaultUrl } from '../vault/vault-e2e.support.js';

jest.setTimeout(90_000);
installLocalhostDns();

type Bucket = { key: string; count: number; success: number; failure: number };
type TimeBucket = { time: string; count: number; success: number; failure: number };
type Usage = { total: number; counting: string; intervalMs?: number; overTime?: TimeBucket[]; byPrincipal?: Bucket[]; byAlgorithm?: Bucket[]; byOperation?: Bucket[] };

afterAll(() => closeDb());

describe('key usage by principal and algorithm', () => {
  it('counts each signature of a key by the principal that made it and the algorithm it used', async () => {
    const name = `usage-${suffix()}`;
    const tlsOptions = { ca: CA.toString() };
    const keys = new KeyClient(vaultUrl('dev'), credential(), { tlsOptions });
    const key = await keys.createRsaKey(name, { keySize: 2048 });
    const crypto = new CryptographyClient(key.id!, credential(), { tlsOptions });
    const digest = createHash('sha256').update('what the key signs').digest();
    await crypto.sign('RS256', digest);
    await crypto.sign('RS256', digest);
    await crypto.sign('PS256', digest);

    let usage: Usage | undefined;
    for (let i = 0; i < 150; i++) {
      const res = await audit(`/audit/usage?${new URLSearchParams({ since: '1h', object: name, service: 'vault', collection: 'keys', operation: 'KeySign', by: 'principal,algorithm' })}`);
      expect(res.status).toBe(200);
      usage = res.json as Usage;
      if ((usage.byAlgorithm ?? []).reduce((n, b) => n + b.count, 0) >= 3) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(usage?.byAlgorithm).toEqual(expect.arrayContaining([expect.objectContaining({ key: 'RS256', count: 2, failure: 0 }), expect.objectContaining({ key: 'PS256', count: 1 })]));
    expect(usage?.byPrincipal).toHaveLength(1);
    expect(usage?.byPrincipal?.[0]?.count).toBe(3);
  });

  it('counts each REST signature once (not again as the crypto service\'s step) in the breakdowns and in the time histogram, failures apart', async () => {
    const name = `usage-once-${suffix()}`;
    const tlsOptions = { ca: CA.toString() };
    const key = await new KeyClient(vaultUrl('dev'), credential(), { tlsOptions }).createEcKey(name, { curve: 'P-256' });
    const crypto = new CryptographyClient(key.id!, credential(), { tlsOptions, retryOptions: { maxRetries: 0 } });
    const digest = createHash('sha256').update('counted once').digest();
    await crypto.sign('ES256', digest);
    await crypto.sign('ES256', digest);
    // A digest of the wrong length: the vault forwards it, the crypto service refuses it (two failure records, one operation).
    await expect(crypto.sign('ES256', Buffer.alloc(7))).rejects.toThrow();
    const from = new Date(Date.now() - 10 * 60_000).toISOString();
    const query = (extra: Record<string, string>) => `/audit/usage?${new URLSearchParams({ from, object: `dev/keys/${name}`, operation: 'KeySign', by: 'operation,principal,algorithm', ...extra })}`;

    // Both services' records are indexed: the crypto service's steps carry the vault request's URI.
    let records: Usage | undefined;
    for (let i = 0; i < 150; i++) {
      records = (await audit(query({ service: 'crypto' }))).json as Usage;
      const vault = (await audit(query({ service: 'vault' }))).json as Usage;
      if (records.total >= 2 && vault.total >= 3) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(records?.counting).toBe('records');

    const res = await audit(query({ interval: '1m' }));
    expect(res.status).toBe(200);
    const usage = res.json as Usage;
    expect(usage.counting).toBe('operations');
    expect(usage.total).toBe(3);
    expect(usage.byOperation).toEqual([expect.objectContaining({ key: 'KeySign', count: 3, success: 2, failure: 1 })]);
    expect(usage.byPrincipal?.[0]?.count).toBe(3);
    expect(usage.intervalMs).toBe(60_000);
    // Ten one-minute buckets (eleven when the window straddles a minute), empty ones included, summing to the same three operations.
    expect(usage.overTime?.length).toBeGreaterThanOrEqual(10);
    const sum = (usage.overTime ?? []).reduce((n, b) => ({ count: n.count + b.count, failure: n.failure + b.failure }), { count: 0, failure: 0 });
    expect(sum).toEqual({ count: 3, failure: 1 });
  });

  it('refuses a histogram interval that is not a duration, or that makes too many buckets, with 400 BadParameter', async () => {
    for (const q of ['interval=often', 'interval=1s&since=7d']) {
      const res = await audit(`/audit/usage?${q}`);
      expect([res.status, (res.json as { error: { code: string } }).error.code]).toEqual([400, 'BadParameter']);
    }
  });

  it('refuses an unknown dimension with 400 BadParameter', async () => {
    const res = await audit('/audit/usage?by=algorithm,colour');
    expect(res.status).toBe(400);
    expect((res.json as { error: { code: string } }).error.code).toBe('BadParameter');
  });
});
