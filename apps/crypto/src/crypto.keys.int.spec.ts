/**
 * Key lifecycle through the gRPC API: versions, get/update, JWK import (software and into the
 * token), BYOK transfer blobs under a KEK with key_ops ["import"], and purge as
 * crypto-shredding (material row emptied, token objects destroyed).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, generateKeyPairSync, randomBytes, verify as nodeVerify } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { createByokTransferBlob, Pkcs11Token, type PrivateJwk } from '#libs/crypto-core';
import { SOFTHSM_MODULE, SOFTHSM_PIN_FILE, startTestCrypto, cryptoErrorOf, type TestCrypto } from './testing/crypto.harness.js';
import { keyRef, newVersion, publicKeyOf } from './testing/jwk.helpers.js';

let t: TestCrypto;
let tenant: string;

beforeAll(async () => {
  t = await startTestCrypto({ root: 'pkcs11' });
  tenant = t.ctx().tenantId;
});

afterAll(async () => {
  await t?.close();
});

const errorOf = cryptoErrorOf;

const sha256 = (m: Buffer): Buffer => createHash('sha256').update(m).digest();

async function eventsOf(name: string, vault = 'vault1'): Promise<{ type: string; data: Record<string, unknown> }[]> {
  const rows = await t.sql(`SELECT type, data FROM ${t.schema}.events WHERE stream_id = $1 ORDER BY stream_version`, [`key-${tenant}/${vault}/${name}`]);
  return rows as { type: string; data: Record<string, unknown> }[];
}

const PRIVATE_FIELDS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'key_hsm', 'wrapped'];

describe('versions, get and update', () => {
  it('a second create adds a version; "latest" follows it; get by version still finds the first', async () => {
    const v1 = keyRef(tenant, 'versioned');
    const v2 = { ...v1, version: newVersion() };
    await t.client.createKey({ ctx: t.ctx(), ref: v1, kty: 'EC', crv: 'P-256' });
    await t.client.createKey({ ctx: t.ctx(), ref: v2, kty: 'EC', crv: 'P-384' });
    expect((await t.client.getKey({ ctx: t.ctx(), ref: { ...v1, version: '' } })).key.ref.version).toBe(v2.version);
    expect((await t.client.getKey({ ctx: t.ctx(), ref: v1 })).key.key.crv).toBe('P-256');
    expect((await eventsOf('versioned')).map((e) => e.type)).toEqual(['KeyCreated', 'KeyVersionAdded']);
    expect((await errorOf(t.client.createKey({ ctx: t.ctx(), ref: v1, kty: 'EC' }))).code).toBe('BadParameter');
  });

  it('names are case-insensitive: refs are lower-cased', async () => {
    const ref = keyRef(tenant, 'MixedCase');
    const { key } = await t.client.createKey({ ctx: t.ctx(), ref, kty: 'EC' });
    expect(key.ref.name).toBe('mixedcase');
    expect((await t.client.getKey({ ctx: t.ctx(), ref: { ...ref, name: 'MIXEDCASE' } })).key.ref.version).toBe(ref.version);
  });

  it('update disables and changes key_ops, and the next operation sees it', async () => {
    const ref = keyRef(tenant, 'updatable');
    await t.client.createKey({ ctx: t.ctx(), ref, kty: 'RSA' });
    const digest = sha256(randomBytes(8));
    await t.client.sign({ ctx: t.ctx(), ref, algorithm: 'RS256', value: digest });
    const off = await t.client.updateKey({ ctx: t.ctx(), ref: { ...ref, version: '' }, attributes: { enabled: false } });
    expect(off.key.attributes.enabled).toBe(false);
    expect((await errorOf(t.client.sign({ ctx: t.ctx(), ref, algorithm: 'RS256', value: digest }))).code).toBe('KeyDisabled');
    const on = await t.client.updateKey({ ctx: t.ctx(), ref, attributes: { enabled: true }, keyOps: ['verify'] });
    expect(on.key.key.keyOps).toEqual(['verify']);
    expect((await errorOf(t.client.sign({ ctx: t.ctx(), ref, algorithm: 'RS256', value: digest }))).code).toBe('KeyOperationNotAllowed');
    expect((await eventsOf('updatable')).map((e) => e.type)).toEqual(['KeyCreated', 'KeyUpdated', 'KeyUpdated']);
  });
});

describe('import', () => {
  it('a software RSA JWK: signatures verify with the importer\'s own public key; no private part in any event', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const ref = keyRef(tenant, 'imported-rsa');
    const { key } = await t.client.importKey({ ctx: t.ctx(), ref, jwkJson: JSON.stringify(privateKey.export({ format: 'jwk' })) });
    expect(key.hsm).toBe(false);
    expect(key.key.kty).toBe('RSA');
    const message = randomBytes(30);
    const sig = await t.client.sign({ ctx: t.ctx(), ref, algorithm: 'RS256', value: sha256(message) });
    expect(nodeVerify('sha256', message, publicKey, sig.result)).toBe(true);
    const [event] = await eventsOf('imported-rsa');
    expect(event!.type).toBe('KeyImported');
    for (const f of PRIVATE_FIELDS) expect(Object.keys(event!.data)).not.toContain(f);
    expect(JSON.stringify(event!.data)).not.toContain((privateKey.export({ format: 'jwk' }) as { d: string }).d);
  });

  it.each([
    ['EC P-256 into the token', 'ec', { namedCurve: 'P-256' }, 'ES256'],
    ['RSA 2048 into the token', 'rsa', { modulusLength: 2048 }, 'PS256'],
  ] as const)('a JWK with hsm=true: %s, non-extractable, signs verifiably', async (_label, type, options, algorithm) => {
    const { privateKey, publicKey } = type === 'ec' ? generateKeyPairSync('ec', options as { namedCurve: string }) : generateKeyPairSync('rsa', options as { modulusLength: number });
    const ref = keyRef(tenant, `imported-hsm-${type}`);
    const { key } = await t.client.importKey({ ctx: t.ctx(), ref, hsm: true, jwkJson: JSON.stringify(privateKey.export({ format: 'jwk' })) });
    expect(key.hsm).toBe(true);
    expect(key.key.kty).toBe(type === 'ec' ? 'EC-HSM' : 'RSA-HSM');
    const message = randomBytes(30);
    const sig = await t.client.sign({ ctx: t.ctx(), ref, algorithm, value: sha256(message) });
    const ok = type === 'ec' ? nodeVerify('sha256', message, { key: publicKey, dsaEncoding: 'ieee-p1363' }, sig.result) : nodeVerify('sha256', message, { key: publicKey, padding: 6, saltLength: 32 }, sig.result);
    expect(ok).toBe(true);
  });

  it('malformed JWKs are BadParameter and never echo their content', async () => {
    const ref = keyRef(tenant, 'bad-jwk');
    const secretish = 'SECRET-PART-abcdef';
    const notJson = await errorOf(t.client.importKey({ ctx: t.ctx(), ref, jwkJson: `{"kty":"RSA","d":"${secretish}"` }));
    expect(notJson.code).toBe('BadParameter');
    expect(notJson.message).not.toContain(secretish);
    const noPrivate = await errorOf(t.client.importKey({ ctx: t.ctx(), ref, jwkJson: JSON.stringify({ kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA' }) }));
    expect(noPrivate.code).toBe('BadParameter');
  });
});

describe('BYOK (.byok transfer blob in key_hsm)', () => {
  it.each([
    ['an HSM KEK', 'RSA-HSM'],
    ['a software KEK', 'RSA'],
  ] as const)('under %s with key_ops ["import"] the target lands in the token and signs verifiably', async (_label, kekType) => {
    const kekRef = keyRef(tenant, `byok-kek-${kekType.toLowerCase()}`);
    const { key: kek } = await t.client.createKey({ ctx: t.ctx(), ref: kekRef, kty: kekType, keySize: 2048, keyOps: ['import'] });
    const target = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const kid = `https://vault1.vault.localhost/keys/${kekRef.name}/${kekRef.version}`;
    const blob = createByokTransferBlob(target.privateKey.export({ format: 'jwk' }) as PrivateJwk, publicKeyOf(kek), kid, 'test BYOK tool');
    const ref = keyRef(tenant, `byok-target-${kekType.toLowerCase()}`);
    const { key } = await t.client.importKey({ ctx: t.ctx(), ref, jwkJson: JSON.stringify({ kty: 'EC-HSM', key_hsm: blob.toString('base64url') }) });
    expect(key.key.kty).toBe('EC-HSM');
    expect(key.hsm).toBe(true);
    const message = randomBytes(12);
    const sig = await t.client.sign({ ctx: t.ctx(), ref, algorithm: 'ES384', value: createHash('sha384').update(message).digest() });
    expect(nodeVerify('sha384', message, { key: target.publicKey, dsaEncoding: 'ieee-p1363' }, sig.result)).toBe(true);
    const [event] = await eventsOf(ref.name);
    expect(event!.type).toBe('KeyImported');
    expect(event!.data.importedFrom).toBe('byok');
  });

  it('a KEK without the import key_op is refused; a kid naming no key of this vault is KeyNotFound', async () => {
    const kekRef = keyRef(tenant, 'byok-kek-noimport');
    const { key: kek } = await t.client.createKey({ ctx: t.ctx(), ref: kekRef, kty: 'RSA' });
    const target = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }) as PrivateJwk;
    const blob = createByokTransferBlob(target, publicKeyOf(kek), `https://vault1.vault.localhost/keys/${kekRef.name}/${kekRef.version}`);
    const ref = keyRef(tenant, 'byok-refused');
    const denied = await errorOf(t.client.importKey({ ctx: t.ctx(), ref, jwkJson: JSON.stringify({ kty: 'EC-HSM', key_hsm: blob.toString('base64url') }) }));
    expect(denied.code).toBe('KeyOperationNotAllowed');
    const elsewhere = createByokTransferBlob(target, publicKeyOf(kek), `https://vault1.vault.localhost/keys/nosuchkek/${newVersion()}`);
    const missing = await errorOf(t.client.importKey({ ctx: t.ctx(), ref, jwkJson: JSON.stringify({ kty: 'EC-HSM', key_hsm: elsewhere.toString('base64url') }) }));
    expect(missing.code).toBe('KeyNotFound');
  });
});

describe('destroy (purge) is crypto-shredding', () => {
  it('software and HSM versions: material emptied, token objects gone, every use is KeyNotFound; the name can be reused', async () => {
    const soft = keyRef(tenant, 'purged');
    const hsm = { ...soft, version: newVersion() };
    await t.client.createKey({ ctx: t.ctx(), ref: soft, kty: 'EC' });
    await t.client.createKey({ ctx: t.ctx(), ref: hsm, kty: 'EC-HSM' });
    const digest = sha256(randomBytes(4));
    await t.client.sign({ ctx: t.ctx(), ref: soft, algorithm: 'ES256', value: digest });
    const objects = (await t.sql(`SELECT hsm_object_id FROM ${t.schema}.key_material WHERE name = 'purged' AND hsm_object_id IS NOT NULL`)).map((r) => String(r.hsm_object_id));
    expect(objects).toHaveLength(1);

    expect((await t.client.destroyKey({ ctx: t.ctx(), ref: { ...soft, version: '' } })).destroyed).toBe(2);
    for (const ref of [soft, hsm]) {
      expect((await errorOf(t.client.sign({ ctx: t.ctx(), ref, algorithm: 'ES256', value: digest }))).code).toBe('KeyNotFound');
      expect((await errorOf(t.client.getKey({ ctx: t.ctx(), ref }))).code).toBe('KeyNotFound');
    }
    const material = await t.sql(`SELECT wrapped, destroyed_at FROM ${t.schema}.key_material WHERE name = 'purged'`);
    expect(material).toHaveLength(2);
    for (const m of material) {
      expect(m.wrapped).toBeNull();
      expect(m.destroyed_at).not.toBeNull();
    }
    const token = Pkcs11Token.open({ modulePath: SOFTHSM_MODULE, tokenLabel: 'keyledger', pin: readFileSync(SOFTHSM_PIN_FILE, 'utf8').trim() });
    try {
      expect(token.findObjects([{ type: 0x102 /* CKA_ID */, value: Buffer.from(objects[0]!, 'utf8') }])).toHaveLength(0);
    } finally {
      token.close();
    }
    expect((await eventsOf('purged')).map((e) => e.type)).toEqual(['KeyCreated', 'KeyVersionAdded', 'KeyDestroyed']);
    expect((await errorOf(t.client.destroyKey({ ctx: t.ctx(), ref: soft }))).code).toBe('KeyNotFound');

    const again = { ...soft, version: newVersion() };
    await t.client.createKey({ ctx: t.ctx(), ref: again, kty: 'EC' });
    expect((await t.client.sign({ ctx: t.ctx(), ref: again, algorithm: 'ES256', value: digest })).kidVersion).toBe(again.version);
    expect((await eventsOf('purged')).map((e) => e.type).slice(-1)).toEqual(['KeyCreated']);
  });
});
