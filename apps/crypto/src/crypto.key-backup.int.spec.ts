/**
 * Soft delete / recover, and backup / restore of keys through the gRPC API, for software and
 * HSM keys: a restored key signs and decrypts as the original did (same public key, same
 * versions and attributes), the blob restores only with the same root and tenant, refusals are
 * typed and audited, and neither key material nor the blob reaches events or audit records.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, publicEncrypt, constants, randomBytes, verify as nodeVerify } from 'node:crypto';
import type { CallContext, KeyVersion, ObjectRef } from '#libs/crypto-client';
import { cryptoErrorOf, startTestCrypto, type TestCrypto } from './testing/crypto.harness.js';
import { keyRef, newVersion, publicKeyOf } from './testing/jwk.helpers.js';

let t: TestCrypto;
let other: TestCrypto;
let sealedIn: TestCrypto;
let tenant: string;

beforeAll(async () => {
  t = await startTestCrypto({ root: 'pkcs11' });
  tenant = t.ctx().tenantId;
  // Another deployment: its own root (and backup wrapping key) in the same token, same tenant id.
  other = await startTestCrypto({ root: 'pkcs11', tenant });
  // A deployment whose HSM keys never leave the token. (Instances share this process's token
  // login, so they are all closed at the end: closing one logs the others out.)
  sealedIn = await startTestCrypto({ root: 'pkcs11', tenant, env: { CRYPTO_HSM_KEY_BACKUP: 'false' } });
});

afterAll(async () => {
  await t?.close();
  await other?.close();
  await sealedIn?.close();
});

const sha256 = (m: Buffer): Buffer => createHash('sha256').update(m).digest();
const byName = (name: string, vault = 'vault1'): ObjectRef => ({ tenant, vault, collection: 'keys', name, version: '' });

async function rows(sql: string, params: unknown[]): Promise<string> {
  return JSON.stringify(await t.sql(sql, params));
}

async function signVerifies(ref: ObjectRef, key: KeyVersion, algorithm: 'RS256' | 'ES256', ctx: CallContext = t.ctx()): Promise<boolean> {
  const message = randomBytes(40);
  const sig = await t.client.sign({ ctx, ref, algorithm, value: sha256(message) });
  return nodeVerify('sha256', message, algorithm === 'ES256' ? { key: publicKeyOf(key), dsaEncoding: 'ieee-p1363' } : publicKeyOf(key), sig.result);
}

describe('soft delete and recover', () => {
  it('a deleted key is out of use and readable only as deleted; recover brings every version back', async () => {
    const v1 = keyRef(tenant, 'deletable');
    const v2 = { ...v1, version: newVersion() };
    await t.client.createKey({ ctx: t.ctx(), ref: v1, kty: 'EC' });
    const { key } = await t.client.createKey({ ctx: t.ctx(), ref: v2, kty: 'EC' });

    const ctx = t.ctx('KeyDelete');
    const deleted = await t.client.deleteKey({ ctx, ref: byName('deletable') });
    expect(deleted.versions).toBe(2);
    expect(deleted.deleted).toBeGreaterThan(0);
    expect((await t.auditRecords(ctx.correlationId)).map((r) => [r.operationName, r.resultType])).toEqual([['KeyDelete', 'Success']]);

    expect((await cryptoErrorOf(t.client.sign({ ctx: t.ctx(), ref: v2, algorithm: 'ES256', value: sha256(Buffer.from('x')) }))).code).toBe('KeyNotFound');
    expect((await cryptoErrorOf(t.client.getKey({ ctx: t.ctx(), ref: byName('deletable') }))).code).toBe('KeyNotFound');
    const asDeleted = await t.client.getKey({ ctx: t.ctx(), ref: byName('deletable'), deleted: true });
    expect(asDeleted.key.ref.version).toBe(v2.version);
    expect(asDeleted.key.deleted).toBe(deleted.deleted);
    expect((await cryptoErrorOf(t.client.createKey({ ctx: t.ctx(), ref: { ...v1, version: newVersion() }, kty: 'EC' }))).code).toBe('KeyConflict');
    expect((await cryptoErrorOf(t.client.deleteKey({ ctx: t.ctx(), ref: byName('deletable') }))).code).toBe('KeyNotFound');
    expect((await cryptoErrorOf(t.client.updateKey({ ctx: t.ctx(), ref: v1, attributes: { enabled: false } }))).code).toBe('KeyNotFound');

    const recovered = await t.client.recoverKey({ ctx: t.ctx(), ref: byName('deletable') });
    expect(recovered.key.ref.version).toBe(v2.version);
    expect(recovered.key.deleted).toBe(0);
    expect(await signVerifies(v1, (await t.client.getKey({ ctx: t.ctx(), ref: v1 })).key, 'ES256')).toBe(true);
    expect(await signVerifies(byName('deletable'), key, 'ES256')).toBe(true);
    expect((await cryptoErrorOf(t.client.getKey({ ctx: t.ctx(), ref: byName('deletable'), deleted: true }))).code).toBe('KeyNotFound');
    expect((await cryptoErrorOf(t.client.recoverKey({ ctx: t.ctx(), ref: byName('deletable') }))).code).toBe('KeyNotFound');

    const types = (await t.sql(`SELECT type FROM ${t.schema}.events WHERE stream_id = $1 ORDER BY stream_version`, [`key-${tenant}/vault1/deletable`])).map((r) => r.type);
    expect(types).toEqual(['KeyCreated', 'KeyVersionAdded', 'KeyDeleted', 'KeyRecovered']);
  });

  it('a deleted key can be purged; the name is then free', async () => {
    const ref = keyRef(tenant, 'delete-then-purge');
    await t.client.createKey({ ctx: t.ctx(), ref, kty: 'RSA-HSM' });
    await t.client.deleteKey({ ctx: t.ctx(), ref: byName('delete-then-purge') });
    expect((await t.client.destroyKey({ ctx: t.ctx(), ref: byName('delete-then-purge') })).destroyed).toBe(1);
    expect((await cryptoErrorOf(t.client.getKey({ ctx: t.ctx(), ref: byName('delete-then-purge'), deleted: true }))).code).toBe('KeyNotFound');
    await t.client.createKey({ ctx: t.ctx(), ref: { ...ref, version: newVersion() }, kty: 'EC' });
  });
});

describe('backup and restore', () => {
  it('software RSA with two versions, EC and oct: restored into another vault, same versions, attributes and behaviour', async () => {
    const r1 = keyRef(tenant, 'bk-rsa');
    const r2 = { ...r1, version: newVersion() };
    const { key: rsa1 } = await t.client.createKey({ ctx: t.ctx(), ref: r1, kty: 'RSA', keySize: 2048 });
    const { key: rsa2 } = await t.client.createKey({ ctx: t.ctx(), ref: r2, kty: 'RSA', keySize: 3072, keyOps: ['sign', 'verify', 'decrypt', 'encrypt'], attributes: { enabled: true, notBefore: 0, expires: 4102444800, exportable: false } });
    const ec = keyRef(tenant, 'bk-ec');
    const { key: ecKey } = await t.client.createKey({ ctx: t.ctx(), ref: ec, kty: 'EC', crv: 'P-256' });
    const oct = keyRef(tenant, 'bk-oct');
    await t.client.createKey({ ctx: t.ctx(), ref: oct, kty: 'oct', keySize: 256 });
    const sealed = await t.client.encrypt({ ctx: t.ctx(), ref: oct, algorithm: 'A256GCM', value: Buffer.from('kept across restore') });

    const ctx = t.ctx('KeyBackup');
    const { blob } = await t.client.backupKey({ ctx, ref: byName('bk-rsa') });
    expect(blob.length).toBeGreaterThan(100);
    const ecBlob = (await t.client.backupKey({ ctx: t.ctx(), ref: byName('bk-ec') })).blob;
    const octBlob = (await t.client.backupKey({ ctx: t.ctx(), ref: byName('bk-oct') })).blob;
    expect((await t.auditRecords(ctx.correlationId)).map((r) => [r.operationName, r.resultType, r.properties.extra?.versions])).toEqual([['KeyBackup', 'Success', '2']]);

    const restoreCtx = t.ctx('KeyRestore');
    const restored = await t.client.restoreKey({ ctx: restoreCtx, ref: { tenant, vault: 'vault2', collection: 'keys', name: '', version: '' }, blob });
    expect(restored.versions).toEqual([r1.version, r2.version]);
    expect(restored.key.ref).toEqual({ ...r2, vault: 'vault2' });
    expect(restored.key.key.n).toEqual(rsa2.key.n);
    expect(restored.key.key.keyOps).toEqual(rsa2.key.keyOps);
    expect(restored.key.attributes.expires).toBe(4102444800);
    expect(restored.key.created).toBe(rsa2.created);
    const audit = await t.auditRecords(restoreCtx.correlationId);
    expect(audit.map((r) => [r.operationName, r.resultType, r.properties.extra?.restoredFromVault])).toEqual([['KeyRestore', 'Success', 'vault1']]);

    // Both versions work in the new vault, with the original public keys.
    expect(await signVerifies({ ...r1, vault: 'vault2' }, rsa1, 'RS256')).toBe(true);
    expect(await signVerifies({ ...r2, vault: 'vault2' }, rsa2, 'RS256')).toBe(true);
    const ciphertext = publicEncrypt({ key: publicKeyOf(rsa2), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.from('to the restored key'));
    const plain = await t.client.decrypt({ ctx: t.ctx(), ref: { ...r2, vault: 'vault2' }, algorithm: 'RSA-OAEP-256', value: ciphertext });
    expect(plain.result.toString()).toBe('to the restored key');

    // EC and oct: purge the originals, restore into the same vault.
    await t.client.destroyKey({ ctx: t.ctx(), ref: byName('bk-ec') });
    await t.client.destroyKey({ ctx: t.ctx(), ref: byName('bk-oct') });
    await t.client.restoreKey({ ctx: t.ctx(), ref: byName(''), blob: ecBlob });
    await t.client.restoreKey({ ctx: t.ctx(), ref: byName('bk-oct'), blob: octBlob });
    expect(await signVerifies(byName('bk-ec'), ecKey, 'ES256')).toBe(true);
    const opened = await t.client.decrypt({ ctx: t.ctx(), ref: oct, algorithm: 'A256GCM', value: sealed.result, iv: sealed.iv, tag: sealed.tag });
    expect(opened.result.toString()).toBe('kept across restore');
  });

  it('HSM keys (RSA-HSM, EC-HSM, oct-HSM): wrapped inside the token, restored as token keys that work as before', async () => {
    const rsa = keyRef(tenant, 'bk-rsa-hsm');
    const { key: rsaKey } = await t.client.createKey({ ctx: t.ctx(), ref: rsa, kty: 'RSA-HSM', keySize: 2048 });
    const ec = keyRef(tenant, 'bk-ec-hsm');
    const { key: ecKey } = await t.client.createKey({ ctx: t.ctx(), ref: ec, kty: 'EC-HSM', crv: 'P-384' });
    const oct = keyRef(tenant, 'bk-oct-hsm');
    await t.client.createKey({ ctx: t.ctx(), ref: oct, kty: 'oct-HSM', keySize: 256 });
    const sealed = await t.client.encrypt({ ctx: t.ctx(), ref: oct, algorithm: 'A256GCM', value: Buffer.from('hsm secret') });

    const blobs = new Map<string, Buffer>();
    for (const name of ['bk-rsa-hsm', 'bk-ec-hsm', 'bk-oct-hsm']) {
      blobs.set(name, (await t.client.backupKey({ ctx: t.ctx(), ref: byName(name) })).blob);
      await t.client.destroyKey({ ctx: t.ctx(), ref: byName(name) });
      expect((await cryptoErrorOf(t.client.getKey({ ctx: t.ctx(), ref: byName(name) }))).code).toBe('KeyNotFound');
    }
    for (const [name, blob] of blobs) {
      const { key } = await t.client.restoreKey({ ctx: t.ctx(), ref: byName(name), blob });
      expect(key.hsm).toBe(true);
    }
    const material = await t.sql(`SELECT hsm_object_id FROM ${t.schema}.key_material WHERE name = 'bk-rsa-hsm' AND destroyed_at IS NULL`, []);
    expect(material).toHaveLength(1);
    expect(material[0]!.hsm_object_id).toMatch(/^kl-/);

    expect(await signVerifies(rsa, rsaKey, 'RS256')).toBe(true);
    const message = randomBytes(20);
    const sig = await t.client.sign({ ctx: t.ctx(), ref: ec, algorithm: 'ES384', value: createHash('sha384').update(message).digest() });
    expect(nodeVerify('sha384', message, { key: publicKeyOf(ecKey), dsaEncoding: 'ieee-p1363' }, sig.result)).toBe(true);
    const opened = await t.client.decrypt({ ctx: t.ctx(), ref: oct, algorithm: 'A256GCM', value: sealed.result, iv: sealed.iv, tag: sealed.tag });
    expect(opened.result.toString()).toBe('hsm secret');
  });

  it('refusals: name taken (live or deleted), another tenant, another root, a tampered blob, a secret backup, a deleted key — each typed and audited', async () => {
    const ref = keyRef(tenant, 'bk-refusals');
    await t.client.createKey({ ctx: t.ctx(), ref, kty: 'EC' });
    const { blob } = await t.client.backupKey({ ctx: t.ctx(), ref: byName('bk-refusals') });

    const taken = t.ctx('KeyRestore');
    expect((await cryptoErrorOf(t.client.restoreKey({ ctx: taken, ref: byName(''), blob }))).code).toBe('KeyConflict');
    expect((await t.auditRecords(taken.correlationId)).map((r) => [r.operationName, r.resultType, r.properties.errorCode])).toEqual([['KeyRestore', 'Failure', 'KeyConflict']]);
    await t.client.deleteKey({ ctx: t.ctx(), ref: byName('bk-refusals') });
    expect((await cryptoErrorOf(t.client.restoreKey({ ctx: t.ctx(), ref: byName(''), blob }))).code).toBe('KeyConflict');
    expect((await cryptoErrorOf(t.client.backupKey({ ctx: t.ctx(), ref: byName('bk-refusals') }))).code).toBe('KeyNotFound');

    expect((await cryptoErrorOf(t.client.restoreKey({ ctx: t.ctx(), ref: { ...byName(''), tenant: 'another-tenant' }, blob }))).code).toBe('BadParameter');
    expect((await cryptoErrorOf(t.client.restoreKey({ ctx: t.ctx(), ref: { ...byName('another-name'), vault: 'vault3' }, blob }))).code).toBe('BadParameter');
    expect((await cryptoErrorOf(other.client.restoreKey({ ctx: other.ctx(), ref: { ...byName(''), vault: 'vault3' }, blob }))).code).toBe('CiphertextInvalid');
    const tampered = Buffer.from(blob);
    tampered.writeUInt8(tampered.readUInt8(tampered.length - 5) ^ 0x01, tampered.length - 5);
    expect((await cryptoErrorOf(t.client.restoreKey({ ctx: t.ctx(), ref: { ...byName(''), vault: 'vault3' }, blob: tampered }))).code).toBe('CiphertextInvalid');
    const secretBlob = (await t.client.sealBackup({ ctx: t.ctx(), purpose: 'keyledger/secret-backup/v1', payload: Buffer.from('{}') })).blob;
    expect((await cryptoErrorOf(t.client.restoreKey({ ctx: t.ctx(), ref: { ...byName(''), vault: 'vault3' }, blob: secretBlob }))).code).toBe('CiphertextInvalid');
    expect((await cryptoErrorOf(t.client.restoreKey({ ctx: t.ctx(), ref: { ...byName(''), vault: 'vault3' }, blob: Buffer.alloc(0) }))).code).toBe('BadParameter');
    // Nothing of the refused restores was written.
    expect(await t.sql(`SELECT 1 FROM ${t.schema}.key_versions WHERE vault = 'vault3'`, [])).toHaveLength(0);
  });

  it('with CRYPTO_HSM_KEY_BACKUP=false HSM keys never leave the token: backup is NotSupported (software keys still back up)', async () => {
    {
      await sealedIn.client.createKey({ ctx: sealedIn.ctx(), ref: keyRef(tenant, 'never-leaves'), kty: 'EC-HSM' });
      const ctx = sealedIn.ctx('KeyBackup');
      const err = await cryptoErrorOf(sealedIn.client.backupKey({ ctx, ref: byName('never-leaves') }));
      expect(err.code).toBe('NotSupported');
      expect(err.message).toContain('non-extractable');
      expect((await sealedIn.auditRecords(ctx.correlationId)).map((r) => r.properties.errorCode)).toEqual(['NotSupported']);
      await sealedIn.client.createKey({ ctx: sealedIn.ctx(), ref: keyRef(tenant, 'software-ok'), kty: 'EC' });
      expect((await sealedIn.client.backupKey({ ctx: sealedIn.ctx(), ref: byName('software-ok') })).blob.length).toBeGreaterThan(0);
    }
  });

  it('no private key part, wrapped key or blob in events or audit records', async () => {
    const ref = keyRef(tenant, 'bk-canary');
    await t.client.createKey({ ctx: t.ctx(), ref, kty: 'RSA' });
    const { blob } = await t.client.backupKey({ ctx: t.ctx(), ref: byName('bk-canary') });
    await t.client.restoreKey({ ctx: t.ctx(), ref: { ...byName(''), vault: 'vault4' }, blob });
    const events = await rows(`SELECT data FROM ${t.schema}.events WHERE stream_id LIKE $1`, [`key-${tenant}/%/bk-canary`]);
    const audit = await rows(`SELECT payload FROM ${t.schema}.outbox WHERE payload::text LIKE '%bk-canary%'`, []);
    for (const text of [events, audit]) {
      for (const field of ['"d"', '"p"', '"dq"', '"qi"', '"jwk"', '"wrapped"']) expect(text).not.toContain(field);
      expect(text).not.toContain(blob.subarray(20, 60).toString('base64'));
    }
    expect(events).toContain('restoredFromVault');
  });
});
