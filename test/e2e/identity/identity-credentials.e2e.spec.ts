import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ClientCertificateCredential, ClientSecretCredential, DefaultAzureCredential, ManagedIdentityCredential } from '@azure/identity';
import { bootstrap, ca, createServicePrincipal, decodeJwt, identityAdmin, type TestPrincipal } from '../../support/identity.js';
import { suffix } from '../../support/stack-env.js';

const VAULT_SCOPE = 'https://vault.localhost/.default';
const tlsOptions = () => ({ tlsOptions: { ca: ca().toString() } });

describe('identity with the real @azure/identity credentials', () => {
  const b = bootstrap();
  let app: TestPrincipal;
  let dir: string;
  const savedEnv = { ...process.env };

  beforeAll(async () => {
    app = await createServicePrincipal(`e2e-app-${suffix()}`);
    dir = mkdtempSync(join(tmpdir(), 'keyledger-id-'));
  });
  afterAll(() => {
    process.env = savedEnv;
    rmSync(dir, { recursive: true, force: true });
  });

  it('ClientSecretCredential gets a token, and the second getToken comes from its cache', async () => {
    const cred = new ClientSecretCredential(b.tenantId, app.appId, app.clientSecret, { authorityHost: b.authorityHost, disableInstanceDiscovery: true, ...tlsOptions() });
    const first = await cred.getToken(VAULT_SCOPE);
    const second = await cred.getToken(VAULT_SCOPE);
    expect(second.token).toBe(first.token);
    expect(first.expiresOnTimestamp).toBeGreaterThan(Date.now() + 50 * 60_000);
    const { header, payload } = decodeJwt(first.token);
    expect(header.alg).toBe('ES256');
    expect(payload).toMatchObject({ aud: 'https://vault.localhost', tid: b.tenantId, oid: app.objectId, appid: app.appId, idtyp: 'app', iss: `${b.authorityHost}/${b.tenantId}/v2.0` });
    for (const claim of ['iat', 'nbf', 'exp']) expect(typeof payload[claim]).toBe('number');
    expect(JSON.stringify(payload)).not.toContain(app.clientSecret);
  });

  it('issues a token for a resource that carries a port (the challenge of a vault on :8443), with that audience', async () => {
    const cred = new ClientSecretCredential(b.tenantId, app.appId, app.clientSecret, { authorityHost: b.authorityHost, disableInstanceDiscovery: true, ...tlsOptions() });
    const token = await cred.getToken('https://vault.localhost:8443/.default');
    expect(decodeJwt(token.token).payload).toMatchObject({ aud: 'https://vault.localhost:8443', oid: app.objectId });
    // Only this deployment's own resources may carry a port.
    await expect(cred.getToken('https://vault.azure.net:8443/.default')).rejects.toThrow(/invalid_resource|AADSTS500011|not found/);
  });

  it('ClientCertificateCredential signs a PS256 client assertion that the service accepts', async () => {
    const keyFile = join(dir, 'key.pem');
    const certFile = join(dir, 'cert.pem');
    const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=keyledger-e2e'], { encoding: 'utf8' });
    expect(made.status).toBe(0);
    const res = await identityAdmin('/admin/principals', 'POST', { displayName: `e2e-cert-${suffix()}`, kind: 'servicePrincipal', certificatePem: readFileSync(certFile, 'utf8'), withSecret: false });
    expect(res.status).toBe(201);
    const sp = res.json as { appId: string; clientSecret?: string };
    expect(sp.clientSecret).toBeUndefined();
    const cred = new ClientCertificateCredential(
      b.tenantId,
      sp.appId,
      { certificate: `${readFileSync(certFile, 'utf8')}\n${readFileSync(keyFile, 'utf8')}` },
      { authorityHost: b.authorityHost, disableInstanceDiscovery: true, ...tlsOptions() },
    );
    const token = await cred.getToken(VAULT_SCOPE);
    expect(decodeJwt(token.token).payload.appid).toBe(sp.appId);
  });

  it('ManagedIdentityCredential gets a token through the App Service endpoint (IDENTITY_ENDPOINT + IDENTITY_HEADER)', async () => {
    const res = await identityAdmin('/admin/principals', 'POST', { displayName: `e2e-mi-${suffix()}`, kind: 'managedIdentity' });
    expect(res.status).toBe(201);
    const mi = res.json as { appId: string; objectId: string; identityHeader: string };
    process.env.IDENTITY_ENDPOINT = `${b.authorityHost}/msi/token`;
    process.env.IDENTITY_HEADER = mi.identityHeader;
    try {
      const cred = new ManagedIdentityCredential(tlsOptions());
      const token = await cred.getToken(VAULT_SCOPE);
      expect(decodeJwt(token.token).payload.oid).toBe(mi.objectId);
      expect(token.expiresOnTimestamp).toBeGreaterThan(Date.now());
    } finally {
      delete process.env.IDENTITY_ENDPOINT;
      delete process.env.IDENTITY_HEADER;
    }
  });

  it('DefaultAzureCredential picks up AZURE_* variables', async () => {
    process.env.AZURE_TENANT_ID = b.tenantId;
    process.env.AZURE_CLIENT_ID = app.appId;
    process.env.AZURE_CLIENT_SECRET = app.clientSecret;
    process.env.AZURE_AUTHORITY_HOST = b.authorityHost;
    try {
      const cred = new DefaultAzureCredential({ disableInstanceDiscovery: true, ...tlsOptions() });
      const token = await cred.getToken(VAULT_SCOPE);
      expect(decodeJwt(token.token).payload.appid).toBe(app.appId);
    } finally {
      for (const k of ['AZURE_TENANT_ID', 'AZURE_CLIENT_ID', 'AZURE_CLIENT_SECRET', 'AZURE_AUTHORITY_HOST']) delete process.env[k];
    }
  });
});
