import { describe, expect, it } from '@jest/globals';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { DomainError } from '#libs/kernel';
import { HttpProblem } from './azure-errors.js';
import { attestedWrappingKey, parseReleaseParameters } from './key-release.routes.js';

describe('parseReleaseParameters', () => {
  it('reads target, nonce and enc (default CKM_RSA_AES_KEY_WRAP)', () => {
    expect(parseReleaseParameters({ target: 't' })).toEqual({ target: 't', enc: 'CKM_RSA_AES_KEY_WRAP' });
    expect(parseReleaseParameters({ target: 't', nonce: 'n', enc: 'RSA_AES_KEY_WRAP_256' })).toEqual({ target: 't', nonce: 'n', enc: 'RSA_AES_KEY_WRAP_256' });
  });

  it.each([[undefined], [[]], [{}], [{ target: '' }], [{ target: 3 }], [{ target: 't', enc: 'A256KW' }], [{ target: 't', nonce: 5 }], [{ target: 'x'.repeat(70_000) }]])('refuses %j with BadParameter', (body) => {
    expect(() => parseReleaseParameters(body)).toThrow(DomainError);
  });
});

describe('attestedWrappingKey', () => {
  const tee = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = tee.publicKey.export({ format: 'jwk' });

  it('takes the RSA key of x-ms-runtime.keys (the encryption key preferred) as SPKI DER', () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' });
    const claims = { 'x-ms-runtime': { keys: [{ kty: 'EC', crv: 'P-256' }, { ...other, kid: 'a' }, { ...jwk, kid: 'TpmEphemeralEncryptionKey', key_ops: ['encrypt'] }] } };
    const k = attestedWrappingKey(claims);
    expect(k.kid).toBe('TpmEphemeralEncryptionKey');
    expect(createPublicKey({ key: k.spki, format: 'der', type: 'spki' }).export({ format: 'jwk' })).toEqual(jwk);
  });

  it('refuses a token without a usable RSA key', () => {
    const short = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' });
    for (const claims of [{}, { 'x-ms-runtime': {} }, { 'x-ms-runtime': { keys: [{ kty: 'EC' }] } }, { 'x-ms-runtime': { keys: [{ ...short }] } }, { 'x-ms-runtime': { keys: [{ kty: 'RSA', n: '!!', e: 'AQAB' }] } }]) {
      expect(() => attestedWrappingKey(claims)).toThrow(HttpProblem);
    }
  });
});
