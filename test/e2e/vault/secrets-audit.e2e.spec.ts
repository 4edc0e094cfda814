import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { SecretClient } from '@azure/keyvault-secrets';
import {
  assignRole,
  auditRecords,
  bootstrap,
  closeDb,
  createServicePrincipal,
  createVault,
  credential,
  dropVault,
  eventually,
  installLocalhostDns,
  RecordingHttpClient,
  secretClient,
  suffix,
  vaultUrl,
  type AuditRow,
  type Exchange,
} from './vault-e2e.support.js';

// The project's testTimeout is not applied to files run alone: long e2e steps need their own.
jest.setTimeout(60_000);

const FAST = { intervalInMs: 50 };

/**
 * Every HTTP exchange an SDK call makes (the challenge's 401 included) has exactly one audit
 * record, durable before the answer: the record's id is the answer's x-ms-request-id.
 */
describe('audit: one record per request, committed before the answer', () => {
  let vault: string;
  let recorder: RecordingHttpClient;
  let client: SecretClient;
  const checked: { op: string; exchange: Exchange; record: AuditRow }[] = [];

  beforeAll(async () => {
    installLocalhostDns();
    vault = await createVault('e2e-audit');
    recorder = new RecordingHttpClient();
    client = secretClient(vaultUrl(vault), credential(), { httpClient: recorder });
  });

  afterAll(async () => {
    await dropVault(vault);
    await closeDb();
  });

  /** Runs one SDK call and checks the records of its exchanges: [operationName, status] each. */
  async function audited(expected: readonly (readonly [string, number])[], call: () => Promise<unknown>, rec: RecordingHttpClient = recorder): Promise<AuditRow[]> {
    rec.take();
    await call().catch(() => undefined);
    const exchanges = rec.take();
    expect(exchanges.map((e) => e.status)).toEqual(expected.map(([, status]) => status));
    const records = await auditRecords(exchanges.map((e) => e.requestId));
    expect(records).toHaveLength(exchanges.length);
    return exchanges.map((e, i) => {
      const matching = records.filter((r) => r.id === e.requestId);
      expect(matching).toHaveLength(1);
      const r = matching[0]!;
      const [op, status] = expected[i]!;
      expect([r.operationName, r.resultSignature]).toEqual([op, String(status)]);
      expect(r.resultType).toBe(status < 400 ? 'Success' : 'Failure');
      expect(r.correlationId).toBe(e.clientRequestId);
      checked.push({ op, exchange: e, record: r });
      return r;
    });
  }

  it('records every secrets operation with its Azure operation name and result', async () => {
    const name = `audited-${suffix()}`;
    const [challenge, set] = await audited(
      [
        ['SecretSet', 401],
        ['SecretSet', 200],
      ],
      () => client.setSecret(name, 'audited-value'),
    );
    expect(challenge!.identity.oid).toBeUndefined();
    expect(set!.identity.appid).toBe(bootstrap.clientId);
    expect(set!.properties.objectName).toBe(name);
    expect(set!.properties.isRbacAuthorized).toBe(true);
    expect(set!.properties.appliedAssignmentId).toMatch(/^[0-9a-f-]{36}$/);
    expect(set!.operationVersion).toBe('2025-07-01');
    expect(JSON.stringify(set)).not.toContain('audited-value');

    const [get] = await audited([['SecretGet', 200]], () => client.getSecret(name));
    expect(get!.properties.id).toBe(`${vaultUrl(vault)}/secrets/${name}`);
    await audited([['SecretGet', 404]], () => client.getSecret(`${name}-missing`));
    const version = (await client.getSecret(name)).properties.version!;
    await audited([['SecretUpdate', 200]], () => client.updateSecretProperties(name, version, { tags: { a: 'b' } }));
  });

  it('records lists, backup, delete/recover pollers, purge and restore', async () => {
    const name = `audited-lro-${suffix()}`;
    await client.setSecret(name, 'v');
    await audited([['SecretList', 200]], async () => {
      for await (const p of client.listPropertiesOfSecrets()) void p;
    });
    await audited([['SecretListVersions', 200]], async () => {
      for await (const p of client.listPropertiesOfSecretVersions(name)) void p;
    });
    let blob: Uint8Array | undefined;
    await audited([['SecretBackup', 200]], async () => {
      blob = await client.backupSecret(name);
    });
    await audited(
      [
        ['SecretDelete', 200],
        ['SecretGetDeleted', 200],
      ],
      async () => (await client.beginDeleteSecret(name, FAST)).pollUntilDone(),
    );
    await audited([['SecretGetDeleted', 200]], () => client.getDeletedSecret(name));
    await audited([['SecretListDeleted', 200]], async () => {
      for await (const p of client.listDeletedSecrets()) void p;
    });
    await audited(
      // The SDK's recover poller looks first (404), recovers, then polls until 200.
      [
        ['SecretGet', 404],
        ['SecretRecover', 200],
        ['SecretGet', 200],
      ],
      async () => (await client.beginRecoverDeletedSecret(name, FAST)).pollUntilDone(),
    );
    await (await client.beginDeleteSecret(name, FAST)).pollUntilDone();
    await audited([['SecretPurge', 204]], () => client.purgeDeletedSecret(name));
    await audited([['SecretRestore', 200]], () => client.restoreSecretBackup(blob!));
  });

  it('records a 403 with the RBAC decision and the caller', async () => {
    const sp = await createServicePrincipal(`e2e-audit-reader-${suffix()}`);
    await assignRole(sp.objectId, 'Key Vault Secrets User', `/vaults/${vault}`);
    const rec = new RecordingHttpClient();
    const reader = secretClient(vaultUrl(vault), credential(sp.credentials), { httpClient: rec });
    const name = `audited-denied-${suffix()}`;
    await client.setSecret(name, 'x');
    await eventually(async () => ((await reader.getSecret(name).then(() => true).catch(() => undefined)) ? true : undefined));
    const [denied] = await audited([['SecretSet', 403]], () => reader.setSecret(name, 'y'), rec);
    expect(denied!.identity.oid).toBe(sp.objectId);
    expect(denied!.properties.errorCode).toBe('ForbiddenByRbac');
    expect(denied!.properties.isRbacAuthorized).toBe(true);
  });

  it('checked every exchange once', () => {
    expect(new Set(checked.map((c) => c.record.id)).size).toBe(checked.length);
    expect(checked.length).toBeGreaterThanOrEqual(15);
  });
});
