import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { REPO_ROOT } from '#libs/platform';
import { failure, closeDb, createVault, credential, dropVault, installLocalhostDns, secretClient, suffix, vaultAdmin, vaultUrl } from './vault-e2e.support.js';

// The project's testTimeout is not applied to files run alone: long e2e steps need their own.
jest.setTimeout(60_000);

const run = promisify(execFile);

type VaultJson = { name: string; vaultUri: string; properties: { softDeleteRetentionInDays: number; enablePurgeProtection: boolean; recoveryLevel: string }; tags: Record<string, string>; scheduledPurgeDate?: number };
async function cli(...args: string[]): Promise<unknown> {
  const { stdout } = await run(process.execPath, [join(REPO_ROOT, 'bin', 'keyledger.mjs'), '--json', ...args], { env: { ...process.env, NODE_EXTRA_CA_CERTS: join(REPO_ROOT, '.keyledger', 'tls', 'ca.crt') } });
  return stdout.trim() ? JSON.parse(stdout) : undefined;
}

describe('vaults: the admin API, the CLI, addressing by host name, soft delete and purge', () => {
  beforeAll(() => installLocalhostDns());
  afterAll(() => closeDb());

  it('creates a vault served at https://{vault}.vault.localhost:8443 and lists, updates and shows it', async () => {
    const name = `e2e-adm-${suffix()}`.slice(0, 24);
    const created = await vaultAdmin('/admin/vaults', 'POST', { name, softDeleteRetentionInDays: 30, tags: { team: 'e2e' } });
    expect(created.status).toBe(201);
    const v = created.json as VaultJson;
    expect(v.vaultUri).toBe(vaultUrl(name));
    expect(v.properties).toMatchObject({ softDeleteRetentionInDays: 30, enablePurgeProtection: false, recoveryLevel: 'CustomizedRecoverable+Purgeable' });
    expect(((await vaultAdmin('/admin/vaults')).json as { value: VaultJson[] }).value.map((x) => x.name)).toContain(name);
    expect((await vaultAdmin('/admin/vaults', 'POST', { name })).status).toBe(409);
    const updated = await vaultAdmin(`/admin/vaults/${name}`, 'PATCH', { tags: { team: 'e2e', env: 'test' } });
    expect((updated.json as VaultJson).tags).toEqual({ team: 'e2e', env: 'test' });

    const client = secretClient(vaultUrl(name));
    const set = await client.setSecret('hello', 'world');
    expect(set.properties.recoverableDays).toBe(30);
    await dropVault(name);
  });

  it('validates vault names and retention', async () => {
    for (const body of [{ name: 'ab' }, { name: 'has--dashes' }, { name: '9starts-with-digit' }, { name: `ok-${suffix()}`.slice(0, 20), softDeleteRetentionInDays: 6 }]) {
      const res = await vaultAdmin('/admin/vaults', 'POST', body);
      expect([JSON.stringify(body), res.status]).toEqual([JSON.stringify(body), 400]);
    }
  });

  it('a deleted vault is not served, recovers with its secrets, and a purge shreds them', async () => {
    const name = await createVault('e2e-life');
    const client = secretClient(vaultUrl(name));
    await client.setSecret('kept', 'kept-value');
    const deleted = await vaultAdmin(`/admin/vaults/${name}`, 'DELETE');
    expect(deleted.status).toBe(200);
    expect((deleted.json as VaultJson).scheduledPurgeDate).toBeGreaterThan(Date.now() / 1000);
    const gone = await failure(secretClient(vaultUrl(name)).getSecret('kept'));
    expect(gone.statusCode).toBe(404);
    expect(gone.code).toBe('VaultNotFound');
    expect((await vaultAdmin('/admin/vaults', 'POST', { name })).status).toBe(409);

    expect((await vaultAdmin(`/admin/deletedvaults/${name}/recover`, 'POST')).status).toBe(200);
    expect((await secretClient(vaultUrl(name)).getSecret('kept')).value).toBe('kept-value');

    expect((await vaultAdmin(`/admin/vaults/${name}`, 'DELETE')).status).toBe(200);
    expect((await vaultAdmin(`/admin/deletedvaults/${name}`, 'DELETE')).status).toBe(204);
    expect((await vaultAdmin(`/admin/deletedvaults/${name}`)).status).toBe(404);
    // The name is free again; the new vault starts empty.
    expect((await vaultAdmin('/admin/vaults', 'POST', { name, softDeleteRetentionInDays: 7 })).status).toBe(201);
    const fresh = await failure(secretClient(vaultUrl(name), credential()).getSecret('kept'));
    expect(fresh.code).toBe('SecretNotFound');
    await dropVault(name);
  });

  it('purge protection: deleted secrets and the vault cannot be purged before their date, and it cannot be turned off', async () => {
    const name = await createVault('e2e-prot', { purgeProtection: true });
    const client = secretClient(vaultUrl(name));
    const set = await client.setSecret('guarded', 'v');
    expect(set.properties.recoveryLevel).toBe('CustomizedRecoverable');
    await (await client.beginDeleteSecret('guarded', { intervalInMs: 50 })).pollUntilDone();
    const purge = await failure(client.purgeDeletedSecret('guarded'));
    expect(purge.statusCode).toBe(403);
    expect(purge.code).toBe('Forbidden');
    expect((await client.getDeletedSecret('guarded')).name).toBe('guarded');
    expect((await vaultAdmin(`/admin/vaults/${name}`, 'PATCH', { enablePurgeProtection: false })).status).toBe(400);
    expect((await vaultAdmin(`/admin/vaults/${name}`, 'DELETE')).status).toBe(200);
    expect((await vaultAdmin(`/admin/deletedvaults/${name}`, 'DELETE')).status).toBe(403);
  });

  it('keyledger vault create|list|show|update|delete|recover|purge', async () => {
    const name = `e2e-cli-${suffix()}`.slice(0, 24);
    const created = (await cli('vault', 'create', name, '--retention-days', '7', '--tag', 'owner=cli')) as VaultJson;
    expect(created.name).toBe(name);
    expect(created.tags).toEqual({ owner: 'cli' });
    expect(((await cli('vault', 'list')) as VaultJson[]).map((v) => v.name)).toContain(name);
    expect(((await cli('vault', 'show', name)) as VaultJson).properties.softDeleteRetentionInDays).toBe(7);
    expect(((await cli('vault', 'update', name, '--tag', 'owner=cli2')) as VaultJson).tags).toEqual({ owner: 'cli2' });
    await cli('vault', 'delete', name);
    expect(((await cli('vault', 'list', '--deleted')) as VaultJson[]).map((v) => v.name)).toContain(name);
    await cli('vault', 'recover', name);
    await cli('vault', 'delete', name);
    expect(await cli('vault', 'purge', name)).toEqual({ purged: name });
    await expect(cli('vault', 'show', name)).rejects.toThrow(/VaultNotFound/);
  }, 120_000);
});
