import { createHash, createPublicKey } from 'node:crypto';
import type { CryptoClient, ObjectRef } from '#libs/crypto-client';
import { defaultAlgorithmFor, hashOf, type CertificateSigner } from '#libs/x509';
import type { PublicJwk } from '../keys/keys.service.js';
import { callContextOf, type Caller } from '../access/caller.js';

const NODE_CURVES: Readonly<Record<string, string>> = { 'P-256': 'P-256', 'P-384': 'P-384', 'P-521': 'P-521', 'P-256K': 'secp256k1' };

/** DER SubjectPublicKeyInfo of a key version's public JWK (as the keys service answers it). */
export function spkiOf(kty: string, jwk: PublicJwk): Uint8Array {
  const key = kty.startsWith('RSA') ? { kty: 'RSA', n: jwk.n!, e: jwk.e! } : { kty: 'EC', crv: NODE_CURVES[jwk.crv ?? ''] ?? jwk.crv!, x: jwk.x!, y: jwk.y! };
  return new Uint8Array(createPublicKey({ key, format: 'jwk' }).export({ format: 'der', type: 'spki' }));
}

/**
 * A signer over a key version in the crypto service: the to-be-signed bytes are hashed here and
 * the digest signed there (RS256 / ES256…: the crypto service answers raw r‖s for EC, which
 * libs/x509 converts). The private key never leaves the crypto service.
 */
export function cryptoSigner(crypto: CryptoClient, ref: ObjectRef, key: { kty: string; crv: string | null }, caller: Caller): CertificateSigner {
  const algorithm = defaultAlgorithmFor({ kty: key.kty.startsWith('RSA') ? 'RSA' : 'EC', crv: key.crv });
  return {
    algorithm,
    sign: async (data) => {
      const digest = createHash(hashOf(algorithm)).update(data).digest();
      const r = await crypto.sign({ ctx: callContextOf(caller), ref, algorithm, value: digest });
      return new Uint8Array(r.result);
    },
  };
}
