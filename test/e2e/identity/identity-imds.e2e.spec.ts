import { describe, expect, it } from '@jest/globals';
import { ManagedIdentityCredential } from '@azure/identity';
import { bootstrap, ca, decodeJwt, identityAdmin } from '../../support/identity.js';
import { suffix } from '../../support/stack-env.js';

// A file of its own: MSAL picks the managed-identity source once per module instance, and
// the App Service test in identity-credentials would otherwise decide it for this one.
describe('managed identity through the IMDS endpoint', () => {
  it('ManagedIdentityCredential gets a token with AZURE_POD_IDENTITY_AUTHORITY_HOST', async () => {
    const b = bootstrap();
    const res = await identityAdmin('/admin/principals', 'POST', { displayName: `e2e-imds-${suffix()}`, kind: 'managedIdentity', boundTo: '127.0.0.1' });
    expect(res.status).toBe(201);
    const mi = res.json as { appId: string; objectId: string };
    process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST = b.authorityHost;
    try {
      const cred = new ManagedIdentityCredential({ clientId: mi.appId, tlsOptions: { ca: ca().toString() } });
      const token = await cred.getToken('https://vault.localhost/.default');
      expect(decodeJwt(token.token).payload.oid).toBe(mi.objectId);
    } finally {
      delete process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST;
    }
  });
});
