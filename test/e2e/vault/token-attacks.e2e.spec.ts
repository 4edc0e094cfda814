import { createHmac, createPublicKey, randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it, jest } from '@jest/globals';
import { generateKeyPair, SignJWT } from 'jose';
import { accessToken, auditRecords, bootstrap, forgeWithIdentityKey, LOCALHOST_URL, raw, suffix, VAULT_RESOURCE } from './vault-e2e.support.js';

jest.setTimeout(60_000);

const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
const parts = (t: string): [string, string, string] => t.split('.') as [string, string, string];

/**
 * The token attack suite against the running vault: each forged or misdirected token is
 * refused with 401 and Azure's challenge, writes nothing, and leaves exactly one audit record.
 */
describe('token attacks on the vault', () => {
  let valid: string;
  const attacks: [string, () => Promise<string>][] = [];

  beforeAll(async () => {
    valid = await accessToken(VAULT_RESOURCE);
    const [h, p, sig] = parts(valid);
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    const now = Math.floor(Date.now() / 1000);
    const jwks = JSON.parse((await raw(`${bootstrap.authorityHost}/${bootstrap.tenantId}/discovery/v2.0/keys`)).text) as { keys: Record<string, unknown>[] };
    const publicPem = createPublicKey({ key: jwks.keys[0] as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' }) as string;
    const otherTenant = randomUUID();
    attacks.push(
      ['alg none', async () => `${b64({ alg: 'none', typ: 'JWT' })}.${p}.`],
      [
        'HS256 signed with the public key',
        async () => {
          const head = b64({ alg: 'HS256', typ: 'JWT', kid: JSON.parse(Buffer.from(h, 'base64url').toString()).kid });
          return `${head}.${p}.${createHmac('sha256', publicPem).update(`${head}.${p}`).digest('base64url')}`;
        },
      ],
      [
        'an unknown kid',
        async () => {
          const { privateKey } = await generateKeyPair('ES256');
          return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: 'not-a-known-key', typ: 'JWT' }).sign(privateKey);
        },
      ],
      ['an expired token', () => forgeWithIdentityKey(valid, { iat: now - 7200, nbf: now - 7200, exp: now - 3600 })],
      ['nbf in the future', () => forgeWithIdentityKey(valid, { nbf: now + 3600, exp: now + 7200 })],
      ['a token for another resource', () => accessToken('https://audit.localhost')],
      ['a wrong issuer', () => forgeWithIdentityKey(valid, { iss: `https://evil.example/${bootstrap.tenantId}/v2.0` })],
      ['a token from another tenant', () => forgeWithIdentityKey(valid, { tid: otherTenant, iss: `${bootstrap.authorityHost}/${otherTenant}/v2.0` })],
      ['a tampered payload', async () => `${h}.${b64({ ...payload, oid: randomUUID() })}.${sig}`],
      ['garbage', async () => 'not.a.jwt'],
    );
  });

  it('accepts the genuine token (control)', async () => {
    const res = await raw(`${LOCALHOST_URL}/secrets/attack-control-${suffix()}?api-version=7.5`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${valid}`, 'content-type': 'application/json' },
      body: JSON.stringify({ value: 'control' }),
    });
    expect(res.status).toBe(200);
  });

  it('refuses every attack with 401, writes nothing, and audits each once', async () => {
    expect(attacks.length).toBe(10);
    for (const [what, make] of attacks) {
      const name = `attack-${suffix()}`;
      const res = await raw(`${LOCALHOST_URL}/secrets/${name}?api-version=7.5`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${await make()}`, 'content-type': 'application/json' },
        body: JSON.stringify({ value: 'must-not-be-stored' }),
      });
      expect({ what, status: res.status }).toEqual({ what, status: 401 });
      expect(String(res.headers['www-authenticate'])).toMatch(/^Bearer authorization="https:\/\/[^"]+", resource="https:\/\/vault\.localhost:8443"$/);
      const requestId = String(res.headers['x-ms-request-id']);
      const records = await auditRecords([requestId]);
      expect({ what, records: records.length }).toEqual({ what, records: 1 });
      expect(records[0]).toMatchObject({ resultSignature: '401', resultType: 'Failure' });
      const read = await raw(`${LOCALHOST_URL}/secrets/${name}/?api-version=7.5`, { headers: { authorization: `Bearer ${valid}` } });
      expect({ what, status: read.status }).toEqual({ what, status: 404 });
    }
  });
});
