/**
 * Encryption and key wrapping through the gRPC API, every result checked by an independent
 * implementation (Node crypto / WebCrypto holding the same imported key, or the public key
 * of a generated one), for software and HSM keys.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { constants, createCipheriv, createDecipheriv, generateKeyPairSync, privateDecrypt, publicEncrypt, randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import type { KeyVersion } from '#libs/crypto-client';
import { isRsa15DecryptSupported } from '#libs/crypto-core';
import { startTestCrypto, cryptoErrorOf, type TestCrypto } from './testing/crypto.harness.js';
import { keyRef, publicKeyOf } from './testing/jwk.helpers.js';

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

const OAEP_HASH = { 'RSA-OAEP': 'sha1', 'RSA-OAEP-256': 'sha256' } as const;

describe('software RSA (imported, so Node holds the private key too)', () => {
  let ref: ReturnType<typeof keyRef>;
  let privateKey: KeyObject;
  let publicKey: KeyObject;

  beforeAll(async () => {
    ({ privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 }));
    ref = keyRef(tenant, 'rsa-imported');
    const jwk = privateKey.export({ format: 'jwk' });
    await t.client.importKey({ ctx: t.ctx('KeyImport'), ref, jwkJson: JSON.stringify(jwk) });
  });

  it.each(['RSA-OAEP', 'RSA-OAEP-256'] as const)('%s: service encrypts, Node decrypts; Node encrypts, service decrypts', async (algorithm) => {
    const plaintext = randomBytes(64);
    const enc = await t.client.encrypt({ ctx: t.ctx('KeyEncrypt'), ref, algorithm, value: plaintext });
    expect(enc.result).toHaveLength(256);
    expect(privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: OAEP_HASH[algorithm] }, enc.result).equals(plaintext)).toBe(true);
    const theirs = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: OAEP_HASH[algorithm] }, plaintext);
    const dec = await t.client.decrypt({ ctx: t.ctx('KeyDecrypt'), ref, algorithm, value: theirs });
    expect(dec.result.equals(plaintext)).toBe(true);
  });

  it('RSA1_5: service encrypts (PKCS#1 v1.5); decryption as the runtime allows', async () => {
    const plaintext = randomBytes(32);
    const enc = await t.client.encrypt({ ctx: t.ctx('KeyEncrypt'), ref, algorithm: 'RSA1_5', value: plaintext });
    // Node's own PKCS#1 v1.5 private decryption is disabled on Node 20 (Marvin); check the padding by hand.
    const em = privateDecrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, enc.result);
    expect(em[0]).toBe(0);
    expect(em[1]).toBe(2);
    expect(em.subarray(em.length - plaintext.length).equals(plaintext)).toBe(true);
    expect(em[em.length - plaintext.length - 1]).toBe(0);
    const call = t.client.decrypt({ ctx: t.ctx('KeyDecrypt'), ref, algorithm: 'RSA1_5', value: enc.result });
    if (isRsa15DecryptSupported()) expect((await call).result.equals(plaintext)).toBe(true);
    else expect((await errorOf(call)).code).toBe('NotSupported');
  });

  it('wrapKey/unwrapKey RSA-OAEP-256 round-trips and Node unwraps the service\'s wrap', async () => {
    const cek = randomBytes(32);
    const wrapped = await t.client.wrapKey({ ctx: t.ctx('KeyWrap'), ref, algorithm: 'RSA-OAEP-256', value: cek });
    expect(privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, wrapped.result).equals(cek)).toBe(true);
    const unwrapped = await t.client.unwrapKey({ ctx: t.ctx('KeyUnwrap'), ref, algorithm: 'RSA-OAEP-256', value: wrapped.result });
    expect(unwrapped.result.equals(cek)).toBe(true);
  });

  it('a tampered OAEP ciphertext is CiphertextInvalid', async () => {
    const enc = await t.client.encrypt({ ctx: t.ctx('KeyEncrypt'), ref, algorithm: 'RSA-OAEP', value: randomBytes(16) });
    const bad = Buffer.from(enc.result);
    bad[10] ^= 0x40;
    expect((await errorOf(t.client.decrypt({ ctx: t.ctx('KeyDecrypt'), ref, algorithm: 'RSA-OAEP', value: bad }))).code).toBe('CiphertextInvalid');
  });
});

describe('HSM RSA (private operations in the token)', () => {
  let ref: ReturnType<typeof keyRef>;
  let key: KeyVersion;

  beforeAll(async () => {
    ref = keyRef(tenant, 'rsa-hsm-enc');
    ({ key } = await t.client.createKey({ ctx: t.ctx('KeyCreate'), ref, kty: 'RSA-HSM' }));
  });

  it.each(['RSA-OAEP', 'RSA-OAEP-256'] as const)('%s: Node encrypts with the public key, the token decrypts; and back', async (algorithm) => {
    const plaintext = randomBytes(48);
    const theirs = publicEncrypt({ key: publicKeyOf(key), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: OAEP_HASH[algorithm] }, plaintext);
    expect((await t.client.decrypt({ ctx: t.ctx('KeyDecrypt'), ref, algorithm, value: theirs })).result.equals(plaintext)).toBe(true);
    const ours = await t.client.encrypt({ ctx: t.ctx('KeyEncrypt'), ref, algorithm, value: plaintext });
    expect((await t.client.decrypt({ ctx: t.ctx('KeyDecrypt'), ref, algorithm, value: ours.result })).result.equals(plaintext)).toBe(true);
  });

  it('wrapKey / unwrapKey RSA-OAEP in the token', async () => {
    const cek = randomBytes(32);
    const wrapped = await t.client.wrapKey({ ctx: t.ctx('KeyWrap'), ref, algorithm: 'RSA-OAEP', value: cek });
    expect((await t.client.unwrapKey({ ctx: t.ctx('KeyUnwrap'), ref, algorithm: 'RSA-OAEP', value: wrapped.result })).result.equals(cek)).toBe(true);
  });

  it('RSA1_5 decryption in the token is refused as NotSupported; a bad OAEP ciphertext is CiphertextInvalid', async () => {
    const enc = await t.client.encrypt({ ctx: t.ctx('KeyEncrypt'), ref, algorithm: 'RSA1_5', value: randomBytes(16) });
    expect((await errorOf(t.client.decrypt({ ctx: t.ctx('KeyDecrypt'), ref, algorithm: 'RSA1_5', value: enc.result }))).code).toBe('NotSupported');
    const ours = await t.client.encrypt({ ctx: t.ctx('KeyEncrypt'), ref, algorithm: 'RSA-OAEP-256', value: randomBytes(16) });
    const bad = Buffer.from(ours.result);
    bad[5] ^= 1;
    expect((await errorOf(t.client.decrypt({ ctx: t.ctx('KeyDecrypt'), ref, algorithm: 'RSA-OAEP-256', value: bad }))).code).toBe('CiphertextInvalid');
    // The connection survives the token's failed operation (OpenSSL error queue fenced).
    expect((await t.client.health()).sealed).toBe(false);
  });
});

describe.each([
  [128, false],
  [192, false],
  [256, false],
  [128, true],
  [256, true],
] as const)('AES-%i, in the token: %s (imported oct key, so Node holds it too)', (bits, hsm) => {
  const k = randomBytes(bits / 8);
  let ref: ReturnType<typeof keyRef>;

  beforeAll(async () => {
    ref = keyRef(tenant, `aes-${bits}-${hsm ? 'hsm' : 'sw'}`);
    const { key } = await t.client.importKey({ ctx: t.ctx('KeyImport'), ref, hsm, jwkJson: JSON.stringify({ kty: 'oct', k: k.toString('base64url') }) });
    expect(key.key.kty).toBe(hsm ? 'oct-HSM' : 'oct');
  });

  it(`A${bits}GCM with aad: WebCrypto decrypts the service's ciphertext and the service decrypts WebCrypto's`, async () => {
    const plaintext = randomBytes(100);
    const aad = Buffer.from('context');
    const enc = await t.client.encrypt({ ctx: t.ctx('KeyEncrypt'), ref, algorithm: `A${bits}GCM`, value: plaintext, aad });
    expect(enc.iv).toHaveLength(12);
    expect(enc.tag).toHaveLength(16);
    expect(enc.aad.equals(aad)).toBe(true);
    const web = await webcrypto.subtle.importKey('raw', k, 'AES-GCM', false, ['encrypt', 'decrypt']);
    const clear = Buffer.from(await webcrypto.subtle.decrypt({ name: 'AES-GCM', iv: enc.iv, additionalData: aad }, web, Buffer.concat([enc.result, enc.tag])));
    expect(clear.equals(plaintext)).toBe(true);
    const iv = randomBytes(12);
    const sealed = Buffer.from(await webcrypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: aad }, web, plaintext));
    const dec = await t.client.decrypt({ ctx: t.ctx('KeyDecrypt'), ref, algorithm: `A${bits}GCM`, value: sealed.subarray(0, -16), iv, aad, tag: sealed.subarray(-16) });
    expect(dec.result.equals(plaintext)).toBe(true);
    const wrongAad = t.client.decrypt({ ctx: t.ctx('KeyDecrypt'), ref, algorithm: `A${bits}GCM`, value: sealed.subarray(0, -16), iv, aad: Buffer.from('other'), tag: sealed.subarray(-16) });
    expect((await errorOf(wrongAad)).code).toBe('CiphertextInvalid');
  });

  it(`A${bits}CBC and A${bits}CBCPAD match Node's AES-CBC`, async () => {
    const block = randomBytes(64);
    const enc = await t.client.encrypt({ ctx: t.ctx('KeyEncrypt'), ref, algorithm: `A${bits}CBC`, value: block });
    const d = createDecipheriv(`aes-${bits}-cbc`, k, enc.iv).setAutoPadding(false);
    expect(Buffer.concat([d.update(enc.result), d.final()]).equals(block)).toBe(true);
    const odd = randomBytes(37);
    const padded = await t.client.encrypt({ ctx: t.ctx('KeyEncrypt'), ref, algorithm: `A${bits}CBCPAD`, value: odd });
    const d2 = createDecipheriv(`aes-${bits}-cbc`, k, padded.iv);
    expect(Buffer.concat([d2.update(padded.result), d2.final()]).equals(odd)).toBe(true);
    const iv = randomBytes(16);
    const c = createCipheriv(`aes-${bits}-cbc`, k, iv);
    const theirs = Buffer.concat([c.update(odd), c.final()]);
    expect((await t.client.decrypt({ ctx: t.ctx('KeyDecrypt'), ref, algorithm: `A${bits}CBCPAD`, value: theirs, iv })).result.equals(odd)).toBe(true);
  });

  it(`A${bits}KW, CKM_AES_KEY_WRAP and CKM_AES_KEY_WRAP_PAD match RFC 3394 / 5649 in Node`, async () => {
    const cek = randomBytes(32);
    const kw = await t.client.wrapKey({ ctx: t.ctx('KeyWrap'), ref, algorithm: `A${bits}KW`, value: cek });
    const d = createDecipheriv(`id-aes${bits}-wrap`, k, Buffer.from('A6A6A6A6A6A6A6A6', 'hex'));
    expect(Buffer.concat([d.update(kw.result), d.final()]).equals(cek)).toBe(true);
    const ckm = await t.client.wrapKey({ ctx: t.ctx('KeyWrap'), ref, algorithm: 'CKM_AES_KEY_WRAP', value: cek });
    expect(ckm.result.equals(kw.result)).toBe(true);
    const kwp24 = await t.client.wrapKey({ ctx: t.ctx('KeyWrap'), ref, algorithm: 'CKM_AES_KEY_WRAP_PAD', value: cek.subarray(0, 24) });
    const d24 = createDecipheriv(`id-aes${bits}-wrap-pad`, k, Buffer.from('A65959A6', 'hex'));
    expect(Buffer.concat([d24.update(kwp24.result), d24.final()]).equals(cek.subarray(0, 24))).toBe(true);
    // SoftHSM's own CKM_AES_KEY_WRAP_PAD is not RFC 5649 for lengths that are not a multiple of 8: refused there.
    const odd = randomBytes(21);
    if (hsm) {
      expect((await errorOf(t.client.wrapKey({ ctx: t.ctx('KeyWrap'), ref, algorithm: 'CKM_AES_KEY_WRAP_PAD', value: odd }))).code).toBe('NotSupported');
      const c = createCipheriv(`id-aes${bits}-wrap-pad`, k, Buffer.from('A65959A6', 'hex'));
      const theirs = Buffer.concat([c.update(odd), c.final()]);
      expect((await t.client.unwrapKey({ ctx: t.ctx('KeyUnwrap'), ref, algorithm: 'CKM_AES_KEY_WRAP_PAD', value: theirs })).result.equals(odd)).toBe(true);
      return;
    }
    const kwp = await t.client.wrapKey({ ctx: t.ctx('KeyWrap'), ref, algorithm: 'CKM_AES_KEY_WRAP_PAD', value: odd });
    const dp = createDecipheriv(`id-aes${bits}-wrap-pad`, k, Buffer.from('A65959A6', 'hex'));
    expect(Buffer.concat([dp.update(kwp.result), dp.final()]).equals(odd)).toBe(true);
    expect((await t.client.unwrapKey({ ctx: t.ctx('KeyUnwrap'), ref, algorithm: 'CKM_AES_KEY_WRAP_PAD', value: kwp.result })).result.equals(odd)).toBe(true);
    expect((await t.client.unwrapKey({ ctx: t.ctx('KeyUnwrap'), ref, algorithm: `A${bits}KW`, value: kw.result })).result.equals(cek)).toBe(true);
  });
});

describe('generated oct-HSM key', () => {
  it('A256GCM and A256KW run in the token; HMAC is NotSupported there', async () => {
    const ref = keyRef(tenant, 'aes-generated-hsm');
    const { key } = await t.client.createKey({ ctx: t.ctx('KeyCreate'), ref, kty: 'oct-HSM', keySize: 256, keyOps: ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey', 'sign'] });
    expect(key.hsm).toBe(true);
    const plaintext = randomBytes(33);
    const enc = await t.client.encrypt({ ctx: t.ctx('KeyEncrypt'), ref, algorithm: 'A256GCM', value: plaintext, aad: Buffer.from('x') });
    const dec = await t.client.decrypt({ ctx: t.ctx('KeyDecrypt'), ref, algorithm: 'A256GCM', value: enc.result, iv: enc.iv, tag: enc.tag, aad: Buffer.from('x') });
    expect(dec.result.equals(plaintext)).toBe(true);
    const badTag = Buffer.from(enc.tag);
    badTag[0] ^= 1;
    expect((await errorOf(t.client.decrypt({ ctx: t.ctx('KeyDecrypt'), ref, algorithm: 'A256GCM', value: enc.result, iv: enc.iv, tag: badTag, aad: Buffer.from('x') }))).code).toBe('CiphertextInvalid');
    const cek = randomBytes(32);
    const wrapped = await t.client.wrapKey({ ctx: t.ctx('KeyWrap'), ref, algorithm: 'A256KW', value: cek });
    expect((await t.client.unwrapKey({ ctx: t.ctx('KeyUnwrap'), ref, algorithm: 'A256KW', value: wrapped.result })).result.equals(cek)).toBe(true);
    expect((await errorOf(t.client.sign({ ctx: t.ctx('KeySign'), ref, algorithm: 'HS256', value: randomBytes(32) }))).code).toBe('NotSupported');
    expect((await errorOf(t.client.encrypt({ ctx: t.ctx('KeyEncrypt'), ref, algorithm: 'A128GCM', value: plaintext }))).code).toBe('KeyOperationNotAllowed');
  });
});

describe('generated oct key', () => {
  it('A256GCM round-trips through the service, and the material never appears in events', async () => {
    const ref = keyRef(tenant, 'aes-generated');
    const { key } = await t.client.createKey({ ctx: t.ctx('KeyCreate'), ref, kty: 'oct', keySize: 256 });
    expect(key.key.kty).toBe('oct');
    expect(key.key.keyOps).toEqual(['encrypt', 'decrypt', 'wrapKey', 'unwrapKey']);
    const plaintext = randomBytes(20);
    const enc = await t.client.encrypt({ ctx: t.ctx('KeyEncrypt'), ref, algorithm: 'A256GCM', value: plaintext });
    const dec = await t.client.decrypt({ ctx: t.ctx('KeyDecrypt'), ref, algorithm: 'A256GCM', value: enc.result, iv: enc.iv, tag: enc.tag });
    expect(dec.result.equals(plaintext)).toBe(true);
    const events = await t.sql(`SELECT type, data FROM ${t.schema}.events WHERE stream_id = $1`, [`key-${tenant}/vault1/aes-generated`]);
    expect(events.map((e) => e.type)).toEqual(['KeyCreated']);
    expect(Object.keys(events[0]!.data as object).sort()).not.toContain('k');
    expect((events[0]!.data as { publicKey: unknown }).publicKey).toBeNull();
  });
});
