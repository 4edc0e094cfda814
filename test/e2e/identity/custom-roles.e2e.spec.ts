import { describe, expect, it } from '@jest/globals';
import { assignRole, bootstrap, createServicePrincipal, httpsRequest, identityAdmin, tokenFor } from '../../support/identity.js';
import { suffix } from '../../support/stack-env.js';

const VAULT = 'https://localhost:8443';
const API = 'api-version=7.5';

async function vault(token: string, method: string, path: string, body?: unknown) {
  return httpsRequest(`${VAULT}${path}?${API}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

describe('custom roles', () => {
  it('grants exactly the data actions they list, at the assigned scope, in the vault', async () => {
    const b = bootstrap();
    const s = suffix();
    const created = await identityAdmin('/admin/roleDefinitions', 'POST', {
      roleName: `e2e-secret-reader-${s}`,
      dataActions: ['Microsoft.KeyVault/vaults/secrets/getSecret/action'],
      description: 'read secret values, nothing else',
    });
    expect(created.status).toBe(201);
    const role = created.json as { id: string; roleType: string };
    expect(role.roleType).toBe('CustomRole');

    const admin = await tokenFor(b.clientId, b.clientSecret, 'https://vault.localhost');
    const name = `custom-role-${s}`;
    expect((await vault(admin, 'PUT', `/secrets/${name}`, { value: 'v1' })).status).toBe(200);

    const sp = await createServicePrincipal(`e2e-custom-${s}`);
    await assignRole(sp.objectId, role.id, `/vaults/dev/secrets/${name}`);
    const token = await tokenFor(sp.appId, sp.clientSecret, 'https://vault.localhost');

    let get = await vault(token, 'GET', `/secrets/${name}/`);
    for (let i = 0; i < 50 && get.status === 403; i++) {
      await new Promise((r) => setTimeout(r, 100));
      get = await vault(token, 'GET', `/secrets/${name}/`);
    }
    expect(get.status).toBe(200);
    expect((get.json as { value: string }).value).toBe('v1');

    const set = await vault(token, 'PUT', `/secrets/${name}`, { value: 'v2' });
    expect(set.status).toBe(403);
    expect((set.json as { error: { innererror?: { code: string } } }).error.innererror?.code).toBe('ForbiddenByRbac');

    const inUse = await identityAdmin(`/admin/roleDefinitions/${role.id}`, 'DELETE');
    expect(inUse.status).toBe(409);
  });

  it('refuses a role without data actions, a clashing name and an unassignable scope, storing nothing', async () => {
    const before = ((await identityAdmin('/admin/roleDefinitions')).json as { value: unknown[] }).value.length;
    const none = await identityAdmin('/admin/roleDefinitions', 'POST', { roleName: `e2e-empty-${suffix()}`, dataActions: [] });
    const clash = await identityAdmin('/admin/roleDefinitions', 'POST', { roleName: 'Key Vault Reader', dataActions: ['Microsoft.KeyVault/vaults/secrets/getSecret/action'] });
    const scope = await identityAdmin('/admin/roleDefinitions', 'POST', { roleName: `e2e-scope-${suffix()}`, dataActions: ['Microsoft.KeyVault/vaults/secrets/getSecret/action'], assignableScopes: ['/nowhere/x'] });
    expect(none.status).toBe(400);
    expect(clash.status).toBe(409);
    expect(scope.status).toBe(400);
    expect(((await identityAdmin('/admin/roleDefinitions')).json as { value: unknown[] }).value.length).toBe(before);
  });
});
