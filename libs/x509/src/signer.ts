/**
 * The signing half of a certificate or CSR, injected so the private key never has to be here:
 * the vault signs through the crypto service (software or PKCS#11 token), tests through a
 * node:crypto key.
 *
 * `sign(data)` receives the whole to-be-signed DER (TBSCertificate or CertificationRequestInfo),
 * NOT a digest: hashing is the signer's job (the crypto service's sign takes a digest, so its
 * adapter hashes with the algorithm's hash first). It returns the signature as JWS/Azure Key
 * Vault produce it: RSA → the PKCS#1 v1.5 (RS*) or PSS (PS*) signature bytes; EC → the raw
 * `r || s` pair (64 bytes for ES256), which this library converts to the DER `ECDSA-Sig-Value`
 * X.509 needs.
 */
export type SignatureAlgorithm = 'RS256' | 'RS384' | 'RS512' | 'ES256' | 'ES384' | 'ES512';

export interface CertificateSigner {
  readonly algorithm: SignatureAlgorithm;
  sign(data: Uint8Array): Promise<Uint8Array>;
}

export const SIGNATURE_ALGORITHMS: readonly SignatureAlgorithm[] = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512'];

/** The hash an algorithm signs with, as node:crypto names it. */
export function hashOf(algorithm: SignatureAlgorithm): 'sha256' | 'sha384' | 'sha512' {
  return algorithm.endsWith('256') ? 'sha256' : algorithm.endsWith('384') ? 'sha384' : 'sha512';
}

/** WebCrypto's description of the algorithm, as @peculiar/x509 selects the AlgorithmIdentifier from it. */
export function webCryptoAlgorithm(algorithm: SignatureAlgorithm): { name: string; hash: string; namedCurve?: string } {
  const hash = { sha256: 'SHA-256', sha384: 'SHA-384', sha512: 'SHA-512' }[hashOf(algorithm)];
  if (algorithm.startsWith('RS')) return { name: 'RSASSA-PKCS1-v1_5', hash };
  const namedCurve = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' }[algorithm as 'ES256' | 'ES384' | 'ES512'];
  return { name: 'ECDSA', hash, namedCurve };
}

/** The usual algorithm for a key: RS256 for RSA, ES256/384/512 for P-256/P-384/P-521. */
export function defaultAlgorithmFor(key: { readonly kty: 'RSA' | 'EC'; readonly crv?: string | null }): SignatureAlgorithm {
  if (key.kty === 'RSA') return 'RS256';
  switch (key.crv) {
    case 'P-384':
      return 'ES384';
    case 'P-521':
      return 'ES512';
    default:
      return 'ES256';
  }
}
