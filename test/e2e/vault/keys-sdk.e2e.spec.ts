import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { createByokTransferBlob, type PrivateJwk } from '#libs/crypto-core';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { KeyClient, type JsonWebKey as AzureJwk } from '@azure/keyvault-keys';
import type { ClientSecretCredential } from '@azure/identity';
import {
  failure,
  accessToken,
  assignRole,
  auditRecords,
  CA,
  closeDb,
  createServicePrincipal,
  createVault,
  credential,
  db,
  dropVault,
  eventCount,
  eventually,
  installLocalhostDns,
  raw,
  RecordingHttpClient,
  suffix,
  VAULT_RESOURCE,
  vaultUrl,
  type RawResponse,
  type ServicePrincipal,
} from './vault-e2e.support.js';

// The project's testTimeout is not applied to files run alone: long e2e steps need their own.
jest.setTimeout(120_000);

const FAST = { intervalInMs: 50 };

function keyClient(url: string, cred: ClientSecretCredential = credential(), httpClient?: RecordingHttpClient): KeyClient {
  // Challenge resource verification stays ON (the default): the vault host ends with ".vault.localhost".
  return new KeyClient(url, cred, { tlsOptions: { ca: CA.toString() }, retryOptions: { maxRetries: 0 }, ...(httpClient ? { httpClient } : {}) });
}

const b64u = (s: string | undefined): Uint8Array => Buffer.from(s ?? '', 'base64url');

/** Crypto's own key events of a key name in a vault: none after a refused request. */
async function cryptoEventCount(vault: string, name: string): Promise<number> {
  const res = await db().query<{ n: string }>(`SELECT count(*)::text AS n FROM crypto.events WHERE stream_id LIKE $1`, [`key-%/${vault.toLowerCase()}/${name.toLowerCase()}`]);
  return Number(res.rows[0]?.n ?? 0);
}

describe('the Azure SDK KeyClient on https://{vault}.vault.localhost:8443 (challenge resource verified)', () => {
  let vault: string;
  let client: KeyClient;
  let recorder: RecordingHttpClient;

  beforeAll(async () => {
    installLocalhostDns();
    vault = await createVault('e2e-keys');
    recorder = new RecordingHttpClient();
    client = keyClient(vaultUrl(vault), credential(), recorder);
  });

  afterAll(async () => {
    await dropVault(vault);
    await closeDb();
  });

  it('answers the first request with the challenge, then creates an RSA key with Azure\'s JSON (kid on the client origin, public parts only)', async () => {
    const name = `rsa-${suffix()}`;
    const key = await client.createRsaKey(name, { keySize: 2048, tags: { team: 'a' } });
    expect(recorder.take().map((e) => e.status)).toEqual([401, 200]);
    expect(key.id).toBe(`${vaultUrl(vault)}/keys/${name}/${key.properties.version}`);
    expect(key.properties.version).toMatch(/^[0-9a-f]{32}$/);
    expect(key.keyType).toBe('RSA');
    expect(key.keyOperations).toEqual(['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey']);
    expect(key.key?.n?.length).toBe(256);
    expect(Buffer.from(key.key!.e!).toString('hex')).toBe('010001');
    expect(key.key?.d).toBeUndefined();
    expect(key.key?.p).toBeUndefined();
    expect(key.properties.recoveryLevel).toBe('CustomizedRecoverable+Purgeable');
    expect(key.properties.recoverableDays).toBe(7);
    expect(key.properties.exportable).toBe(false);
    expect(key.properties.tags).toEqual({ team: 'a' });
    expect(key.properties.enabled).toBe(true);

    const rawGet = await raw(`${vaultUrl(vault)}/keys/${name}/?api-version=2025-07-01`, { headers: { authorization: `Bearer ${await accessToken(VAULT_RESOURCE)}` } });
    const body = rawGet.json as { key: Record<string, unknown>; attributes: Record<string, unknown> };
    expect(Object.keys(body.key).sort()).toEqual(['e', 'key_ops', 'kid', 'kty', 'n']);
    expect(body.attributes).toMatchObject({ enabled: true, key_size: 2048, recoveryLevel: 'CustomizedRecoverable+Purgeable', recoverableDays: 7, exportable: false, hsmPlatform: '0' });
  });

  it.each([
    ['RSA 3072', { rsa: 3072 }],
    ['RSA 4096', { rsa: 4096 }],
    ['RSA-HSM 2048', { rsa: 2048, hsm: true }],
  ] as const)('creates %s', async (_label, spec) => {
    const name = `rsa-${suffix()}`;
    const key = await client.createRsaKey(name, { keySize: spec.rsa, ...('hsm' in spec ? { hsm: true } : {}) });
    expect(key.keyType).toBe('hsm' in spec ? 'RSA-HSM' : 'RSA');
    expect(key.key?.n?.length).toBe(spec.rsa / 8);
  });

  it.each([
    ['P-256', false, 32],
    ['P-256K', false, 32],
    ['P-384', false, 48],
    ['P-521', false, 66],
    ['P-256', true, 32],
  ] as const)('creates an EC key on %s (hsm %s)', async (curve, hsm, bytes) => {
    const name = `ec-${suffix()}`;
    const key = await client.createEcKey(name, { curve, hsm });
    expect(key.keyType).toBe(hsm ? 'EC-HSM' : 'EC');
    expect(key.key?.crv).toBe(curve);
    expect(key.key?.x?.length).toBe(bytes);
    expect(key.key?.y?.length).toBe(bytes);
    expect(key.key?.d).toBeUndefined();
    expect(key.keyOperations).toEqual(['sign', 'verify']);
  });

  it('imports an RSA JWK and an EC JWK (software and hsm: true); the answer holds the public half only', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
    const jwk: AzureJwk = { kty: 'RSA', n: b64u(rsa.n), e: b64u(rsa.e), d: b64u(rsa.d), p: b64u(rsa.p), q: b64u(rsa.q), dp: b64u(rsa.dp), dq: b64u(rsa.dq), qi: b64u(rsa.qi), keyOps: ['sign', 'verify'] };
    const name = `imp-${suffix()}`;
    const imported = await client.importKey(name, jwk, { tags: { src: 'byo' } });
    expect(imported.keyType).toBe('RSA');
    expect(Buffer.from(imported.key!.n!).equals(Buffer.from(rsa.n!, 'base64url'))).toBe(true);
    expect(imported.key?.d).toBeUndefined();
    expect(imported.keyOperations).toEqual(['sign', 'verify']);
    expect(imported.properties.tags).toEqual({ src: 'byo' });

    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
    const hsmImported = await client.importKey(`imp-${suffix()}`, { kty: 'EC', crv: 'P-256', x: b64u(ec.x), y: b64u(ec.y), d: b64u(ec.d) }, { hardwareProtected: true });
    expect(hsmImported.keyType).toBe('EC-HSM');
    expect(Buffer.from(hsmImported.key!.x!).equals(Buffer.from(ec.x!, 'base64url'))).toBe(true);
  });

  it('gets the latest version and a named one (case-insensitive name), lists versions, and answers 404 KeyNotFound otherwise', async () => {
    const name = `Ver-${suffix()}`;
    const first = await client.createEcKey(name);
    const second = await client.createEcKey(name);
    expect((await client.getKey(name)).properties.version).toBe(second.properties.version);
    expect((await client.getKey(name.toLowerCase())).name).toBe(name);
    const old = await client.getKey(name, { version: first.properties.version! });
    expect(Buffer.from(old.key!.x!).equals(Buffer.from(first.key!.x!))).toBe(true);
    const versions: string[] = [];
    for await (const p of client.listPropertiesOfKeyVersions(name)) versions.push(p.version!);
    expect(versions.sort()).toEqual([first.properties.version!, second.properties.version!].sort());

    const missing = await failure(client.getKey(`missing-${suffix()}`));
    expect(missing.statusCode).toBe(404);
    expect(missing.code).toBe('KeyNotFound');
    const noVersion = await failure(client.getKey(name, { version: '0123456789abcdef0123456789abcdef' }));
    expect(noVersion.code).toBe('KeyNotFound');
    const none: string[] = [];
    for await (const p of client.listPropertiesOfKeyVersions(`nothing-${suffix()}`)) none.push(p.version!);
    expect(none).toEqual([]);
  });

  it('updates attributes, key_ops and tags of the latest or a named version; crypto and the vault agree', async () => {
    const name = `upd-${suffix()}`;
    const first = await client.createRsaKey(name);
    await client.createRsaKey(name);
    const exp = new Date('2030-01-01T00:00:00Z');
    const updated = await client.updateKeyProperties(name, first.properties.version!, { enabled: false, expiresOn: exp, keyOps: ['sign', 'verify'], tags: { env: 'dev' } });
    expect(updated.properties.enabled).toBe(false);
    expect(updated.properties.expiresOn?.toISOString()).toBe(exp.toISOString());
    expect(updated.keyOperations).toEqual(['sign', 'verify']);
    expect(updated.properties.tags).toEqual({ env: 'dev' });
    const got = await client.getKey(name, { version: first.properties.version! });
    expect(got.properties.enabled).toBe(false);
    expect(got.keyOperations).toEqual(['sign', 'verify']);
    // Without a version: the latest.
    const latest = await client.updateKeyProperties(name, { tags: { latest: 'yes' } });
    expect(latest.properties.version).not.toBe(first.properties.version);
    expect(latest.properties.tags).toEqual({ latest: 'yes' });
    expect(latest.properties.enabled).toBe(true);
  });

  it('deletes with the poller, gets and lists the deleted key, refuses its name (409), recovers with the poller', async () => {
    const name = `lro-${suffix()}`;
    const key = await client.createRsaKey(name, { tags: { keep: 'me' } });
    const poller = await client.beginDeleteKey(name, FAST);
    const deleted = await poller.pollUntilDone();
    expect(deleted.properties.recoveryId).toBe(`${vaultUrl(vault)}/deletedkeys/${name}`);
    expect(deleted.properties.deletedOn).toBeInstanceOf(Date);
    expect(deleted.properties.scheduledPurgeDate!.getTime() - deleted.properties.deletedOn!.getTime()).toBe(7 * 86_400_000);
    expect((await client.getDeletedKey(name)).properties.version).toBe(key.properties.version);
    const listed: string[] = [];
    for await (const d of client.listDeletedKeys()) listed.push(d.name);
    expect(listed).toContain(name);
    expect((await failure(client.getKey(name))).code).toBe('KeyNotFound');
    const conflict = await failure(client.createRsaKey(name));
    expect(conflict.statusCode).toBe(409);
    expect(conflict.code).toBe('Conflict');

    const recovered = await (await client.beginRecoverDeletedKey(name, FAST)).pollUntilDone();
    expect(recovered.properties.version).toBe(key.properties.version);
    expect((await client.getKey(name)).properties.tags).toEqual({ keep: 'me' });
    expect((await failure(client.getDeletedKey(name))).code).toBe('KeyNotFound');
  });

  it('purges a deleted key (204): gone from the vault and from crypto; the name is free again', async () => {
    const name = `purge-${suffix()}`;
    await client.createEcKey(name);
    await (await client.beginDeleteKey(name, FAST)).pollUntilDone();
    await client.purgeDeletedKey(name);
    expect((await failure(client.getDeletedKey(name))).code).toBe('KeyNotFound');
    expect((await failure(client.purgeDeletedKey(name))).statusCode).toBe(404);
    const again = await client.createEcKey(name);
    expect(again.properties.version).toMatch(/^[0-9a-f]{32}$/);
  });

  it('backs up, purges and restores a key with every version, tags and the same public key', async () => {
    const name = `bk-${suffix()}`;
    const v1 = await client.createRsaKey(name, { tags: { v: '1' } });
    const v2 = await client.createRsaKey(name, { tags: { v: '2' } });
    const blob = await client.backupKey(name);
    expect(blob!.length).toBeGreaterThan(100);
    await (await client.beginDeleteKey(name, FAST)).pollUntilDone();
    await client.purgeDeletedKey(name);
    const restored = await client.restoreKeyBackup(blob!);
    expect(restored.name).toBe(name);
    expect(restored.properties.version).toBe(v2.properties.version);
    expect(Buffer.from(restored.key!.n!).equals(Buffer.from(v2.key!.n!))).toBe(true);
    expect((await client.getKey(name, { version: v1.properties.version! })).properties.tags).toEqual({ v: '1' });
    const conflict = await failure(client.restoreKeyBackup(blob!));
    expect(conflict.statusCode).toBe(409);
    const malformed = await failure(client.restoreKeyBackup(new Uint8Array(300)));
    expect(malformed.statusCode).toBe(400);
    expect(malformed.code).toBe('Malformed backup blob');
  });

  it('rotates a key: a new version with the same type, size and key_ops', async () => {
    const name = `rot-${suffix()}`;
    const key = await client.createRsaKey(name, { keySize: 3072, keyOps: ['sign', 'verify'] });
    const rotated = await client.rotateKey(name);
    expect(rotated.properties.version).not.toBe(key.properties.version);
    expect(rotated.keyType).toBe('RSA');
    expect(rotated.key?.n?.length).toBe(384);
    expect(rotated.keyOperations).toEqual(['sign', 'verify']);
    expect((await client.getKey(name)).properties.version).toBe(rotated.properties.version);
    const missing = await failure(client.rotateKey(`nothing-${suffix()}`));
    expect(missing.code).toBe('KeyNotFound');
  });

  it('stores and answers a rotation policy (Azure adds Notify 30 days before expiry); 404 for a missing key', async () => {
    const name = `pol-${suffix()}`;
    await client.createRsaKey(name);
    const set = await client.updateKeyRotationPolicy(name, { lifetimeActions: [{ action: 'Rotate', timeBeforeExpiry: 'P30D' }], expiresIn: 'P90D' });
    expect(set.expiresIn).toBe('P90D');
    expect(set.lifetimeActions).toEqual([
      { action: 'Rotate', timeBeforeExpiry: 'P30D' },
      { action: 'Notify', timeBeforeExpiry: 'P30D' },
    ]);
    expect(set.id).toBe(`${vaultUrl(vault)}/keys/${name}/rotationpolicy`);
    expect(set.createdOn).toBeInstanceOf(Date);
    const got = await client.getKeyRotationPolicy(name);
    expect(got.lifetimeActions).toEqual(set.lifetimeActions);
    const after = await client.updateKeyRotationPolicy(name, { lifetimeActions: [{ action: 'Rotate', timeAfterCreate: 'P60D' }], expiresIn: 'P90D' });
    expect(after.lifetimeActions?.[0]).toEqual({ action: 'Rotate', timeAfterCreate: 'P60D' });
    // A rotation takes the policy's expiry.
    const rotated = await client.rotateKey(name);
    const days = (rotated.properties.expiresOn!.getTime() - rotated.properties.createdOn!.getTime()) / 86_400_000;
    expect(days).toBe(90);
    const missing = await failure(client.getKeyRotationPolicy(`nothing-${suffix()}`));
    expect(missing.statusCode).toBe(404);
    expect(missing.code).toBe('KeyNotFound');
  });

  it('leaves exactly one audit record per request, with Azure operation names, key name and version, and no key material', async () => {
    const name = `aud-${suffix()}`;
    recorder.take();
    const created = await client.createRsaKey(name);
    await client.getKey(name, { version: created.properties.version! });
    await client.updateKeyProperties(name, created.properties.version!, { tags: { a: 'b' } });
    await client.rotateKey(name);
    await client.backupKey(name);
    await failure(client.getKey(`nothing-${suffix()}`));
    const exchanges = recorder.take();
    const expected = [
      ['KeyCreate', 200],
      ['KeyGet', 200],
      ['KeyUpdate', 200],
      ['KeyRotate', 200],
      ['KeyBackup', 200],
      ['KeyGet', 404],
    ] as const;
    expect(exchanges.map((e) => e.status)).toEqual(expected.map(([, s]) => s));
    const records = await eventually(async () => {
      const r = await auditRecords(exchanges.map((e) => e.requestId));
      return r.length === exchanges.length ? r : undefined;
    });
    expect(records).toHaveLength(exchanges.length);
    exchanges.forEach((e, i) => {
      const r = records!.find((x) => x.id === e.requestId)!;
      expect([r.operationName, r.resultSignature]).toEqual([expected[i]![0], String(expected[i]![1])]);
    });
    const create = records!.find((r) => r.id === exchanges[0]!.requestId)!;
    expect(create.properties).toMatchObject({ objectName: name, objectVersion: created.properties.version, collection: 'keys' });
    const get = records!.find((r) => r.id === exchanges[1]!.requestId)!;
    expect(get.properties).toMatchObject({ objectName: name, objectVersion: created.properties.version });
    const n = Buffer.from(created.key!.n!).toString('base64url');
    expect(JSON.stringify(records)).not.toContain(n.slice(0, 40));
    const events = await db().query<{ data: unknown }>(`SELECT data FROM vault.events WHERE stream_id LIKE $1`, [`key-%-${name}`]);
    expect(events.rows.length).toBeGreaterThanOrEqual(3);
    expect(JSON.stringify(events.rows)).not.toContain(n.slice(0, 40));
  });

  it('lists more than 60 keys over pages (maxresults, $skiptoken, nextLink with api-version) in a fresh vault', async () => {
    const fresh = await createVault('e2e-keypage');
    try {
      const c = keyClient(vaultUrl(fresh));
      const names = Array.from({ length: 62 }, (_, i) => `page-${String(i).padStart(2, '0')}`);
      // One call first: the SDK's challenge handshake strips the body of its first request and
      // restores it after the 401; requests racing that handshake on a fresh client can lose their
      // body inside the SDK (Azure would answer them 400 too).
      await c.createEcKey(names[0]!);
      for (let i = 1; i < names.length; i += 8) await Promise.all(names.slice(i, i + 8).map((n) => c.createEcKey(n)));
      const pages: string[][] = [];
      for await (const page of c.listPropertiesOfKeys().byPage({ maxPageSize: 25 })) pages.push(page.map((p) => p.name));
      expect(pages.map((p) => p.length)).toEqual([25, 25, 12]);
      expect(pages.flat()).toEqual(names);
      const token = await accessToken(VAULT_RESOURCE);
      const first = await raw(`${vaultUrl(fresh)}/keys?api-version=7.6&maxresults=25`, { headers: { authorization: `Bearer ${token}` } });
      const next = (first.json as { nextLink: string }).nextLink;
      expect(next.startsWith(`${vaultUrl(fresh)}/keys?api-version=7.6&$skiptoken=`)).toBe(true);
      expect(next).toContain('maxresults=25');
    } finally {
      await dropVault(fresh);
    }
  });
});

describe('RBAC on the keys API', () => {
  let vault: string;
  let cryptoUser: ServicePrincipal;
  let reader: ServicePrincipal;

  beforeAll(async () => {
    installLocalhostDns();
    vault = await createVault('e2e-keyrbac');
    await keyClient(vaultUrl(vault)).createRsaKey('shared');
    cryptoUser = await createServicePrincipal(`e2e-cuser-${suffix()}`);
    reader = await createServicePrincipal(`e2e-kreader-${suffix()}`);
    await assignRole(cryptoUser.objectId, 'Key Vault Crypto User', `/vaults/${vault}`);
    await assignRole(reader.objectId, 'Key Vault Reader', `/vaults/${vault}`);
  });

  afterAll(async () => {
    await dropVault(vault);
    await closeDb();
  });

  const whenVisible = async (c: KeyClient): Promise<void> => {
    await eventually(async () => {
      try {
        await c.getKey('shared');
        return true;
      } catch {
        return undefined;
      }
    }, 30_000);
  };

  it('Key Vault Crypto User reads keys but cannot create one (403, nothing written)', async () => {
    const c = keyClient(vaultUrl(vault), credential(cryptoUser.credentials));
    await whenVisible(c);
    expect((await c.getKey('shared')).name).toBe('shared');
    const name = `denied-${suffix()}`;
    const err = await failure(c.createRsaKey(name));
    expect(err.statusCode).toBe(403);
    expect(err.code).toBe('Forbidden');
    expect(await eventCount(`key-%-${name}`)).toBe(0);
    expect(await cryptoEventCount(vault, name)).toBe(0);
  });

  it('Key Vault Reader reads key metadata but cannot back up a key (403)', async () => {
    const c = keyClient(vaultUrl(vault), credential(reader.credentials));
    await whenVisible(c);
    const names: string[] = [];
    for await (const p of c.listPropertiesOfKeys()) names.push(p.name);
    expect(names).toContain('shared');
    const err = await failure(c.backupKey('shared'));
    expect(err.statusCode).toBe(403);
    expect(err.code).toBe('Forbidden');
  });
});

type ErrorBody = { error: { code: string; message: string; innererror?: { code: string } } };
const errorOf = (r: RawResponse): ErrorBody['error'] => (r.json as ErrorBody).error;

describe('bad input on the keys API (raw HTTPS): Azure status and code, nothing written', () => {
  let vault: string;
  let base: string;
  let token: string;

  beforeAll(async () => {
    installLocalhostDns();
    vault = await createVault('e2e-keybad');
    base = vaultUrl(vault);
    token = await accessToken(VAULT_RESOURCE);
  });

  afterAll(async () => {
    await dropVault(vault);
    await closeDb();
  });

  const call = (method: string, path: string, body?: unknown): Promise<RawResponse> =>
    raw(`${base}${path}${path.includes('?') ? '&' : '?'}api-version=2025-07-01`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });

  async function nothingWritten(name: string): Promise<void> {
    const get = await call('GET', `/keys/${encodeURIComponent(name)}/`);
    expect(get.status === 404 || get.status === 400).toBe(true);
    expect(await eventCount(`key-%-${name.toLowerCase()}`)).toBe(0);
    expect(await cryptoEventCount(vault, name)).toBe(0);
  }

  it.each([
    ['a 2049-bit RSA key', { kty: 'RSA', key_size: 2049 }],
    ['an oct key in a vault', { kty: 'oct', key_size: 256 }],
    ['an oct-HSM key in a vault', { kty: 'oct-HSM', key_size: 256 }],
    ['an unknown kty', { kty: 'DSA' }],
    ['no kty', { key_size: 2048 }],
    ['an unknown curve', { kty: 'EC', crv: 'P-192' }],
    ['a public exponent other than 65537', { kty: 'RSA', public_exponent: 3 }],
    ['an unknown key operation', { kty: 'RSA', key_ops: ['sign', 'launch'] }],
    ['an exportable key without a release policy', { kty: 'RSA', attributes: { exportable: true } }],
    ['a non-boolean enabled', { kty: 'RSA', attributes: { enabled: 'yes' } }],
    ['a non-object body', [1, 2]],
    ['a tag with U+0000', { kty: 'EC', tags: { a: 'x\u0000y' } }],
    ['a tag with a lone surrogate', '{"kty":"EC","tags":{"a":"\\ud800"}}'],
  ])('refuses to create %s with 400 BadParameter', async (_label, body) => {
    const name = `bad-${suffix()}`;
    const res = await call('POST', `/keys/${name}/create`, body);
    expect(res.status).toBe(400);
    expect(errorOf(res).code).toBe('BadParameter');
    await nothingWritten(name);
  });

  it('creates an exportable HSM key with a release policy, answers the policy, and keeps it immutable when asked', async () => {
    const name = `rel-${suffix()}`;
    const data = Buffer.from(JSON.stringify({ version: '1.0.0', anyOf: [{ authority: 'https://attest.example', allOf: [{ claim: 'x-ms-sevsnpvm-is-debuggable', equals: false }] }] })).toString('base64url');
    const res = await call('POST', `/keys/${name}/create`, { kty: 'RSA-HSM', attributes: { exportable: true }, release_policy: { data, immutable: true } });
    expect(res.status).toBe(200);
    const body = res.json as { attributes: { exportable: boolean }; release_policy: { contentType: string; immutable: boolean; data: string } };
    expect(body.attributes.exportable).toBe(true);
    expect(body.release_policy).toEqual({ contentType: 'application/json; charset=utf-8', immutable: true, data });
    const change = await call('PATCH', `/keys/${name}`, { release_policy: { data, immutable: false } });
    expect(change.status).toBe(400);
    expect(errorOf(change).code).toBe('BadParameter');
  });

  it('answers the attributes each api-version knows (7.0: no recoverableDays, exportable, hsmPlatform, key_size)', async () => {
    const name = `ver-${suffix()}`;
    expect((await call('POST', `/keys/${name}/create`, { kty: 'RSA' })).status).toBe(200);
    const old = await raw(`${base}/keys/${name}?api-version=7.0`, { headers: { authorization: `Bearer ${token}` } });
    expect(Object.keys((old.json as { attributes: Record<string, unknown> }).attributes).sort()).toEqual(['created', 'enabled', 'recoveryLevel', 'updated']);
    const v74 = await raw(`${base}/keys/${name}?api-version=7.4`, { headers: { authorization: `Bearer ${token}` } });
    expect(Object.keys((v74.json as { attributes: Record<string, unknown> }).attributes).sort()).toEqual(['created', 'enabled', 'exportable', 'recoverableDays', 'recoveryLevel', 'updated']);
  });

  it('imports a BYOK transfer blob (key_hsm) made for a KEK of this vault with key_ops ["import"]; the key lands in the token', async () => {
    const kekName = `kek-${suffix()}`;
    const kek = await call('POST', `/keys/${kekName}/create`, { kty: 'RSA-HSM', key_size: 2048, key_ops: ['import'] });
    expect(kek.status).toBe(200);
    const kekKey = (kek.json as { key: { kid: string; n: string; e: string } }).key;
    const target = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const blob = createByokTransferBlob(target.privateKey.export({ format: 'jwk' }) as PrivateJwk, createPublicKey({ key: { kty: 'RSA', n: kekKey.n, e: kekKey.e }, format: 'jwk' }), kekKey.kid, 'keys e2e');
    const name = `byok-${suffix()}`;
    const res = await call('PUT', `/keys/${name}`, { key: { kty: 'EC-HSM', key_hsm: blob.toString('base64url') } });
    expect(res.status).toBe(200);
    const body = res.json as { key: Record<string, string>; attributes: { hsmPlatform: string } };
    expect(body.key.kty).toBe('EC-HSM');
    expect(body.key.crv).toBe('P-384');
    expect(body.key.x).toBe((target.publicKey.export({ format: 'jwk' }) as { x: string }).x);
    expect(body.key.key_hsm).toBeUndefined();
    expect(body.attributes.hsmPlatform).toBe('2');
    expect((await keyClient(base).getKey(name)).keyType).toBe('EC-HSM');
    // A KEK without the import key_op is refused, and nothing is written.
    const plain = await call('POST', `/keys/${kekName}-plain/create`, { kty: 'RSA', key_size: 2048 });
    const plainKey = (plain.json as { key: { kid: string; n: string; e: string } }).key;
    const refusedBlob = createByokTransferBlob(target.privateKey.export({ format: 'jwk' }) as PrivateJwk, createPublicKey({ key: { kty: 'RSA', n: plainKey.n, e: plainKey.e }, format: 'jwk' }), plainKey.kid);
    const refusedName = `byok-no-${suffix()}`;
    const refused = await call('PUT', `/keys/${refusedName}`, { key: { kty: 'EC-HSM', key_hsm: refusedBlob.toString('base64url') } });
    expect(refused.status).toBe(400);
    expect(errorOf(refused).code).toBe('BadParameter');
    await nothingWritten(refusedName);
  });

  it('refuses malformed JSON with 400 BadParameter', async () => {
    const name = `badjson-${suffix()}`;
    const res = await call('POST', `/keys/${name}/create`, '{"kty": "RSA"');
    expect(res.status).toBe(400);
    expect(errorOf(res).code).toBe('BadParameter');
    await nothingWritten(name);
  });

  it.each([
    ['no key', {}],
    ['a key that is not an object', { key: 'RSA' }],
    ['a JWK without private parts', { key: { kty: 'RSA', n: 'AQAB', e: 'AQAB' } }],
    ['a JWK with a field that is not base64url', { key: { kty: 'RSA', n: 'not base64!', e: 'AQAB', d: 'AQAB' } }],
    ['a JWK whose parts do not form a key', { key: { kty: 'RSA', n: 'AQAB', e: 'AQAB', d: 'AQAB' } }],
    ['an oct JWK in a vault', { key: { kty: 'oct', k: 'AAAAAAAAAAAAAAAAAAAAAA' } }],
    ['an unknown kty', { key: { kty: 'OKP', crv: 'Ed25519', x: 'AA', d: 'AA' } }],
    ['an EC JWK on an unknown curve', { key: { kty: 'EC', crv: 'P-192', x: 'AA', y: 'AA', d: 'AA' } }],
  ])('refuses to import %s with 400 BadParameter', async (_label, body) => {
    const name = `badimp-${suffix()}`;
    const res = await call('PUT', `/keys/${name}`, body);
    expect(res.status).toBe(400);
    expect(errorOf(res).code).toBe('BadParameter');
    expect(res.text).not.toMatch(/stack|at \//);
    await nothingWritten(name);
  });

  it.each(['under_score', 'dot.name', 'a'.repeat(128)])('refuses the invalid key name %s with 400 BadParameter', async (name) => {
    const res = await call('POST', `/keys/${name}/create`, { kty: 'EC' });
    expect(res.status).toBe(400);
    expect(errorOf(res).code).toBe('BadParameter');
    expect(await eventCount(`key-%-${name.toLowerCase()}`)).toBe(0);
  });

  it('refuses an empty name with 400 BadParameter "Operation not specified" (as Azure)', async () => {
    const res = await call('POST', '/keys//create', { kty: 'RSA' });
    expect(res.status).toBe(400);
    expect(errorOf(res)).toEqual({ code: 'BadParameter', message: 'Operation not specified' });
  });

  it('refuses a bad update (unknown op, exp before nbf, changing exportable) with 400 and changes nothing', async () => {
    const name = `badupd-${suffix()}`;
    expect((await call('POST', `/keys/${name}/create`, { kty: 'EC' })).status).toBe(200);
    const before = await eventCount(`key-%-${name}`);
    for (const body of [{ key_ops: ['fly'] }, { attributes: { nbf: 2000, exp: 1000 } }, { attributes: { exportable: true } }]) {
      const res = await call('PATCH', `/keys/${name}`, body);
      expect(res.status).toBe(400);
      expect(errorOf(res).code).toBe('BadParameter');
    }
    expect(await eventCount(`key-%-${name}`)).toBe(before);
  });

  it('refuses bad rotation policies with 400 BadParameter', async () => {
    const name = `badpol-${suffix()}`;
    expect((await call('POST', `/keys/${name}/create`, { kty: 'EC' })).status).toBe(200);
    for (const body of [
      { lifetimeActions: [{ trigger: { timeAfterCreate: 'soon' }, action: { type: 'Rotate' } }] },
      { lifetimeActions: [{ trigger: {}, action: { type: 'Rotate' } }] },
      { lifetimeActions: [{ trigger: { timeAfterCreate: 'P30D' }, action: { type: 'Explode' } }] },
      { lifetimeActions: [], attributes: { expiryTime: 'P1D' } },
    ]) {
      const res = await call('PUT', `/keys/${name}/rotationpolicy`, body);
      expect(res.status).toBe(400);
      expect(errorOf(res).code).toBe('BadParameter');
    }
  });
});
