import { describe, expect, it } from '@jest/globals';
import { constants, createHash, generateKeyPairSync, privateDecrypt, privateEncrypt, publicEncrypt, randomBytes, verify as nodeVerify } from 'node:crypto';
import { oaepDecode, pssEncode, pssVerify } from './rsa-padding.js';

describe('EMSA-PSS over a digest', () => {
  it('handles moduli whose bit length is not a multiple of 8 (emLen < k); Node verifies', () => {
    const seen = new Set<number>();
    for (const requested of [2049, 2050, 2055, 2056]) {
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: requested });
      const bits = privateKey.asymmetricKeyDetails!.modulusLength!; // OpenSSL may return one bit less
      seen.add(bits % 8);
      const message = randomBytes(20);
      const digest = createHash('sha256').update(message).digest();
      const sig = privateEncrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, pssEncode('sha256', digest, bits));
      expect(nodeVerify('sha256', message, { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, sig)).toBe(true);
      const em = privateEncrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, Buffer.alloc(Math.ceil(bits / 8)));
      expect(pssVerify('sha256', digest, em, bits)).toBe(false);
    }
    expect(seen.size).toBeGreaterThan(1);
  });
});

describe('EME-OAEP decoding (fallback for tokens without OAEP-SHA-256)', () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });

  it('decodes what OpenSSL encrypts with OAEP (SHA-1 and SHA-256), for all plaintext lengths', () => {
    for (const hash of ['sha1', 'sha256'] as const) {
      const max = 256 - 2 * (hash === 'sha1' ? 20 : 32) - 2;
      for (const len of [0, 1, 32, max]) {
        const pt = randomBytes(len);
        const ct = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, pt);
        const em = privateDecrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, ct);
        expect(oaepDecode(hash, em, 256)).toEqual(pt);
      }
    }
  });

  it('rejects wrong hash, tampered blocks and random blocks with a single null result', () => {
    const ct = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.from('x'));
    const em = privateDecrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, ct);
    expect(oaepDecode('sha1', em, 256)).toBeNull();
    for (const i of [0, 1, 40, 100, 255]) {
      const bad = Buffer.from(em);
      bad[i]! ^= 0x80;
      expect(oaepDecode('sha256', bad, 256)).toBeNull();
    }
    for (let i = 0; i < 50; i++) expect(oaepDecode('sha256', randomBytes(256), 256)).toBeNull();
    expect(oaepDecode('sha256', em.subarray(1), 256)).toBeNull();
  });
});
