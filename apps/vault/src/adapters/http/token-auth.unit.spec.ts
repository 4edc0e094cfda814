import { describe, expect, it } from '@jest/globals';
import type { Principal, TokenVerifier } from '#libs/auth';
import { DomainError } from '#libs/kernel';
import { ContainerAuthenticator, TokenAuthenticator } from './token-auth.js';

const START_MS = 1_700_000_000_000;

/** A verifier that counts its calls; every token is valid for `lifetimeSeconds` from START_MS. */
function countingVerifier(lifetimeSeconds = 600): { verifier: TokenVerifier; calls: () => number } {
  let calls = 0;
  const verify = async (token: string): Promise<Principal> => {
    calls++;
    if (token === 'bad') throw new DomainError('TokenInvalid', 'bad token');
    return { objectId: token, tenantId: 't', idType: 'app', tokenId: `jti-${token}`, expiresAt: START_MS / 1000 + lifetimeSeconds } as Principal;
  };
  return { verifier: { verify } as unknown as TokenVerifier, calls: () => calls };
}

const challenge = () => ({ authority: 'https://login.example', tenantId: 't', resource: 'https://vault.azure.net' });

describe('TokenAuthenticator cache', () => {
  it('verifies a token once and serves it from the cache until it expires', async () => {
    let now = START_MS;
    const v = countingVerifier(600);
    const auth = new TokenAuthenticator(v.verifier, challenge, 10, () => now);
    expect((await auth.authenticate('Bearer aaa')).objectId).toBe('aaa');
    now += 599_000;
    expect((await auth.authenticate('Bearer aaa')).objectId).toBe('aaa');
    expect(v.calls()).toBe(1);
    now = START_MS + 600_001;
    await auth.authenticate('Bearer aaa');
    expect(v.calls()).toBe(2);
  });

  it('is bounded: the least recently used token is verified again', async () => {
    const v = countingVerifier();
    const auth = new TokenAuthenticator(v.verifier, challenge, 2, () => START_MS);
    await auth.authenticate('Bearer a1');
    await auth.authenticate('Bearer a2');
    await auth.authenticate('Bearer a1');
    await auth.authenticate('Bearer a3');
    expect(v.calls()).toBe(3);
    await auth.authenticate('Bearer a1');
    expect(v.calls()).toBe(3);
    await auth.authenticate('Bearer a2');
    expect(v.calls()).toBe(4);
  });

  it('a bound of 0 caches nothing, and a refused token is never cached', async () => {
    const v = countingVerifier();
    const none = new TokenAuthenticator(v.verifier, challenge, 0, () => START_MS);
    await none.authenticate('Bearer a1');
    await none.authenticate('Bearer a1');
    expect(v.calls()).toBe(2);
    const auth = new TokenAuthenticator(v.verifier, challenge, 10, () => START_MS);
    await expect(auth.authenticate('Bearer bad')).rejects.toMatchObject({ status: 401 });
    await expect(auth.authenticate('Bearer bad')).rejects.toMatchObject({ status: 401 });
    expect(v.calls()).toBe(4);
  });
});

describe('ContainerAuthenticator', () => {
  it('sends each origin to its container kind, every time (the kind of an origin is remembered)', async () => {
    const vaults = countingVerifier();
    const pools = countingVerifier();
    let judged = 0;
    const auth = new ContainerAuthenticator(
      new TokenAuthenticator(vaults.verifier, challenge, 0, () => START_MS),
      new TokenAuthenticator(pools.verifier, challenge, 0, () => START_MS),
      (origin) => {
        judged++;
        return origin?.includes('.managedhsm.') ?? false;
      },
    );
    for (let i = 0; i < 3; i++) {
      await auth.authenticate('Bearer v', 'https://dev.vault.localhost:8443');
      await auth.authenticate('Bearer p', 'https://pool.managedhsm.localhost:8443');
      await auth.authenticate('Bearer n');
    }
    expect(vaults.calls()).toBe(6);
    expect(pools.calls()).toBe(3);
    // Two origins judged once each; a request without an origin is judged every time.
    expect(judged).toBe(5);
  });
});
