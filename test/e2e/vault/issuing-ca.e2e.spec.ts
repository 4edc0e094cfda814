import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it, jest } from '@jest/globals';
import { REPO_ROOT } from '#libs/platform';
import { accessToken, auditRecords, bootstrap, closeDb, LOCALHOST_URL, raw, VAULT_RESOURCE } from './vault-e2e.support.js';

jest.setTimeout(60_000);

const dir = mkdtempSync(join(tmpdir(), 'keyledger-ca-export-'));
const cli = (...args: string[]) =>
  promisify(execFile)(process.execPath, [join(REPO_ROOT, 'bin', 'keyledger.mjs'), ...args], { env: { ...process.env, NODE_EXTRA_CA_CERTS: join(REPO_ROOT, '.keyledger', 'tls', 'ca.crt') } });

/** The one file to trust: `keyledger ca export` and the admin API's GET /admin/issuing-ca. */
describe("the tenant's Keyledger issuing CA, exported", () => {
  afterAll(async () => {
    await closeDb();
  });

  it('keyledger ca export prints the CA certificate; the API answers the same file, audited', async () => {
    const { stdout } = await cli('ca', 'export');
    expect(stdout).toMatch(/^-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----\n$/);
    writeFileSync(join(dir, 'ca.pem'), stdout);
    const text = spawnSync('openssl', ['x509', '-in', 'ca.pem', '-noout', '-text'], { cwd: dir, encoding: 'utf8' }).stdout;
    expect(text).toContain(`Subject: CN = Keyledger ${bootstrap.tenantId} Issuing CA, O = Keyledger`);
    expect(text).toMatch(/CA:TRUE/);

    const { stdout: again } = await cli('ca', 'export', '--tenant', bootstrap.tenantId);
    expect(again).toBe(stdout);

    const token = await accessToken(VAULT_RESOURCE);
    const pem = await raw(`${LOCALHOST_URL}/admin/issuing-ca?format=pem`, { headers: { authorization: `Bearer ${token}` } });
    expect(pem.status).toBe(200);
    expect(pem.headers['content-type']).toMatch(/^application\/x-pem-file/);
    expect(pem.text).toBe(stdout);
    const record = (await auditRecords([String(pem.headers['x-ms-request-id'])]))[0];
    expect([record?.operationName, record?.resultSignature]).toEqual(['IssuingCaGet', '200']);

    const facts = await raw(`${LOCALHOST_URL}/admin/tenants/${bootstrap.tenantId}/issuing-ca`, { headers: { authorization: `Bearer ${token}` } });
    expect(facts.json).toMatchObject({ tenantId: bootstrap.tenantId.toLowerCase(), subject: `CN=Keyledger ${bootstrap.tenantId} Issuing CA, O=Keyledger`, pem: stdout });

    const unknown = await raw(`${LOCALHOST_URL}/admin/tenants/00000000-0000-4000-8000-00000000dead/issuing-ca`, { headers: { authorization: `Bearer ${token}` } });
    expect([unknown.status, (unknown.json as { error: { code: string } }).error.code]).toEqual([404, 'TenantNotFound']);
  });
});
