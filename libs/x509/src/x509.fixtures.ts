import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import type { CertificateSigner, SignatureAlgorithm } from './signer.js';
import { hashOf } from './signer.js';

/** A node:crypto key pair and a signer over it, as the crypto service would sign (raw r||s for EC). Test-only. */
export function testKey(kind: 'RSA' | 'EC'): { privateKey: KeyObject; spki: Uint8Array; pkcs8: Uint8Array; signer: CertificateSigner } {
  const pair = kind === 'RSA' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const algorithm: SignatureAlgorithm = kind === 'RSA' ? 'RS256' : 'ES256';
  return {
    privateKey: pair.privateKey,
    spki: new Uint8Array(pair.publicKey.export({ format: 'der', type: 'spki' })),
    pkcs8: new Uint8Array(pair.privateKey.export({ format: 'der', type: 'pkcs8' })),
    signer: {
      algorithm,
      sign: async (data) => new Uint8Array(sign(hashOf(algorithm), data, kind === 'EC' ? { key: pair.privateKey, dsaEncoding: 'ieee-p1363' } : pair.privateKey)),
    },
  };
}
