import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { BlobServiceClient, ContainerSASPermissions, generateBlobSASQueryParameters, StorageSharedKeyCredential } from '@azure/storage-blob';
import { REPO_ROOT } from '#libs/platform';
import { createServicePrincipal, installLocalhostDns, suffix, vaultAdmin, type ServicePrincipal } from '../vault/vault-e2e.support.js';
import { explain, runPythonScript } from './python-sdk.support.js';

jest.setTimeout(300_000);

const VAULT_PORT = Number(process.env.VAULT_PORT ?? 8443);
const poolUrl = (pool: string): string => `https://${pool}.managedhsm.localhost:${VAULT_PORT}`;
/** Azurite (`npm run stack:up`) and its well-known development account, published by Microsoft for the emulator (not a secret). */
const AZURITE = `http://127.0.0.1:${Number(process.env.KEYLEDGER_AZURITE_PORT ?? 10000)}/devstoreaccount1`;
const AZURITE_ACCOUNT = new StorageSharedKeyCredential('devstoreaccount1', 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==');
const cli = (args: readonly string[]): Promise<{ stdout: string; stderr: string }> => promisify(execFile)(process.execPath, [join(REPO_ROOT, 'bin', 'keyledger.mjs'), ...args], { env: process.env, maxBuffer: 32 * 1024 * 1024 });

/** A pool as `keyledger hsm create --admin` makes it: awaiting its security domain, `administrator` its Managed HSM Administrator. */
async function createPool(prefix: string, administrator: string): Promise<string> {
  const name = `${prefix}-${suffix()}`.slice(0, 24).replace(/-+$/, '');
  const res = await vaultAdmin('/admin/managedhsms', 'POST', { name, softDeleteRetentionInDays: 7, administrators: [administrator] });
  if (res.status !== 201) throw new Error(`pool ${name} not created: ${res.status} ${res.text}`);
  return name;
}

/**
 * Managed HSM full backup and restore and the security domain through the newest Python
 * azure-keyvault-administration (KeyVaultBackupClient) and azure-keyvault-keys, against two
 * fresh pools and Azurite with a container SAS this spec makes (test/e2e/python/pool_backup_sdk.py
 * says what each step checks), including the source pool's role definition, assignments and
 * setting arriving in the second pool with the full restore. Both pools are created with the same
 * administrator (a fresh principal); the application is another fresh principal with no
 * deployment-wide role. Then: every call is one audit record, found by
 * `keyledger audit search --operation`.
 */
describe('Managed HSM backup, restore and security domain with the Python SDK and Azurite', () => {
  const pools: string[] = [];
  const container = `mhsm-e2e-${suffix()}`;
  const blobs = new BlobServiceClient(AZURITE, AZURITE_ACCOUNT);
  let poolAdmin: ServicePrincipal;
  let app: ServicePrincipal;

  beforeAll(async () => {
    installLocalhostDns();
    poolAdmin = await createServicePrincipal(`e2e-bkadm-${suffix()}`);
    app = await createServicePrincipal(`e2e-bkapp-${suffix()}`);
    pools.push(await createPool('py-src', poolAdmin.objectId), await createPool('py-dst', poolAdmin.objectId));
    await blobs.getContainerClient(container).create();
  });

  afterAll(async () => {
    for (const p of pools) {
      await vaultAdmin(`/admin/managedhsms/${p}`, 'DELETE');
      await vaultAdmin(`/admin/deletedmanagedhsms/${p}`, 'DELETE');
    }
    await blobs.getContainerClient(container).deleteIfExists();
  });

  it('activates a pool by downloading its security domain, backs it up, restores it fully, one key, and into a second pool after a security domain upload', async () => {
    const sas = generateBlobSASQueryParameters(
      { containerName: container, permissions: ContainerSASPermissions.parse('racwdl'), startsOn: new Date(Date.now() - 60_000), expiresOn: new Date(Date.now() + 2 * 3_600_000) },
      AZURITE_ACCOUNT,
    ).toString();
    const [src, dst] = pools.map(poolUrl) as [string, string];
    const run = await runPythonScript('pool_backup_sdk.py', [src, dst, poolUrl('dev')], {
      KEYLEDGER_BACKUP_CONTAINER: `${AZURITE}/${container}`,
      KEYLEDGER_BACKUP_SAS: sas,
      KEYLEDGER_APP_CLIENT_ID: app.appId,
      KEYLEDGER_APP_CLIENT_SECRET: app.clientSecret,
      KEYLEDGER_APP_OBJECT_ID: app.objectId,
      KEYLEDGER_POOL_ADMIN_OBJECT_ID: poolAdmin.objectId,
    });
    if (run.code !== 0 || !run.result) throw new Error(`pool_backup_sdk.py failed: ${explain(run)}`);
    expect(run.result.checks).toEqual([
      `${src} not activated: key operations refused`,
      `${src} security domain download (3 certificates, quorum 2); 2 certificates refused`,
      `${src} keys created and a signature made`,
      `${src} custom role definition, role assignments and a setting made`,
      `${src} pre-backup and full backup to Azurite`,
      `${src} malformed SAS 400, unreachable storage job Failed`,
      `${src} pre-restore; delete, full restore`,
      `${src} selective key restore (2 versions, tags); an earlier signature verifies`,
      `${poolUrl('dev')} backup of another security domain refused`,
      `${dst} security domain upload: 1 share refused, 2 shares activate`,
      `${dst} selective key restore leaves the role assignments alone`,
      `${dst} full restore into the second pool; the restored key verifies and signs`,
      `${dst} full restore brought the role definition, assignments and setting; the pool administrator once; the application signs`,
      `${dst} tampered blob refused, nothing restored`,
      `${dst} tampered role assignments refused, nothing restored`,
    ]);
    // The backup's blobs are in Azurite, under the folder the job reported.
    const folder = (run.result as unknown as { folder: string }).folder.slice(`${AZURITE}/${container}/`.length);
    const names: string[] = [];
    for await (const b of blobs.getContainerClient(container).listBlobsFlat({ prefix: `${folder}/` })) names.push(b.name.slice(folder.length + 1));
    expect(names.sort()).toEqual(expect.arrayContaining(['administration', 'backup.json']));
    expect(names.filter((n) => n.startsWith('keys/'))).toHaveLength(2);
  });

  it('every administration call is one audit record, found by keyledger audit search --operation', async () => {
    const found = async (operation: string): Promise<{ vault?: string; outcome?: string }[]> => {
      for (let i = 0; i < 40; i++) {
        const { stdout } = await cli(['audit', 'search', '--operation', operation, '--vault', pools[0]!, '--since', '1h', '--json']);
        const docs = JSON.parse(stdout) as { event?: { outcome?: string }; keyledger?: { vault?: string } }[];
        if (docs.length > 0) return docs.map((d) => ({ vault: d.keyledger?.vault, outcome: d.event?.outcome }));
        await new Promise((r) => setTimeout(r, 500));
      }
      return [];
    };
    for (const operation of ['SecurityDomainDownload', 'FullBackup', 'FullBackupStatus', 'PreFullBackup', 'FullRestore', 'PreFullRestore', 'SelectiveKeyRestore', 'RestoreStatus']) {
      expect([operation, (await found(operation)).length > 0]).toEqual([operation, true]);
    }
  });
});
