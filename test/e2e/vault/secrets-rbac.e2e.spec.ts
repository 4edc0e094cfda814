import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { SecretClient } from '@azure/keyvault-secrets';
import {
  assignRole,
  closeDb,
  createServicePrincipal,
  createVault,
  credential,
  dropVault,
  eventually,
  installLocalhostDns,
  secretClient,
  suffix,
  unassignRole,
  vaultUrl,
  type ServicePrincipal,
} from './vault-e2e.support.js';

// The project's testTimeout is not applied to files run alone: long e2e steps need their own.
jest.setTimeout(60_000);

type RestErrorLike = { statusCode?: number; code?: string; message?: string; details?: unknown };

async function outcome(p: Promise<unknown>): Promise<RestErrorLike | 'ok'> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return err as RestErrorLike;
  }
}

const innerCode = (e: RestErrorLike | 'ok'): string | undefined =>
  e === 'ok' ? undefined : (e.details as { error?: { innerError?: { code?: string } } } | undefined)?.error?.innerError?.code;

/** Waits (bounded) until a new assignment is visible to the vault: the first successful call. */
async function whenGranted(call: () => Promise<unknown>): Promise<boolean> {
  return (await eventually(async () => ((await outcome(call())) === 'ok' ? true : undefined), 10_000, 100)) === true;
}

describe('RBAC on the secrets API (role assignments from identity events)', () => {
  let vault: string;
  let admin: SecretClient;
  let reader: ServicePrincipal;
  let scoped: ServicePrincipal;

  beforeAll(async () => {
    installLocalhostDns();
    vault = await createVault('e2e-rbac');
    admin = secretClient(vaultUrl(vault));
    await admin.setSecret('shared', 'shared-value');
    await admin.setSecret('one', 'one-value');
    await admin.setSecret('two', 'two-value');
    reader = await createServicePrincipal(`e2e-reader-${suffix()}`);
    scoped = await createServicePrincipal(`e2e-scoped-${suffix()}`);
  });

  afterAll(async () => {
    await dropVault(vault);
    await closeDb();
  });

  it('denies a principal without any assignment: 403 Forbidden / ForbiddenByRbac with Azure’s message shape', async () => {
    const nobody = await createServicePrincipal(`e2e-nobody-${suffix()}`);
    const client = secretClient(vaultUrl(vault), credential(nobody.credentials));
    const err = await outcome(client.getSecret('shared'));
    expect(err).not.toBe('ok');
    const e = err as RestErrorLike;
    expect(e.statusCode).toBe(403);
    expect(e.code).toBe('Forbidden');
    expect(innerCode(e)).toBe('ForbiddenByRbac');
    expect(e.message).toMatch(/^Caller is not authorized to perform action on resource\.\r\n/);
    expect(e.message).toContain(`oid=${nobody.objectId}`);
    expect(e.message).toContain("Action: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'");
    expect(e.message).toContain(`Resource: '/vaults/${vault}/secrets/shared'`);
  });

  it('Key Vault Secrets User can get and list but not set, delete or purge', async () => {
    await assignRole(reader.objectId, 'Key Vault Secrets User', `/vaults/${vault}`);
    const client = secretClient(vaultUrl(vault), credential(reader.credentials));
    expect(await whenGranted(() => client.getSecret('shared'))).toBe(true);
    expect((await client.getSecret('shared')).value).toBe('shared-value');
    const names: string[] = [];
    for await (const p of client.listPropertiesOfSecrets()) names.push(p.name);
    expect(names).toEqual(expect.arrayContaining(['shared', 'one', 'two']));

    const set = await outcome(client.setSecret('shared', 'overwritten'));
    expect((set as RestErrorLike).statusCode).toBe(403);
    expect(innerCode(set)).toBe('ForbiddenByRbac');
    expect((set as RestErrorLike).message).toContain("Action: 'Microsoft.KeyVault/vaults/secrets/setSecret/action'");
    const del = await outcome(client.beginDeleteSecret('shared'));
    expect(innerCode(del)).toBe('ForbiddenByRbac');
    expect((await admin.getSecret('shared')).value).toBe('shared-value');
  });

  it('an assignment scoped to one secret grants that secret only', async () => {
    await assignRole(scoped.objectId, 'Key Vault Secrets User', `/vaults/${vault}/secrets/one`);
    const client = secretClient(vaultUrl(vault), credential(scoped.credentials));
    expect(await whenGranted(() => client.getSecret('one'))).toBe(true);
    expect((await client.getSecret('one')).value).toBe('one-value');
    const other = await outcome(client.getSecret('two'));
    expect((other as RestErrorLike).statusCode).toBe(403);
    expect(innerCode(other)).toBe('ForbiddenByRbac');
    const list = await outcome(
      (async () => {
        for await (const p of client.listPropertiesOfSecrets()) void p;
      })(),
    );
    expect((list as RestErrorLike).statusCode).toBe(403);
    expect((list as RestErrorLike).code).toBe('Forbidden');
  });

  it('POST /secrets/batchget (Keyledger extension) answers each name under its own RBAC decision', async () => {
    const { raw, accessToken, VAULT_RESOURCE } = await import('./vault-e2e.support.js');
    const token = await accessToken(VAULT_RESOURCE, scoped.credentials);
    const res = await raw(`${vaultUrl(vault)}/secrets/batchget?api-version=7.6`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ names: ['one', 'two', 'missing'] }),
    });
    expect(res.status).toBe(200);
    const items = (res.json as { value: { name: string; value?: string; status?: number; error?: { code: string; innererror?: { code: string } } }[] }).value;
    expect(items.map((i) => [i.name, i.value ?? i.error?.innererror?.code ?? i.error?.code])).toEqual([
      ['one', 'one-value'],
      ['two', 'ForbiddenByRbac'],
      ['missing', 'ForbiddenByRbac'],
    ]);
    const adminToken = await accessToken(VAULT_RESOURCE);
    const all = await raw(`${vaultUrl(vault)}/secrets/batchget?api-version=7.6`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ names: ['one', 'two', 'missing'] }),
    });
    const adminItems = (all.json as { value: { name: string; value?: string; error?: { code: string } }[] }).value;
    expect(adminItems.map((i) => [i.name, i.value ?? i.error?.code])).toEqual([
      ['one', 'one-value'],
      ['two', 'two-value'],
      ['missing', 'SecretNotFound'],
    ]);
    const tooMany = await raw(`${vaultUrl(vault)}/secrets/batchget?api-version=7.6`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ names: Array.from({ length: 26 }, (_, i) => `n${i}`) }),
    });
    expect(tooMany.status).toBe(400);
  });

  it('a revoked assignment stops granting within one second', async () => {
    const sp = await createServicePrincipal(`e2e-revoked-${suffix()}`);
    const assignment = await assignRole(sp.objectId, 'Key Vault Secrets Officer', `/vaults/${vault}/secrets`);
    const client = secretClient(vaultUrl(vault), credential(sp.credentials));
    expect(await whenGranted(() => client.getSecret('two'))).toBe(true);
    await unassignRole(assignment);
    // Bounded by the propagation promise (1 s), not a latency measurement.
    const denied = await eventually(async () => {
      const r = await outcome(client.getSecret('two'));
      return innerCode(r) === 'ForbiddenByRbac' ? true : undefined;
    }, 1_000, 50);
    expect(denied).toBe(true);
  });

  it('the vault administration API needs Key Vault Administrator at "/"', async () => {
    const { raw, accessToken, LOCALHOST_URL, VAULT_RESOURCE } = await import('./vault-e2e.support.js');
    const token = await accessToken(VAULT_RESOURCE, reader.credentials);
    const res = await raw(`${LOCALHOST_URL}/admin/vaults`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(403);
    expect((res.json as { error: { code: string; innererror?: { code: string } } }).error.innererror?.code).toBe('ForbiddenByRbac');
  });
});
