import { describe, expect, it } from '@jest/globals';
import { constants, createHash, createPrivateKey, createPublicKey, createSecretKey, publicEncrypt, randomBytes, verify as nodeVerify } from 'node:crypto';
import { byokKidMatches, createByokTransferBlob, parseByokBlob, softwareKeyExchangeKey, unwrapByokBlob } from './byok.js';
import { keyWrapPad } from './aes-modes.js';
import { DomainError } from './crypto.errors.js';
import { generateSoftwareKey, loadSoftwareKey, type RsaPublicJwk } from './software-key.js';

async function codeOf(fn: () => unknown): Promise<{ code: string; reason: unknown }> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof DomainError) return { code: e.code, reason: e.details['reason'] };
    throw e;
  }
  throw new Error('expected a DomainError, nothing was thrown');
}

const KID = 'https://contoso.vault.example/keys/KEKforBYOK/664f5aa2797a4075b8e36ca4500636d8';

describe('BYOK transfer blob (CKM_RSA_AES_KEY_WRAP)', () => {
  it('imports an RSA target: blob built per the spec by hand (RSA-OAEP-SHA1 AES key || AES-KWP PKCS#8)', async () => {
    const kekJwk = await generateSoftwareKey({ kty: 'RSA', size: 3072 });
    const kek = loadSoftwareKey(kekJwk);
    const targetJwk = await generateSoftwareKey({ kty: 'RSA', size: 2048 });

    // Built independently of createByokTransferBlob, following the specification step by step.
    const pkcs8 = createPrivateKey({ key: { ...targetJwk }, format: 'jwk' }).export({ format: 'der', type: 'pkcs8' });
    const aesKey = randomBytes(32);
    const kekPub = createPublicKey({ key: { ...kek.publicJwk() }, format: 'jwk' });
    const part1 = publicEncrypt({ key: kekPub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, aesKey);
    const part2 = keyWrapPad(createSecretKey(aesKey), 256, pkcs8);
    const blobJson = JSON.stringify({
      schema_version: '1.0.0',
      header: { kid: KID, alg: 'dir', enc: 'CKM_RSA_AES_KEY_WRAP' },
      ciphertext: Buffer.concat([part1, part2]).toString('base64url'),
      generator: 'hand-built test; no HSM',
    });

    const parsed = parseByokBlob(Buffer.from(blobJson));
    expect(parsed.kid).toBe(KID);
    const imported = await unwrapByokBlob(parsed, softwareKeyExchangeKey(kek), 'RSA');
    expect(imported).toEqual(targetJwk);

    // The imported key signs verifiably with the original public key.
    const digest = createHash('sha256').update('hello').digest();
    const sig = loadSoftwareKey(imported).sign('RS256', digest);
    expect(nodeVerify('sha256', Buffer.from('hello'), createPublicKey({ key: { ...targetJwk }, format: 'jwk' }), sig)).toBe(true);
  });

  it('round-trips EC (including P-256K) and oct targets', async () => {
    const kek = loadSoftwareKey(await generateSoftwareKey({ kty: 'RSA', size: 2048 }));
    for (const crv of ['P-256', 'P-256K', 'P-384', 'P-521'] as const) {
      const target = await generateSoftwareKey({ kty: 'EC', crv });
      const blob = createByokTransferBlob(target, kek.publicJwk() as RsaPublicJwk, KID);
      expect(await unwrapByokBlob(parseByokBlob(blob), softwareKeyExchangeKey(kek), 'EC')).toEqual(target);
    }
    const oct = await generateSoftwareKey({ kty: 'oct', size: 256 });
    const blob = createByokTransferBlob(oct, kek.publicJwk() as RsaPublicJwk, KID);
    expect(await unwrapByokBlob(parseByokBlob(blob.toString('utf8')), softwareKeyExchangeKey(kek), 'oct')).toEqual(oct);
  });

  it('fails closed: wrong KEK, tampered ciphertext, wrong declared type, malformed blobs', async () => {
    const kek = loadSoftwareKey(await generateSoftwareKey({ kty: 'RSA', size: 2048 }));
    const otherKek = loadSoftwareKey(await generateSoftwareKey({ kty: 'RSA', size: 2048 }));
    const target = await generateSoftwareKey({ kty: 'EC', crv: 'P-256' });
    const blob = parseByokBlob(createByokTransferBlob(target, kek.publicJwk() as RsaPublicJwk, KID));

    expect((await codeOf(() => unwrapByokBlob(blob, softwareKeyExchangeKey(otherKek), 'EC'))).code).toBe('CiphertextInvalid');
    const tampered = Buffer.from(blob.ciphertext);
    tampered[tampered.length - 3]! ^= 1;
    expect((await codeOf(() => unwrapByokBlob({ ...blob, ciphertext: tampered }, softwareKeyExchangeKey(kek), 'EC'))).code).toBe('CiphertextInvalid');
    expect((await codeOf(() => unwrapByokBlob({ ...blob, ciphertext: blob.ciphertext.subarray(0, 100) }, softwareKeyExchangeKey(kek), 'EC'))).code).toBe('CiphertextInvalid');
    expect(await codeOf(() => unwrapByokBlob(blob, softwareKeyExchangeKey(kek), 'RSA'))).toEqual({ code: 'BadParameter', reason: 'MalformedByok' });

    const good = JSON.parse(createByokTransferBlob(target, kek.publicJwk() as RsaPublicJwk, KID).toString()) as Record<string, unknown>;
    expect((await codeOf(() => parseByokBlob('not json'))).reason).toBe('MalformedByok');
    expect((await codeOf(() => parseByokBlob({ ...good, schema_version: '2.0.0' }))).reason).toBe('MalformedByok');
    expect((await codeOf(() => parseByokBlob({ ...good, header: { kid: KID, alg: 'RSA-OAEP', enc: 'CKM_RSA_AES_KEY_WRAP' } }))).reason).toBe('MalformedByok');
    expect((await codeOf(() => parseByokBlob({ ...good, header: { kid: KID, alg: 'dir', enc: 'A256GCM' } }))).reason).toBe('MalformedByok');
    expect((await codeOf(() => parseByokBlob({ ...good, ciphertext: '***' }))).reason).toBe('Encoding');
  });

  it('matches the blob kid against the KEK id by /keys/{name}/{version}, ignoring the host', () => {
    expect(byokKidMatches(KID, 'https://localhost:8443/keys/kekforbyok/664f5aa2797a4075b8e36ca4500636d8')).toBe(true);
    expect(byokKidMatches(KID, 'https://localhost:8443/keys/kekforbyok/0000')).toBe(false);
    expect(byokKidMatches(KID, 'https://localhost:8443/keys/other/664f5aa2797a4075b8e36ca4500636d8')).toBe(false);
    expect(byokKidMatches('garbage', 'garbage')).toBe(false);
  });
});
