import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { ClientCertificateCredential, ClientSecretCredential } from '@azure/identity';
import { bootstrap, ca, decodeJwt, identityAdmin } from '../../support/identity.js';
import { suffix } from '../../support/stack-env.js';

const options = () => ({ authorityHost: bootstrap().authorityHost, disableInstanceDiscovery: true, tlsOptions: { ca: ca().toString() } });

describe('users and credential revocation', () => {
  it('a user signs in with their own credentials and gets a user token with its upn', async () => {
    const upn = `alice-${suffix()}@keyledger.local`;
    const res = await identityAdmin('/admin/principals', 'POST', { displayName: upn, kind: 'user' });
    expect(res.status).toBe(201);
    const u = res.json as { appId: string; objectId: string; clientSecret: string };
    const token = await new ClientSecretCredential(bootstrap().tenantId, u.appId, u.clientSecret, options()).getToken('https://vault.localhost/.default');
    expect(decodeJwt(token.token).payload).toMatchObject({ idtyp: 'user', upn, oid: u.objectId });
  });

  it('a revoked client certificate no longer gets tokens', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyledger-revoke-'));
    try {
      const keyFile = join(dir, 'key.pem');
      const certFile = join(dir, 'cert.pem');
      expect(spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=revoke-e2e']).status).toBe(0);
      const res = await identityAdmin('/admin/principals', 'POST', { displayName: `e2e-revoke-${suffix()}`, kind: 'servicePrincipal', certificatePem: readFileSync(certFile, 'utf8'), withSecret: false });
      const sp = res.json as { appId: string; objectId: string; certificateThumbprint: string };
      const pem = `${readFileSync(certFile, 'utf8')}\n${readFileSync(keyFile, 'utf8')}`;
      await new ClientCertificateCredential(bootstrap().tenantId, sp.appId, { certificate: pem }, options()).getToken('https://vault.localhost/.default');
      const revoked = await identityAdmin(`/admin/principals/${sp.objectId}/certificates/${sp.certificateThumbprint}`, 'DELETE');
      expect(revoked.status).toBe(200);
      // A new credential object (no token cache) must be refused.
      await expect(new ClientCertificateCredential(bootstrap().tenantId, sp.appId, { certificate: pem }, options()).getToken('https://audit.localhost/.default')).rejects.toThrow(/invalid_client|700027/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
