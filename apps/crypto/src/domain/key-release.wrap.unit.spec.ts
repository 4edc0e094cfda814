import { describe, expect, it } from '@jest/globals';
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { RELEASE_ENCRYPTIONS, releaseMaterialOf, unwrapRelease, wrapForRelease } from './key-release.wrap.js';

const tee = generateKeyPairSync('rsa', { modulusLength: 2048 });

describe('key release wrapping (CKM_RSA_AES_KEY_WRAP family)', () => {
  it.each(RELEASE_ENCRYPTIONS)('round-trips an RSA private key as PKCS#8 with %s', (enc) => {
    const released = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = released.privateKey.export({ format: 'jwk' });
    const material = releaseMaterialOf({ ...jwk, kty: 'RSA' });
    const blob = wrapForRelease(material, tee.publicKey, enc);
    // RSA-OAEP block of the 2048-bit target, then the AES-KWP ciphertext (8 bytes longer than the padded material).
    expect(blob.subarray(0, 256).length).toBe(256);
    expect(blob.length).toBe(256 + Math.ceil(material.length / 8) * 8 + 8);
    expect(blob.includes(material)).toBe(false);
    const opened = unwrapRelease(blob, tee.privateKey, enc);
    const recovered = createPrivateKey({ key: opened, format: 'der', type: 'pkcs8' });
    expect(createPublicKey(recovered).export({ format: 'jwk' })).toEqual(released.publicKey.export({ format: 'jwk' }));
  });

  it('round-trips an EC private key and raw oct bytes', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const material = releaseMaterialOf({ ...ec.privateKey.export({ format: 'jwk' }), kty: 'EC' });
    const recovered = createPrivateKey({ key: unwrapRelease(wrapForRelease(material, tee.publicKey, 'RSA_AES_KEY_WRAP_256'), tee.privateKey, 'RSA_AES_KEY_WRAP_256'), format: 'der', type: 'pkcs8' });
    expect(createPublicKey(recovered).export({ format: 'jwk' })).toEqual(ec.publicKey.export({ format: 'jwk' }));

    const raw = randomBytes(32);
    const oct = releaseMaterialOf({ kty: 'oct', k: raw.toString('base64url') });
    expect(unwrapRelease(wrapForRelease(oct, tee.publicKey, 'CKM_RSA_AES_KEY_WRAP'), tee.privateKey, 'CKM_RSA_AES_KEY_WRAP').equals(raw)).toBe(true);
  });

  it('does not open with the wrong OAEP hash or the wrong private key', () => {
    const raw = randomBytes(32);
    const blob = wrapForRelease(raw, tee.publicKey, 'RSA_AES_KEY_WRAP_256');
    expect(() => unwrapRelease(blob, tee.privateKey, 'CKM_RSA_AES_KEY_WRAP')).toThrow();
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    expect(() => unwrapRelease(blob, other.privateKey, 'RSA_AES_KEY_WRAP_256')).toThrow();
  });

  it('refuses a non-RSA target', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect(() => wrapForRelease(randomBytes(16), ec.publicKey, 'CKM_RSA_AES_KEY_WRAP')).toThrow('RSA public key');
  });
});
