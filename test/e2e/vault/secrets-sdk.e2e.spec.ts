import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { SecretClient } from '@azure/keyvault-secrets';
import {
  failure,
  type RestErrorLike,
  closeDb,
  createVault,
  credential,
  dropVault,
  installLocalhostDns,
  LOCALHOST_URL,
  RecordingHttpClient,
  secretClient,
  suffix,
  vaultUrl,
} from './vault-e2e.support.js';

// The project's testTimeout is not applied to files run alone: long e2e steps need their own.
jest.setTimeout(60_000);

/** The SDK deserializes Azure's `innererror` as `innerError`. */
const innerCode = (e: RestErrorLike): string | undefined => (e.details as { error?: { innerError?: { code?: string } } } | undefined)?.error?.innerError?.code;

const FAST = { intervalInMs: 50 };

describe('the Azure SDK SecretClient on https://{vault}.vault.localhost:8443 (challenge resource verified)', () => {
  let vault: string;
  let client: SecretClient;
  let recorder: RecordingHttpClient;

  beforeAll(async () => {
    installLocalhostDns();
    vault = await createVault('e2e-sdk');
    recorder = new RecordingHttpClient();
    client = secretClient(vaultUrl(vault), credential(), { httpClient: recorder });
  });

  afterAll(async () => {
    await dropVault(vault);
    await closeDb();
  });

  it('answers the first request with the challenge, then sets and gets a secret with ids on the client-visible origin', async () => {
    const name = `crud-${suffix()}`;
    const set = await client.setSecret(name, 'SECRET_VALUE');
    const exchanges = recorder.take();
    expect(exchanges.map((e) => e.status)).toEqual([401, 200]);
    expect(set.value).toBe('SECRET_VALUE');
    expect(set.properties.id).toBe(`${vaultUrl(vault)}/secrets/${name}/${set.properties.version}`);
    expect(set.properties.version).toMatch(/^[0-9a-f]{32}$/);
    expect(set.properties.vaultUrl).toBe(vaultUrl(vault));
    expect(set.properties.recoveryLevel).toBe('CustomizedRecoverable+Purgeable');
    expect(set.properties.recoverableDays).toBe(7);
    expect(set.properties.enabled).toBe(true);

    const latest = await client.getSecret(name);
    expect(latest.value).toBe('SECRET_VALUE');
    expect(latest.properties.version).toBe(set.properties.version);

    const second = await client.setSecret(name, 'SECOND_VALUE');
    expect((await client.getSecret(name)).value).toBe('SECOND_VALUE');
    expect((await client.getSecret(name, { version: set.properties.version! })).value).toBe('SECRET_VALUE');
    const versions: string[] = [];
    for await (const p of client.listPropertiesOfSecretVersions(name)) versions.push(p.version!);
    expect(versions.sort()).toEqual([set.properties.version!, second.properties.version!].sort());
  });

  it('sets attributes, content type and tags, and updates them (the value stays)', async () => {
    const name = `attrs-${suffix()}`;
    const exp = new Date('2027-01-01T00:00:00Z');
    const nbf = new Date('2025-01-01T00:00:00Z');
    const set = await client.setSecret(name, 'v1', { contentType: 'text/plain', tags: { team: 'a' }, expiresOn: exp, notBefore: nbf });
    expect(set.properties.contentType).toBe('text/plain');
    expect(set.properties.tags).toEqual({ team: 'a' });
    expect(set.properties.expiresOn?.toISOString()).toBe(exp.toISOString());
    expect(set.properties.notBefore?.toISOString()).toBe(nbf.toISOString());

    const updated = await client.updateSecretProperties(name, set.properties.version!, { contentType: 'application/json', tags: { team: 'b', env: 'dev' } });
    expect(updated.contentType).toBe('application/json');
    expect(updated.tags).toEqual({ team: 'b', env: 'dev' });
    expect(updated.expiresOn?.toISOString()).toBe(exp.toISOString());
    const got = await client.getSecret(name);
    expect(got.value).toBe('v1');
    expect(got.properties.contentType).toBe('application/json');
  });

  it('stores an empty value', async () => {
    const name = `empty-${suffix()}`;
    await client.setSecret(name, '');
    expect((await client.getSecret(name)).value).toBe('');
  });

  it('refuses to get a disabled secret with 403 Forbidden / SecretDisabled, and can enable it again', async () => {
    const name = `disabled-${suffix()}`;
    const set = await client.setSecret(name, 'hidden', { enabled: false });
    expect(set.properties.enabled).toBe(false);
    const err = await failure(client.getSecret(name));
    expect(err.statusCode).toBe(403);
    expect(err.code).toBe('Forbidden');
    expect(innerCode(err)).toBe('SecretDisabled');
    expect(err.message).toBe('Operation get is not allowed on a disabled secret.');
    await client.updateSecretProperties(name, set.properties.version!, { enabled: true });
    expect((await client.getSecret(name)).value).toBe('hidden');
  });

  it('answers 404 SecretNotFound for unknown secrets and versions', async () => {
    const name = `missing-${suffix()}`;
    const err = await failure(client.getSecret(name));
    expect(err.statusCode).toBe(404);
    expect(err.code).toBe('SecretNotFound');
    const del = await failure(client.beginDeleteSecret(name));
    expect(del.statusCode).toBe(404);
    expect(del.code).toBe('SecretNotFound');
    await client.setSecret(name, 'x');
    const v = await failure(client.getSecret(name, { version: '0123456789abcdef0123456789abcdef' }));
    expect(v.code).toBe('SecretNotFound');
  });

  it('deletes with the poller (recoveryId, dates), gets and lists the deleted secret, refuses its name (409), and recovers it with the poller', async () => {
    const name = `lro-${suffix()}`;
    await client.setSecret(name, 'to-recover', { tags: { keep: 'me' } });
    const poller = await client.beginDeleteSecret(name, FAST);
    const deleted = await poller.pollUntilDone();
    expect(deleted.recoveryId).toBe(`${vaultUrl(vault)}/deletedsecrets/${name}`);
    expect(deleted.deletedOn).toBeInstanceOf(Date);
    expect(deleted.scheduledPurgeDate!.getTime() - deleted.deletedOn!.getTime()).toBe(7 * 86_400_000);
    expect(deleted.properties.tags).toEqual({ keep: 'me' });

    expect((await client.getDeletedSecret(name)).name).toBe(name);
    const listed: string[] = [];
    for await (const d of client.listDeletedSecrets()) listed.push(d.name);
    expect(listed).toContain(name);
    const gone = await failure(client.getSecret(name));
    expect(gone.code).toBe('SecretNotFound');

    const conflict = await failure(client.setSecret(name, 'reuse'));
    expect(conflict.statusCode).toBe(409);
    expect(conflict.code).toBe('Conflict');
    expect(innerCode(conflict)).toBe('ObjectIsDeletedButRecoverable');

    const recovery = await client.beginRecoverDeletedSecret(name, FAST);
    const recovered = await recovery.pollUntilDone();
    expect(recovered.name).toBe(name);
    expect((await client.getSecret(name)).value).toBe('to-recover');
    const notDeleted = await failure(client.getDeletedSecret(name));
    expect(notDeleted.code).toBe('SecretNotFound');
  });

  it('purges a deleted secret (204): the name is free again and the old value is gone', async () => {
    const name = `purge-${suffix()}`;
    await client.setSecret(name, 'old');
    await (await client.beginDeleteSecret(name, FAST)).pollUntilDone();
    await client.purgeDeletedSecret(name);
    const err = await failure(client.getDeletedSecret(name));
    expect(err.code).toBe('SecretNotFound');
    const again = await client.setSecret(name, 'new');
    expect(again.value).toBe('new');
    const versions: string[] = [];
    for await (const p of client.listPropertiesOfSecretVersions(name)) versions.push(p.version!);
    expect(versions).toEqual([again.properties.version]);
  });

  it('backs up every version, restores after a purge (same ids and values), and refuses a restore into a taken name', async () => {
    const name = `backup-${suffix()}`;
    const v1 = await client.setSecret(name, 'first', { contentType: 'text/plain' });
    const v2 = await client.setSecret(name, 'second', { tags: { n: '2' } });
    const blob = await client.backupSecret(name);
    expect(blob).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(blob!).includes(Buffer.from('second'))).toBe(false);

    const taken = await failure(client.restoreSecretBackup(blob!));
    expect(taken.statusCode).toBe(409);
    expect(taken.code).toBe('Conflict');

    await (await client.beginDeleteSecret(name, FAST)).pollUntilDone();
    await client.purgeDeletedSecret(name);
    const restored = await client.restoreSecretBackup(blob!);
    expect(restored.name).toBe(name);
    expect(restored.version).toBe(v2.properties.version);
    expect((await client.getSecret(name)).value).toBe('second');
    const old = await client.getSecret(name, { version: v1.properties.version! });
    expect(old.value).toBe('first');
    expect(old.properties.contentType).toBe('text/plain');
    expect((await client.getSecret(name)).properties.tags).toEqual({ n: '2' });
  });

  it('rejects a malformed backup blob with 400', async () => {
    const err = await failure(client.restoreSecretBackup(new Uint8Array(64).fill(7)));
    expect(err.statusCode).toBe(400);
    expect(err.code).toBe('Malformed backup blob');
  });

  it('pages over 60 secrets, 25 a page, following absolute nextLinks that carry the api-version', async () => {
    const prefix = `page-${suffix()}`;
    const names = Array.from({ length: 60 }, (_, i) => `${prefix}-${String(i).padStart(2, '0')}`);
    for (let i = 0; i < names.length; i += 10) await Promise.all(names.slice(i, i + 10).map((n) => client.setSecret(n, `value-${n}`)));
    recorder.take();
    const seen: string[] = [];
    const pageSizes: number[] = [];
    for await (const page of client.listPropertiesOfSecrets().byPage({ maxPageSize: 25 })) {
      pageSizes.push(page.length);
      for (const p of page) if (p.name.startsWith(prefix)) seen.push(p.name);
    }
    expect(seen.sort()).toEqual(names);
    expect(pageSizes.every((n) => n <= 25)).toBe(true);
    const listCalls = recorder.take().filter((e) => e.method === 'GET');
    expect(listCalls.length).toBeGreaterThanOrEqual(3);
    for (const call of listCalls.slice(1)) {
      expect(call.url.startsWith(`${vaultUrl(vault)}/secrets?`)).toBe(true);
      expect(new URL(call.url).searchParams.get('api-version')).toBe('2025-07-01');
      expect(new URL(call.url).searchParams.get('$skiptoken')).toBeTruthy();
    }
  }, 60_000);

  it('speaks older api-versions too (serviceVersion 7.5 and 7.0)', async () => {
    for (const serviceVersion of ['7.5', '7.0'] as const) {
      const rec = new RecordingHttpClient();
      const older = secretClient(vaultUrl(vault), credential(), { serviceVersion, httpClient: rec });
      const name = `ver-${serviceVersion.replace('.', '')}-${suffix()}`;
      const set = await older.setSecret(name, `v-${serviceVersion}`);
      const got = await older.getSecret(name);
      expect(got.value).toBe(`v-${serviceVersion}`);
      expect(set.properties.recoverableDays).toBe(serviceVersion === '7.0' ? undefined : 7);
      expect(rec.exchanges.every((e) => new URL(e.url).searchParams.get('api-version') === serviceVersion)).toBe(true);
    }
  });
});

describe('the Azure SDK SecretClient on https://localhost:8443 (the dev vault)', () => {
  it('works with disableChallengeResourceVerification', async () => {
    const client = secretClient(LOCALHOST_URL, credential(), { disableChallengeResourceVerification: true });
    const name = `e2e-local-${suffix()}`;
    const set = await client.setSecret(name, 'on-localhost');
    expect(set.properties.id).toBe(`${LOCALHOST_URL}/secrets/${name}/${set.properties.version}`);
    expect((await client.getSecret(name)).value).toBe('on-localhost');
    await (await client.beginDeleteSecret(name, FAST)).pollUntilDone();
    await client.purgeDeletedSecret(name);
  });

  it('is refused by the SDK without the flag (the challenge resource does not match localhost)', async () => {
    const client = secretClient(LOCALHOST_URL, credential());
    const err = await failure(client.getSecret(`e2e-local-${suffix()}`));
    expect(err.message).toMatch(/does not match the requested domain/);
  });
});
