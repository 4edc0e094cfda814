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
type Usage = { total: number; byPrincipal?: Bucket[]; byAlgorithm?: Bucket[]; byOperation?: Bucket[] };

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

  it('refuses an unknown dimension with 400 BadParameter', async () => {
    const res = await audit('/audit/usage?by=algorithm,colour');
    expect(res.status).toBe(400);
    expect((res.json as { error: { code: string } }).error.code).toBe('BadParameter');
  });
});
