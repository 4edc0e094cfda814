/**
 * Every signature algorithm through the real gRPC API (mutual TLS), software and HSM keys,
 * each signature checked by an independent implementation: Node's crypto.verify and
 * WebCrypto over the original message (the service only ever saw its digest).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { constants, createHmac, randomBytes, verify as nodeVerify, webcrypto } from 'node:crypto';
import type { KeyVersion } from '#libs/crypto-client';
import { startTestCrypto, type TestCrypto } from './testing/crypto.harness.js';
import { digestOf, HASH_OF, keyRef, newVersion, publicKeyOf, WEB_HASH, webCryptoKeyOf } from './testing/jwk.helpers.js';

let t: TestCrypto;
let tenant: string;

beforeAll(async () => {
  t = await startTestCrypto({ root: 'pkcs11' });
  tenant = t.ctx().tenantId;
});

afterAll(async () => {
  await t?.close();
});

async function create(name: string, kty: string, extra: { keySize?: number; crv?: string; keyOps?: string[] } = {}): Promise<{ ref: ReturnType<typeof keyRef>; key: KeyVersion }> {
  const ref = keyRef(tenant, name);
  const { key } = await t.client.createKey({ ctx: t.ctx('KeyCreate'), ref, kty, ...extra });
  return { ref, key };
}

/** Independent verification of a signature over `message` (the service signed its digest). */
async function independentlyValid(key: KeyVersion, algorithm: string, message: Buffer, signature: Buffer): Promise<boolean> {
  const hash = HASH_OF[algorithm]!;
  const pub = publicKeyOf(key);
  if (algorithm.startsWith('RS')) {
    const web = await webCryptoKeyOf(key, { name: 'RSASSA-PKCS1-v1_5', hash: WEB_HASH[hash] });
    const webOk = await webcrypto.subtle.verify('RSASSA-PKCS1-v1_5', web, signature, message);
    return webOk && nodeVerify(hash, message, pub, signature);
  }
  if (algorithm.startsWith('PS')) {
    const saltLength = digestOf(algorithm, Buffer.alloc(0)).length;
    const web = await webCryptoKeyOf(key, { name: 'RSA-PSS', hash: WEB_HASH[hash] });
    const webOk = await webcrypto.subtle.verify({ name: 'RSA-PSS', saltLength }, web, signature, message);
    return webOk && nodeVerify(hash, message, { key: pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength }, signature);
  }
  // ECDSA, raw r‖s. WebCrypto has no secp256k1: Node checks that one.
  const nodeOk = nodeVerify(hash, message, { key: pub, dsaEncoding: 'ieee-p1363' }, signature);
  if (algorithm === 'ES256K') return nodeOk;
  const web = await webCryptoKeyOf(key, { name: 'ECDSA', namedCurve: key.key.crv });
  return nodeOk && (await webcrypto.subtle.verify({ name: 'ECDSA', hash: WEB_HASH[hash] }, web, signature, message));
}

const RSA_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
const EC_CASES = [
  ['P-256', 'ES256'],
  ['P-256K', 'ES256K'],
  ['P-384', 'ES384'],
  ['P-521', 'ES512'],
] as const;

describe.each([
  ['software', 'RSA', 'EC'],
  ['HSM', 'RSA-HSM', 'EC-HSM'],
] as const)('%s keys: signatures verified independently', (_label, rsaType, ecType) => {
  let rsa: { ref: ReturnType<typeof keyRef>; key: KeyVersion };

  beforeAll(async () => {
    rsa = await create(`rsa-${rsaType.toLowerCase()}`, rsaType);
  });

  it.each(RSA_ALGORITHMS)(`${rsaType} 2048 %s`, async (algorithm) => {
    const message = randomBytes(100);
    const res = await t.client.sign({ ctx: t.ctx('KeySign'), ref: { ...rsa.ref, version: '' }, algorithm, value: digestOf(algorithm, message) });
    expect(res.kidVersion).toBe(rsa.ref.version);
    expect(res.result).toHaveLength(256);
    expect(await independentlyValid(rsa.key, algorithm, message, res.result)).toBe(true);
    const v = await t.client.verify({ ctx: t.ctx('KeyVerify'), ref: rsa.ref, algorithm, value: digestOf(algorithm, message), signature: res.result });
    expect(v.valid).toBe(true);
    const other = await t.client.verify({ ctx: t.ctx('KeyVerify'), ref: rsa.ref, algorithm, value: digestOf(algorithm, randomBytes(10)), signature: res.result });
    expect(other.valid).toBe(false);
  });

  it.each(EC_CASES)(`${ecType} %s with %s (raw r‖s)`, async (crv, algorithm) => {
    const { ref, key } = await create(`ec-${crv.toLowerCase()}-${ecType.toLowerCase()}`, ecType, { crv });
    expect(key.key.crv).toBe(crv);
    expect(key.hsm).toBe(ecType === 'EC-HSM');
    const message = randomBytes(77);
    const res = await t.client.sign({ ctx: t.ctx('KeySign'), ref, algorithm, value: digestOf(algorithm, message) });
    const half = crv === 'P-521' ? 66 : crv === 'P-384' ? 48 : 32;
    expect(res.result).toHaveLength(2 * half);
    expect(await independentlyValid(key, algorithm, message, res.result)).toBe(true);
    const v = await t.client.verify({ ctx: t.ctx('KeyVerify'), ref, algorithm, value: digestOf(algorithm, message), signature: res.result });
    expect(v.valid).toBe(true);
  });
});

describe('RSA key sizes', () => {
  it.each([
    ['RSA', 3072],
    ['RSA', 4096],
    ['RSA-HSM', 3072],
  ] as const)('%s %i signs PS256 verifiably', async (kty, keySize) => {
    const { ref, key } = await create(`rsa-${keySize}-${kty.toLowerCase()}`, kty, { keySize });
    expect(key.key.n).toHaveLength(keySize / 8);
    const message = randomBytes(32);
    const res = await t.client.sign({ ctx: t.ctx('KeySign'), ref, algorithm: 'PS256', value: digestOf('PS256', message) });
    expect(await independentlyValid(key, 'PS256', message, res.result)).toBe(true);
  });
});

describe('HMAC on oct keys (HS256/384/512)', () => {
  it.each(['HS256', 'HS384', 'HS512'])('%s equals Node HMAC over the digest with the imported key', async (algorithm) => {
    const k = randomBytes(32);
    const ref = keyRef(tenant, `hmac-${algorithm.toLowerCase()}`);
    await t.client.importKey({ ctx: t.ctx('KeyImport'), ref, jwkJson: JSON.stringify({ kty: 'oct', k: k.toString('base64url') }), keyOps: ['sign', 'verify'] });
    const digest = digestOf(algorithm, randomBytes(40));
    const res = await t.client.sign({ ctx: t.ctx('KeySign'), ref, algorithm, value: digest });
    expect(res.result.equals(createHmac(HASH_OF[algorithm]!, k).update(digest).digest())).toBe(true);
    expect((await t.client.verify({ ctx: t.ctx('KeyVerify'), ref, algorithm, value: digest, signature: res.result })).valid).toBe(true);
    const flipped = Buffer.from(res.result);
    flipped[0] ^= 1;
    expect((await t.client.verify({ ctx: t.ctx('KeyVerify'), ref, algorithm, value: digest, signature: flipped })).valid).toBe(false);
  });

  it('a generated oct key signs and verifies its own HMACs', async () => {
    const { ref } = await create(`oct-gen-${newVersion().slice(0, 6)}`, 'oct', { keySize: 256, keyOps: ['sign', 'verify'] });
    const digest = digestOf('HS256', randomBytes(10));
    const res = await t.client.sign({ ctx: t.ctx('KeySign'), ref, algorithm: 'HS256', value: digest });
    expect(res.result).toHaveLength(32);
    expect((await t.client.verify({ ctx: t.ctx('KeyVerify'), ref, algorithm: 'HS256', value: digest, signature: res.result })).valid).toBe(true);
  });
});
