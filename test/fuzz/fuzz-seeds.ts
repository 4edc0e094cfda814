/**
 * The objects the fuzzer's "seeded" passes aim their path parameters (and, for Managed HSM
 * backups, their storage location) at, so generated requests reach the deep code instead of
 * stopping at "not found": in the vault a secret, three keys, a self-signed certificate, a
 * certificate awaiting its merge and an issuer; in the pool a key, a custom role definition, a
 * role assignment, its setting, and a real full backup in Azurite (container SAS) with a backup
 * and a restore job.
 */
import { randomUUID } from 'node:crypto';
import { BlobServiceClient, ContainerSASPermissions, generateBlobSASQueryParameters, StorageSharedKeyCredential } from '@azure/storage-blob';
import { httpsRequest } from '../support/identity.js';

const VAULT_PORT = Number(process.env.VAULT_PORT ?? 8443);
export const BASE = `https://localhost:${VAULT_PORT}`;

/** Azurite (`npm run stack:up`) and the development account Microsoft publishes for the emulator (not a secret). */
const AZURITE = `http://127.0.0.1:${Number(process.env.KEYLEDGER_AZURITE_PORT ?? 10000)}/devstoreaccount1`;
const AZURITE_ACCOUNT = new StorageSharedKeyCredential('devstoreaccount1', 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==');

export type VaultSeeds = {
  readonly secrets: Record<string, string>;
  readonly keys: Record<string, string>;
  /** name → version (the pending one: the version its merge will complete). */
  readonly certificates: Record<string, string>;
  readonly issuers: readonly string[];
};

export type PoolSeeds = {
  readonly keys: Record<string, string>;
  readonly roleDefinitions: readonly string[];
  readonly roleAssignments: readonly string[];
  readonly settings: readonly string[];
  /** A container in Azurite with a SAS, the folder of a full backup of the pool, and its jobs. */
  readonly storage: { readonly uri: string; readonly token: string; readonly folder: string; readonly container: string };
  readonly jobs: readonly string[];
};

export type Seeds = { readonly vault: VaultSeeds; readonly pool: PoolSeeds };

type Reply = { status: number; json: unknown; text: string };

export async function call(token: string, host: string, method: string, path: string, body?: unknown, expect: readonly number[] = [200]): Promise<unknown> {
  const res: Reply = await httpsRequest(`${BASE}${path}`, {
    method,
    headers: { host, authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  if (!expect.includes(res.status)) throw new Error(`seeding ${method} ${path}: ${res.status} ${res.text.slice(0, 400)}`);
  return res.json;
}

const lastSegment = (id: unknown): string => String(id).split('/').pop() ?? '';

async function poll<T>(probe: () => Promise<T | undefined>, what: string): Promise<T> {
  for (let i = 0; i < 120; i++) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`seeding: ${what} did not complete`);
}

export async function seedVault(token: string, host: string): Promise<VaultSeeds> {
  const secret = (await call(token, host, 'PUT', '/secrets/fuzz-secret?api-version=7.5', { value: 'fuzz', contentType: 'text/plain', tags: { a: 'b' } })) as { id: string };
  const keys: Record<string, string> = {};
  for (const [name, body] of [
    ['fuzz-rsa', { kty: 'RSA', key_size: 2048 }],
    ['fuzz-ec', { kty: 'EC', crv: 'P-256' }],
    ['fuzz-rsa-hsm', { kty: 'RSA-HSM', key_size: 2048 }],
  ] as const) {
    const created = (await call(token, host, 'POST', `/keys/${name}/create?api-version=7.5`, body)) as { key: { kid: string } };
    keys[name] = lastSegment(created.key.kid);
  }
  // A self-signed certificate (completes by itself) and one of an outside CA (stays pending: merge, cancel, pending reads).
  const policy = (issuer: string, cn: string): Record<string, unknown> => ({
    policy: { key_props: { kty: 'EC', crv: 'P-256', exportable: true }, secret_props: { contentType: 'application/x-pem-file' }, x509_props: { subject: `CN=${cn}`, validity_months: 12 }, issuer: { name: issuer } },
  });
  await call(token, host, 'POST', '/certificates/fuzz-cert/create?api-version=7.5', policy('Self', 'fuzz.example'), [202]);
  const cert = await poll(async () => {
    const op = (await call(token, host, 'GET', '/certificates/fuzz-cert/pending?api-version=7.5')) as { status?: string };
    if (op.status !== 'completed') return undefined;
    return (await call(token, host, 'GET', '/certificates/fuzz-cert?api-version=7.5')) as { id: string };
  }, 'the self-signed certificate');
  const pending = (await call(token, host, 'POST', '/certificates/fuzz-cert-pending/create?api-version=7.5', policy('Unknown', 'pending.fuzz.example'), [202])) as { id: string };
  const pendingCert = (await call(token, host, 'GET', '/certificates/fuzz-cert-pending/pending?api-version=7.5')) as { id?: string; request_id?: string };
  await call(token, host, 'PUT', '/certificates/issuers/fuzz-issuer?api-version=7.5', { provider: 'Test', credentials: { account_id: 'fuzz' }, attributes: { enabled: true } });
  await call(token, host, 'PUT', '/certificates/contacts?api-version=7.5', { contacts: [{ email: 'fuzz@example.com', name: 'Fuzz', phone: '0000' }] });
  return {
    secrets: { 'fuzz-secret': lastSegment(secret.id) },
    keys,
    certificates: { 'fuzz-cert': lastSegment(cert.id), 'fuzz-cert-pending': lastSegment(pendingCert.request_id ?? pending.id) },
    issuers: ['fuzz-issuer'],
  };
}

/** A container in Azurite with a SAS for the pool's backups; dropped by `dropStorage`. */
async function storage(): Promise<{ uri: string; token: string; container: string }> {
  const container = `fuzz-${randomUUID().slice(0, 8)}`;
  await new BlobServiceClient(AZURITE, AZURITE_ACCOUNT).getContainerClient(container).create();
  const token = generateBlobSASQueryParameters(
    { containerName: container, permissions: ContainerSASPermissions.parse('racwdl'), startsOn: new Date(Date.now() - 60_000), expiresOn: new Date(Date.now() + 6 * 3_600_000) },
    AZURITE_ACCOUNT,
  ).toString();
  return { uri: `${AZURITE}/${container}`, token, container };
}

export async function dropStorage(container: string): Promise<void> {
  await new BlobServiceClient(AZURITE, AZURITE_ACCOUNT).getContainerClient(container).deleteIfExists();
}

export async function seedPool(token: string, host: string): Promise<PoolSeeds> {
  const key = (await call(token, host, 'POST', '/keys/fuzz-key/create?api-version=7.5', { kty: 'RSA-HSM', key_size: 2048, tags: { a: 'b' } })) as { key: { kid: string } };
  const roleDefinition = randomUUID();
  await call(
    token,
    host,
    'PUT',
    `/providers/Microsoft.Authorization/roleDefinitions/${roleDefinition}?api-version=7.5`,
    { properties: { roleName: 'fuzz role', description: 'fuzz', type: 'CustomRole', assignableScopes: ['/'], permissions: [{ dataActions: ['Microsoft.KeyVault/managedHsm/keys/read/action'] }] } },
    [201],
  );
  const roleAssignment = randomUUID();
  await call(token, host, 'PUT', `/keys/providers/Microsoft.Authorization/roleAssignments/${roleAssignment}?api-version=7.5`, { properties: { roleDefinitionId: roleDefinition, principalId: randomUUID(), scope: '/keys' } }, [201]);
  const settings = ((await call(token, host, 'GET', '/settings?api-version=7.5')) as { settings: { name: string }[] }).settings.map((s) => s.name);

  // A real full backup of the pool, so restores in the seeded pass have a folder to read.
  const store = await storage();
  const sas = { storageResourceUri: store.uri, token: store.token, useManagedIdentity: false };
  const backup = (await call(token, host, 'POST', '/backup?api-version=7.5', sas, [202])) as { jobId: string };
  const backupUri = await poll(async () => {
    const job = (await call(token, host, 'GET', `/backup/${backup.jobId}/pending?api-version=7.5`)) as { status: string; azureStorageBlobContainerUri?: string; error?: { message?: string } | null };
    if (job.status === 'Failed') throw new Error(`seeding: the pool's full backup failed: ${job.error?.message ?? ''}`);
    return job.status === 'Succeeded' ? job.azureStorageBlobContainerUri : undefined;
  }, "the pool's full backup");
  const folder = lastSegment(backupUri);
  const restore = (await call(token, host, 'PUT', '/keys/fuzz-key/restore?api-version=7.5', { sasTokenParameters: sas, folder }, [202])) as { jobId: string };
  await poll(async () => {
    const job = (await call(token, host, 'GET', `/restore/${restore.jobId}/pending?api-version=7.5`)) as { status: string };
    return job.status === 'Running' ? undefined : job.status;
  }, 'the selective key restore');
  return {
    keys: { 'fuzz-key': lastSegment(key.key.kid) },
    roleDefinitions: [roleDefinition],
    roleAssignments: [roleAssignment],
    settings,
    storage: { uri: store.uri, token: store.token, folder, container: store.container },
    jobs: [backup.jobId, restore.jobId],
  };
}
