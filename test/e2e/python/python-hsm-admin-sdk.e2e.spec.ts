import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { REPO_ROOT } from '#libs/platform';
import { accessToken, closeDb, createServicePrincipal, db, DOMAIN, installLocalhostDns, raw, suffix, VAULT_PORT, vaultAdmin, type ServicePrincipal } from '../vault/vault-e2e.support.js';
import { explain, runPythonScript } from './python-sdk.support.js';

jest.setTimeout(300_000);

/**
 * The newest azure-keyvault-administration (.venv-sdk) against a pool created for this run with
 * `keyledger hsm create --admin <a fresh principal's name>`: that principal
 * holds no deployment-wide role, so everything the script does as it rests on the pool's own local
 * RBAC. Access control, custom role definitions, bad input and settings (the script's checks);
 * then the pool's audit records of the administration calls.
 */
describe('the Python KeyVaultAccessControlClient and KeyVaultSettingsClient on a Managed HSM pool', () => {
  let pool: string;
  let poolAdmin: ServicePrincipal;
  let app: ServicePrincipal;

  beforeAll(async () => {
    installLocalhostDns();
    const adminName = `e2e-hsmadm-${suffix()}`;
    poolAdmin = await createServicePrincipal(adminName);
    app = await createServicePrincipal(`e2e-hsmapp-${suffix()}`);
    pool = `pyadm-${suffix()}`.slice(0, 24).replace(/-+$/, '');
    // The CLI resolves the administrator's name to its object id through identity.
    const { stdout } = await promisify(execFile)(process.execPath, [join(REPO_ROOT, 'bin', 'keyledger.mjs'), '--json', 'hsm', 'create', pool, '--retention-days', '7', '--admin', adminName, '--activate-without-security-domain'], {
      env: { ...process.env, NODE_EXTRA_CA_CERTS: join(REPO_ROOT, '.keyledger', 'tls', 'ca.crt') },
    });
    expect((JSON.parse(stdout) as { properties: { initialAdminObjectIds: string[] } }).properties.initialAdminObjectIds).toEqual([poolAdmin.objectId]);
  });

  afterAll(async () => {
    await vaultAdmin(`/admin/managedhsms/${pool}`, 'DELETE');
    await vaultAdmin(`/admin/deletedmanagedhsms/${pool}`, 'DELETE');
    await closeDb();
  });

  it('lists definitions, grants and revokes at once, manages a custom role, refuses bad input, reads and updates settings', async () => {
    const url = `https://${pool}.managedhsm.${DOMAIN}:${VAULT_PORT}`;
    const run = await runPythonScript('hsm_admin_sdk.py', [url], {
      KEYLEDGER_CLIENT_ID: poolAdmin.appId,
      KEYLEDGER_CLIENT_SECRET: poolAdmin.clientSecret,
      KEYLEDGER_APP_CLIENT_ID: app.appId,
      KEYLEDGER_APP_CLIENT_SECRET: app.clientSecret,
      KEYLEDGER_APP_OBJECT_ID: app.objectId,
    });
    if (run.code !== 0 || !run.result) throw new Error(`hsm_admin_sdk.py failed: ${explain(run)}`);
    expect(run.result.checks).toEqual(['list definitions', 'granted at once', 'revoked at once', 'custom definition', 'bad input', 'settings'].map((c) => `${url} ${c}`));
    expect(run.result.sdk).toMatch(/^azure-keyvault-administration 4\./);

    // One record per administration call, in the pool's resource, findable by operation name.
    const records = await db().query<{ op: string; status: string; n: string }>(
      `SELECT payload->'data'->>'operationName' AS op, payload->'data'->>'resultSignature' AS status, count(*)::text AS n
         FROM vault.outbox
        WHERE topic = 'keyledger.audit.records.v1' AND payload->'data'->>'resourceId' = $1
          AND payload->'data'->>'operationName' IN ('RoleAssignmentCreate', 'RoleAssignmentDelete', 'RoleDefinitionSet', 'RoleDefinitionDelete', 'SettingUpdate', 'ManagedHsmCreate')
        GROUP BY 1, 2 ORDER BY 1, 2`,
      [`/managedHSMs/${pool}`],
    );
    const counts = Object.fromEntries(records.rows.map((r) => [`${r.op} ${r.status}`, Number(r.n)]));
    expect(counts).toEqual({
      'ManagedHsmCreate 201': 1,
      'RoleAssignmentCreate 201': 2,
      'RoleAssignmentCreate 400': 1,
      'RoleAssignmentCreate 404': 1,
      'RoleAssignmentCreate 409': 1,
      'RoleAssignmentDelete 200': 2,
      'RoleAssignmentDelete 404': 1,
      'RoleDefinitionDelete 200': 1,
      'RoleDefinitionDelete 400': 1,
      'RoleDefinitionDelete 404': 1,
      'RoleDefinitionDelete 409': 1,
      'RoleDefinitionSet 201': 2,
      'RoleDefinitionSet 400': 3,
      'SettingUpdate 200': 1,
      'SettingUpdate 400': 1,
    });
  });

  it('filters assignments by principal and scope, refuses other filters, and has no administration plane on a vault host', async () => {
    const base = `https://${pool}.managedhsm.${DOMAIN}:${VAULT_PORT}`;
    const token = await accessToken(`https://managedhsm.${DOMAIN}`);
    const get = (path: string) => raw(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
    const byAdmin = await get(`/providers/Microsoft.Authorization/roleAssignments?api-version=7.6&$filter=${encodeURIComponent(`principalId eq '${poolAdmin.objectId}'`)}`);
    expect(byAdmin.status).toBe(200);
    expect((byAdmin.json as { value: { properties: Record<string, string> }[] }).value.map((a) => a.properties)).toEqual([
      { principalId: poolAdmin.objectId, roleDefinitionId: 'Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/a290e904-7015-4bba-90c8-60543313cdb4', scope: '/' },
    ]);
    const atKeys = await get(`/keys/providers/Microsoft.Authorization/roleAssignments?api-version=7.6&$filter=${encodeURIComponent(`atScope() and principalId eq '${poolAdmin.objectId}'`)}`);
    expect((atKeys.json as { value: unknown[] }).value).toHaveLength(1);
    const bad = await get(`/providers/Microsoft.Authorization/roleAssignments?api-version=7.6&$filter=${encodeURIComponent("roleName eq 'x'")}`);
    expect([bad.status, (bad.json as { error: { code: string } }).error.code]).toEqual([400, 'BadParameter']);
    const settings = await get('/settings?api-version=7.6');
    expect(settings.json).toEqual({ settings: [{ name: 'AllowKeyManagementOperationsThroughARM', type: 'boolean', value: 'true' }] });
    const vaultToken = await accessToken(`https://vault.${DOMAIN}`);
    const onVault = await raw(`https://dev.vault.${DOMAIN}:${VAULT_PORT}/providers/Microsoft.Authorization/roleDefinitions?api-version=7.6`, { headers: { authorization: `Bearer ${vaultToken}` } });
    expect([onVault.status, (onVault.json as { error: { code: string } }).error.code]).toEqual([404, 'NotFound']);
  });
});
