/**
 * Managed HSM pools end to end: the official `@azure/keyvault-keys` 4.10 `KeyClient` and
 * `CryptographyClient` against `https://{pool}.managedhsm.localhost:8443` with challenge
 * verification ON (the SDK checks that the host ends with the challenge resource's host,
 * `managedhsm.localhost`), raw HTTPS for Azure's answers, the pool's audit records, the admin
 * API and `keyledger hsm`.
 */
import { execFile } from 'node:child_process';
import { constants, createHash, createPublicKey, randomBytes, verify as nodeVerify, X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { CryptographyClient, KeyClient, type KeyVaultKey } from '@azure/keyvault-keys';
import type { ClientSecretCredential } from '@azure/identity';
import { REPO_ROOT } from '#libs/platform';
import {
  failure,
  accessToken,
  assignRole,
  CA,
  closeDb,
  createServicePrincipal,
  credential,
  db,
  DOMAIN,
  eventCount,
  eventually,
  installLocalhostDns,
  raw,
  RecordingHttpClient,
  suffix,
  VAULT_PORT,
  VAULT_RESOURCE,
  vaultAdmin,
  type ServicePrincipal,
} from './vault-e2e.support.js';

// The project's testTimeout is not applied to files run alone: long e2e steps need their own.
jest.setTimeout(120_000);

const run = promisify(execFile);
const POOL_RESOURCE = `https://managedhsm.${DOMAIN}`;
const poolUrl = (pool: string): string => `https://${pool}.managedhsm.${DOMAIN}:${VAULT_PORT}`;
const DEV_POOL = poolUrl('dev');

function keyClient(url: string, cred: ClientSecretCredential = credential(), httpClient?: RecordingHttpClient): KeyClient {
  // Challenge resource verification stays ON (the default).
  return new KeyClient(url, cred, { tlsOptions: { ca: CA.toString() }, retryOptions: { maxRetries: 0 }, ...(httpClient ? { httpClient } : {}) });
}

function cryptoClient(key: KeyVaultKey | string, cred: ClientSecretCredential = credential(), httpClient?: RecordingHttpClient): CryptographyClient {
  return new CryptographyClient(key as KeyVaultKey, cred, { tlsOptions: { ca: CA.toString() }, retryOptions: { maxRetries: 0 }, ...(httpClient ? { httpClient } : {}) });
}

async function createPool(prefix: string): Promise<string> {
  const name = `${prefix}-${suffix()}`.slice(0, 24).replace(/-+$/, '');
  // Usable at once: this spec is about keys and roles, not the security domain (pool-backup e2e activates its pools).
  const res = await vaultAdmin('/admin/managedhsms', 'POST', { name, softDeleteRetentionInDays: 7, activateWithoutSecurityDomain: true });
  if (res.status !== 201) throw new Error(`pool ${name} not created: ${res.status} ${res.text}`);
  return name;
}

async function dropPool(name: string): Promise<void> {
  await vaultAdmin(`/admin/managedhsms/${name}`, 'DELETE');
  await vaultAdmin(`/admin/deletedmanagedhsms/${name}`, 'DELETE');
}

/** Crypto's own key events of a key name in a pool (its keys live under `{pool}.managedhsm`). */
async function cryptoEventCount(pool: string, name: string): Promise<number> {
  const res = await db().query<{ n: string }>(`SELECT count(*)::text AS n FROM crypto.events WHERE stream_id LIKE $1`, [`key-%/${pool.toLowerCase()}.managedhsm/${name.toLowerCase()}`]);
  return Number(res.rows[0]?.n ?? 0);
}

/** The pool's records of these requests (resourceId included: the record's own field). */
async function poolRecords(ids: readonly string[]): Promise<{ id: string; operationName: string; resultSignature: string; resourceId: string; properties: Record<string, unknown> }[]> {
  const res = await db().query<{ data: { id: string; operationName: string; resultSignature: string; resourceId: string; properties: Record<string, unknown> } }>(
    `SELECT payload->'data' AS data FROM vault.outbox WHERE topic = 'keyledger.audit.records.v1' AND payload->'data'->>'id' = ANY($1::text[])`,
    [ids],
  );
  return res.rows.map((r) => r.data);
}

/** The bootstrap principal's Managed HSM roles reach the vault through identity's events: wait for them. */
async function untilUsable(client: KeyClient): Promise<void> {
  await eventually(
    async () => {
      try {
        for await (const _ of client.listPropertiesOfKeys()) break;
        return true;
      } catch {
        return undefined;
      }
    },
    30_000,
    250,
  );
}

describe('the bootstrap pool dev on https://dev.managedhsm.localhost:8443 with the official KeyClient and CryptographyClient', () => {
  let client: KeyClient;
  let recorder: RecordingHttpClient;
  const made: string[] = [];

  beforeAll(async () => {
    installLocalhostDns();
    recorder = new RecordingHttpClient();
    client = keyClient(DEV_POOL, credential(), recorder);
    await untilUsable(client);
    recorder.take();
  });

  afterAll(async () => {
    for (const name of made) {
      try {
        await (await client.beginDeleteKey(name, { intervalInMs: 50 })).pollUntilDone();
      } catch {
        // already deleted
      }
      await client.purgeDeletedKey(name).catch(() => undefined);
    }
    await closeDb();
  });

  it('exists from the first start, listed by the admin API with its pool URL', async () => {
    const res = await vaultAdmin('/admin/managedhsms/dev');
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ name: 'dev', kind: 'managedHsm', hsmUri: DEV_POOL });
  });

  it('challenges without a token with resource https://managedhsm.<domain>:<port> and an empty body', async () => {
    const res = await raw(`${DEV_POOL}/keys?api-version=7.6`);
    expect(res.status).toBe(401);
    expect(res.text).toBe('');
    expect(res.headers['content-security-policy']).toBe("default-src 'self'");
    expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(String(res.headers['www-authenticate'])).toMatch(new RegExp(`^Bearer authorization="[^"]+", resource="https://managedhsm\\.${DOMAIN}:${VAULT_PORT}"$`));
  });

  it('accepts tokens for https://managedhsm.<domain> with and without the port, refuses a vault token', async () => {
    for (const resource of [POOL_RESOURCE, `${POOL_RESOURCE}:${VAULT_PORT}`]) {
      const res = await raw(`${DEV_POOL}/keys?api-version=7.6`, { headers: { authorization: `Bearer ${await accessToken(resource)}` } });
      expect([resource, res.status]).toEqual([resource, 200]);
    }
    const vaultToken = await raw(`${DEV_POOL}/keys?api-version=7.6`, { headers: { authorization: `Bearer ${await accessToken(VAULT_RESOURCE)}` } });
    expect(vaultToken.status).toBe(401);
    expect(vaultToken.text).toBe('');
  });

  it('creates RSA-HSM, EC-HSM and oct-HSM keys with kids on the pool origin', async () => {
    const rsa = await client.createRsaKey(`rsa-${suffix()}`, { hsm: true, keySize: 2048 });
    const ec = await client.createEcKey(`ec-${suffix()}`, { hsm: true, curve: 'P-256' });
    const oct = await client.createOctKey(`oct-${suffix()}`, { hsm: true, keySize: 256 });
    made.push(rsa.name, ec.name, oct.name);
    expect(rsa.keyType).toBe('RSA-HSM');
    expect(ec.keyType).toBe('EC-HSM');
    expect(oct.keyType).toBe('oct-HSM');
    for (const k of [rsa, ec, oct]) expect(k.id).toBe(`${DEV_POOL}/keys/${k.name}/${k.properties.version}`);
    expect(oct.key?.k).toBeUndefined();
    const names: string[] = [];
    for await (const p of client.listPropertiesOfKeys()) names.push(p.name);
    expect(names).toEqual(expect.arrayContaining([rsa.name, ec.name, oct.name]));
  });

  it('refuses a software RSA key as Azure refuses an unsupported kty, audited, nothing written', async () => {
    const name = `soft-${suffix()}`;
    recorder.take();
    const err = await failure(client.createKey(name, 'RSA'));
    expect(err.statusCode).toBe(400);
    expect(err.code).toBe('BadParameter');
    expect(err.message).toContain('Invalid kty value: RSA');
    const refused = recorder.take().filter((e) => e.status === 400);
    expect(refused).toHaveLength(1);
    const body = await raw(`${DEV_POOL}/keys/${name}/create?api-version=7.6`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await accessToken(POOL_RESOURCE)}`, 'content-type': 'application/json' },
      body: JSON.stringify({ kty: 'EC' }),
    });
    expect(body.json).toEqual({ error: { code: 'BadParameter', message: 'Invalid kty value: EC', innererror: { code: 'KeyTypeNotSupported' } } });
    expect(await eventCount(`key-%-${name}`)).toBe(0);
    expect(await cryptoEventCount('dev', name)).toBe(0);
    const records = await eventually(async () => {
      const r = await poolRecords(refused.map((e) => e.requestId));
      return r.length === 1 ? r : undefined;
    });
    expect(records?.[0]).toMatchObject({ operationName: 'KeyCreate', resultSignature: '400', resourceId: '/managedHSMs/dev' });
  });

  it('signs and verifies with RSA-HSM (RS256, PS256) and EC-HSM (ES256), each signature checked by Node', async () => {
    const rsa = await client.createRsaKey(`sig-${suffix()}`, { hsm: true });
    const ec = await client.createEcKey(`sig-${suffix()}`, { hsm: true, curve: 'P-256' });
    made.push(rsa.name, ec.name);
    const data = Buffer.from('pool data');
    const digest = createHash('sha256').update(data).digest();
    for (const [key, alg] of [
      [rsa, 'RS256'],
      [rsa, 'PS256'],
      [ec, 'ES256'],
    ] as const) {
      const c = cryptoClient(key);
      const signed = await c.sign(alg, digest);
      expect(signed.keyID).toBe(key.id);
      expect((await c.verify(alg, digest, signed.result)).result).toBe(true);
      const jwk =
        alg === 'ES256'
          ? { kty: 'EC', crv: key.key!.crv!, x: Buffer.from(key.key!.x!).toString('base64url'), y: Buffer.from(key.key!.y!).toString('base64url') }
          : { kty: 'RSA', n: Buffer.from(key.key!.n!).toString('base64url'), e: Buffer.from(key.key!.e!).toString('base64url') };
      const pub = createPublicKey({ key: jwk, format: 'jwk' });
      const options = alg === 'ES256' ? { key: pub, dsaEncoding: 'ieee-p1363' as const } : alg === 'PS256' ? { key: pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } : pub;
      expect([alg, nodeVerify('sha256', data, options, Buffer.from(signed.result))]).toEqual([alg, true]);
    }
  });

  it('wraps and unwraps with RSA-HSM (RSA-OAEP-256) and oct-HSM (A256KW); encrypts and decrypts with oct-HSM (A256GCM)', async () => {
    const rsa = await client.createRsaKey(`wrap-${suffix()}`, { hsm: true });
    const oct = await client.createOctKey(`aes-${suffix()}`, { hsm: true, keySize: 256 });
    made.push(rsa.name, oct.name);
    const cek = randomBytes(32);
    for (const [key, alg] of [
      [rsa, 'RSA-OAEP-256'],
      [oct, 'A256KW'],
    ] as const) {
      const c = cryptoClient(key);
      const wrapped = await c.wrapKey(alg, cek);
      expect(Buffer.from(wrapped.result).equals(cek)).toBe(false);
      expect(Buffer.from((await c.unwrapKey(alg, wrapped.result)).result).equals(cek)).toBe(true);
    }
    const aes = cryptoClient(oct);
    const plaintext = Buffer.from('confidential pool payload');
    const sealed = await aes.encrypt({ algorithm: 'A256GCM', plaintext });
    expect(sealed.iv?.length).toBeGreaterThan(0);
    expect(sealed.authenticationTag?.length).toBe(16);
    const opened = await aes.decrypt({ algorithm: 'A256GCM', ciphertext: sealed.result, iv: sealed.iv!, authenticationTag: sealed.authenticationTag! });
    expect(Buffer.from(opened.result).toString()).toBe(plaintext.toString());
  });

  it('deletes, recovers, deletes again and purges a key', async () => {
    const name = `life-${suffix()}`;
    await client.createEcKey(name, { hsm: true });
    const deleted = await (await client.beginDeleteKey(name, { intervalInMs: 50 })).pollUntilDone();
    expect(deleted.properties.recoveryId).toBe(`${DEV_POOL}/deletedkeys/${name}`);
    expect((await client.getDeletedKey(name)).name).toBe(name);
    const recovered = await (await client.beginRecoverDeletedKey(name, { intervalInMs: 50 })).pollUntilDone();
    expect(recovered.name).toBe(name);
    await (await client.beginDeleteKey(name, { intervalInMs: 50 })).pollUntilDone();
    await client.purgeDeletedKey(name);
    expect((await failure(client.getDeletedKey(name))).statusCode).toBe(404);
  });

  it('answers POST /rng with the requested number of bytes', async () => {
    const bytes = await client.getRandomBytes(33);
    expect(bytes.length).toBe(33);
    const res = await raw(`${DEV_POOL}/rng?api-version=7.6`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await accessToken(POOL_RESOURCE)}`, 'content-type': 'application/json' },
      body: JSON.stringify({ count: 10 }),
    });
    expect(res.status).toBe(200);
    expect(Buffer.from((res.json as { value: string }).value, 'base64url').length).toBe(10);
  });

  it('has no secrets: a secrets path on a pool answers 404 NotFound, audited', async () => {
    const res = await raw(`${DEV_POOL}/secrets/anything?api-version=7.6`, { headers: { authorization: `Bearer ${await accessToken(POOL_RESOURCE)}` } });
    expect(res.status).toBe(404);
    expect((res.json as { error: { code: string } }).error.code).toBe('NotFound');
    const id = String(res.headers['x-ms-request-id']);
    const records = await eventually(async () => {
      const r = await poolRecords([id]);
      return r.length === 1 ? r : undefined;
    });
    expect(records?.[0]).toMatchObject({ operationName: 'SecretGet', resultSignature: '404', resourceId: '/managedHSMs/dev' });
  });
});

describe('Managed HSM roles on a pool (scope /managedHSMs/{pool})', () => {
  let pool: string;
  let cryptoUser: ServicePrincipal;
  let auditor: ServicePrincipal;
  let encryptionUser: ServicePrincipal;
  let shared: KeyVaultKey;

  beforeAll(async () => {
    installLocalhostDns();
    pool = await createPool('e2e-pool');
    const admin = keyClient(poolUrl(pool));
    await untilUsable(admin);
    shared = await admin.createRsaKey('shared', { hsm: true });
    cryptoUser = await createServicePrincipal(`e2e-hsmuser-${suffix()}`);
    auditor = await createServicePrincipal(`e2e-hsmaud-${suffix()}`);
    encryptionUser = await createServicePrincipal(`e2e-hsmenc-${suffix()}`);
    await assignRole(cryptoUser.objectId, 'Managed HSM Crypto User', `/managedHSMs/${pool}`);
    await assignRole(auditor.objectId, 'Managed HSM Crypto Auditor', `/managedHSMs/${pool}/keys`);
    await assignRole(encryptionUser.objectId, 'Managed HSM Crypto Service Encryption User', `/managedHSMs/${pool}/keys/shared`);
  });

  afterAll(async () => {
    await dropPool(pool);
    await closeDb();
  });

  const visible = async (c: KeyClient): Promise<void> => {
    await eventually(
      async () => {
        try {
          await c.getKey('shared');
          return true;
        } catch {
          return undefined;
        }
      },
      15_000,
    );
  };

  /** The refused exchanges of `recorder` each left one record: the operation, 403, the pool's scope. */
  async function eachRefusalAudited(recorder: RecordingHttpClient, operations: readonly string[]): Promise<void> {
    const refused = recorder.take().filter((e) => e.status === 403);
    expect(refused).toHaveLength(operations.length);
    const records = await eventually(async () => {
      const r = await poolRecords(refused.map((e) => e.requestId));
      return r.length === refused.length ? r : undefined;
    });
    expect(records).toHaveLength(refused.length);
    refused.forEach((e, i) => {
      const r = records!.find((x) => x.id === e.requestId)!;
      expect([r.operationName, r.resultSignature, r.resourceId, r.properties.isRbacAuthorized, r.properties.errorCode]).toEqual([operations[i], '403', `/managedHSMs/${pool}`, true, 'ForbiddenByRbac']);
    });
  }

  it('Managed HSM Crypto User signs and creates keys, but cannot purge a deleted key (Crypto Officer only)', async () => {
    const recorder = new RecordingHttpClient();
    const c = keyClient(poolUrl(pool), credential(cryptoUser.credentials), recorder);
    await visible(c);
    const key = await c.getKey('shared');
    const signed = await cryptoClient(key, credential(cryptoUser.credentials)).sign('RS256', createHash('sha256').update('x').digest());
    expect(signed.result.length).toBe(256);
    const own = await c.createEcKey(`user-${suffix()}`, { hsm: true });
    await (await c.beginDeleteKey(own.name, { intervalInMs: 50 })).pollUntilDone();
    recorder.take();
    const err = await failure(c.purgeDeletedKey(own.name));
    expect(err.statusCode).toBe(403);
    expect(err.message).toContain('Microsoft.KeyVault/managedHsm/keys/deletedKeys/delete');
    await eachRefusalAudited(recorder, ['KeyPurge']);
  });

  it('Managed HSM Crypto Auditor reads key metadata only: no sign, no create (403 each, audited once each)', async () => {
    const recorder = new RecordingHttpClient();
    const c = keyClient(poolUrl(pool), credential(auditor.credentials), recorder);
    await visible(c);
    expect((await c.getKey('shared')).keyType).toBe('RSA-HSM');
    const names: string[] = [];
    for await (const p of c.listPropertiesOfKeys()) names.push(p.name);
    expect(names).toContain('shared');
    for await (const _ of c.listDeletedKeys()) break;
    recorder.take();
    const cc = cryptoClient(shared.id!, credential(auditor.credentials), recorder);
    const signErr = await failure(cc.sign('RS256', createHash('sha256').update('x').digest()));
    expect(signErr.statusCode).toBe(403);
    const name = `aud-${suffix()}`;
    const createErr = await failure(c.createRsaKey(name, { hsm: true }));
    expect(createErr.statusCode).toBe(403);
    expect(await eventCount(`key-%-${name}`)).toBe(0);
    // The CryptographyClient reads the key first (allowed), then signs remotely (refused).
    await eachRefusalAudited(recorder, ['KeySign', 'KeyCreate']);
  });

  it('Managed HSM Crypto Service Encryption User on one key wraps and unwraps it, and cannot sign', async () => {
    const recorder = new RecordingHttpClient();
    const c = keyClient(poolUrl(pool), credential(encryptionUser.credentials), recorder);
    await visible(c);
    const cc = cryptoClient(await c.getKey('shared'), credential(encryptionUser.credentials), recorder);
    const cek = randomBytes(32);
    const wrapped = await cc.wrapKey('RSA-OAEP-256', cek);
    expect(Buffer.from((await cc.unwrapKey('RSA-OAEP-256', wrapped.result)).result).equals(cek)).toBe(true);
    recorder.take();
    expect((await failure(cc.sign('RS256', createHash('sha256').update('x').digest()))).statusCode).toBe(403);
    await eachRefusalAudited(recorder, ['KeySign']);
  });

  it('a pool and a vault may share a name (separate namespaces)', async () => {
    const res = await vaultAdmin('/admin/vaults', 'POST', { name: pool, softDeleteRetentionInDays: 7 });
    expect(res.status).toBe(201);
    await vaultAdmin(`/admin/vaults/${pool}`, 'DELETE');
    await vaultAdmin(`/admin/deletedvaults/${pool}`, 'DELETE');
    expect((await vaultAdmin('/admin/managedhsms', 'POST', { name: pool })).status).toBe(409);
  });
});

describe('keyledger hsm: the CLI over the pool admin API', () => {
  afterAll(() => closeDb());

  async function cli(...args: string[]): Promise<unknown> {
    const { stdout } = await run(process.execPath, [join(REPO_ROOT, 'bin', 'keyledger.mjs'), '--json', ...args], { env: { ...process.env, NODE_EXTRA_CA_CERTS: join(REPO_ROOT, '.keyledger', 'tls', 'ca.crt') } });
    return stdout.trim() ? JSON.parse(stdout) : undefined;
  }

  it('creates, lists, shows, deletes, recovers and purges a pool', async () => {
    const name = `e2e-cli-${suffix()}`.slice(0, 24).replace(/-+$/, '');
    const created = (await cli('hsm', 'create', name, '--retention-days', '7', '--tag', 'owner=cli')) as { name: string; hsmUri: string; kind: string; tags: Record<string, string> };
    expect(created).toMatchObject({ name, kind: 'managedHsm', hsmUri: poolUrl(name), tags: { owner: 'cli' } });
    expect(((await cli('hsm', 'list')) as { name: string }[]).map((p) => p.name)).toEqual(expect.arrayContaining(['dev', name]));
    expect(((await cli('vault', 'list')) as { name: string }[]).map((p) => p.name)).not.toContain(name);
    expect(await cli('hsm', 'show', name)).toMatchObject({ name, hsmUri: poolUrl(name) });
    expect(await cli('hsm', 'delete', name)).toMatchObject({ name });
    expect(((await cli('hsm', 'list', '--deleted')) as { name: string }[]).map((p) => p.name)).toContain(name);
    expect(await cli('hsm', 'recover', name)).toMatchObject({ name });
    await cli('hsm', 'delete', name);
    expect(await cli('hsm', 'purge', name)).toEqual({ purged: name });
    expect((await vaultAdmin(`/admin/managedhsms/${name}`)).status).toBe(404);
  });
});

describe('the security domain transfer key of a pool awaiting its domain (found by fuzzing with securitydomain.json)', () => {
  let pool: string;

  beforeAll(async () => {
    installLocalhostDns();
    pool = `sdtk-${suffix()}`.slice(0, 24).replace(/-+$/, '');
    const res = await vaultAdmin('/admin/managedhsms', 'POST', { name: pool, softDeleteRetentionInDays: 7 });
    if (res.status !== 201) throw new Error(`pool ${pool} not created: ${res.status} ${res.text}`);
  });

  afterAll(async () => {
    await dropPool(pool);
    await closeDb();
  });

  it('carries x5c (its certificate, issued by the tenant CA, for its own public half) and x5t#S256, the same on every call', async () => {
    const token = await accessToken(POOL_RESOURCE);
    const get = () => raw(`${poolUrl(pool)}/securitydomain/upload?api-version=7.5`, { headers: { authorization: `Bearer ${token}` } });
    const res = await get();
    expect(res.status).toBe(200);
    const { key_format, transfer_key: key } = res.json as { key_format: string; transfer_key: { n: string; e: string; x5c: string[]; 'x5t#S256': string; kty: string; alg: string } };
    expect([key_format, key.kty, key.alg, key.x5c.length]).toEqual(['jwk', 'RSA', 'RSA-OAEP-256', 2]);
    const [leaf, ca] = key.x5c.map((c) => new X509Certificate(Buffer.from(c, 'base64'))) as [X509Certificate, X509Certificate];
    const certified = leaf.publicKey.export({ format: 'jwk' }) as { n: string; e: string };
    expect([certified.n, certified.e]).toEqual([key.n, key.e]);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.subject).toContain(`CN=${pool} security domain transfer key`);
    expect(key['x5t#S256']).toBe(createHash('sha256').update(leaf.raw).digest('base64url'));
    expect((await get()).json).toEqual(res.json);
  });
});
