import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import type { CryptoClient } from '#libs/crypto-client';
import type { EventStore } from '#libs/eventstore';
import type { VaultRecord } from '../../adapters/persistence/vaults.repository.js';
import type { IssuanceRequest, IssuedChain } from '../certificates/issuing-authority.port.js';
import type { Caller } from '../access/caller.js';
import { SecurityDomainService } from './security-domain.service.js';

/**
 * Found by fuzzing with Azure's securitydomain.json: `GET /securitydomain/upload` answered a
 * transfer key without `x5c` and `x5t#S256`, both required by `SecurityDomainJsonWebKey`. The key
 * now carries the certificate the tenant's issuing CA makes for its public half, issued once per
 * pool and key version.
 */
describe('SecurityDomainService.transferKey', () => {
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = publicKey.export({ format: 'jwk' }) as { n: string; e: string };
  const pool = { vaultId: 'v-1', name: 'pool1', nameKey: 'pool1', tenantId: 'tenant-1', kind: 'managedHsm' } as unknown as VaultRecord;
  const caller: Caller = { tenantId: 'tenant-1', objectId: 'o', ip: '127.0.0.1', correlationId: 'c', requestUri: '/securitydomain/upload', operationName: 'SecurityDomainTransferKey' };
  const crypto = {
    getKey: async () => ({ key: { ref: { version: 'abc' }, key: { n: Buffer.from(jwk.n, 'base64url'), e: Buffer.from(jwk.e, 'base64url') } } }),
  } as unknown as CryptoClient;
  const leaf = Buffer.from('leaf certificate der');
  const ca = Buffer.from('ca certificate der');

  it('answers the key with the issued chain as x5c and the leaf thumbprint as x5t#S256, issuing once per key version', async () => {
    const requests: IssuanceRequest[] = [];
    const issuer = {
      issue: async (r: IssuanceRequest): Promise<IssuedChain> => {
        requests.push(r);
        return { certificates: [new Uint8Array(leaf), new Uint8Array(ca)] };
      },
    };
    const sd = new SecurityDomainService({} as EventStore, crypto, issuer);
    const [a, b] = await Promise.all([sd.transferKey(pool, caller), sd.transferKey(pool, caller)]);
    expect(a).toEqual(b);
    expect(a).toEqual({
      kid: 'securitydomain-transfer/abc',
      kty: 'RSA',
      key_ops: ['wrapKey', 'encrypt'],
      n: jwk.n,
      e: jwk.e,
      x5c: [leaf.toString('base64'), ca.toString('base64')],
      'x5t#S256': createHash('sha256').update(leaf).digest('base64url'),
      alg: 'RSA-OAEP-256',
    });
    expect(requests).toHaveLength(1);
    // The certificate is for the transfer key's own public half, in the pool's tenant.
    const certified = createPublicKey({ key: Buffer.from(requests[0]!.subjectPublicKeyInfo), format: 'der', type: 'spki' }).export({ format: 'jwk' }) as { n: string; e: string };
    expect([certified.n, certified.e, requests[0]!.tenantId]).toEqual([jwk.n, jwk.e, 'tenant-1']);
  });

  it('issues again after a failed issuance instead of remembering the failure', async () => {
    let calls = 0;
    const issuer = {
      issue: async (): Promise<IssuedChain> => {
        calls += 1;
        if (calls === 1) throw new Error('token busy');
        return { certificates: [new Uint8Array(leaf)] };
      },
    };
    const sd = new SecurityDomainService({} as EventStore, crypto, issuer);
    await expect(sd.transferKey(pool, caller)).rejects.toThrow('token busy');
    expect((await sd.transferKey(pool, caller)).x5c).toEqual([leaf.toString('base64')]);
  });
});
