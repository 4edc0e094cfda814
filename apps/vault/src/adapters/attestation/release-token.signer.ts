import { createHash, createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';

/**
 * Signs key release tokens (the `value` of a release answer, a JWS as Azure returns it) with the
 * vault's TLS key and names its certificate chain in the header (`x5c`, `x5t#S256`), as Azure's
 * release tokens do: a client checks the chain against the CA it already trusts for the vault
 * (the development CA here) and the signature against the leaf. ES256 for a P-256 key, ES384
 * for P-384, RS256 for RSA.
 */
export class ReleaseTokenSigner {
  private readonly key: KeyObject;
  private readonly alg: 'ES256' | 'ES384' | 'RS256';
  private readonly x5c: string[];
  private readonly thumbprint: string;

  constructor(certPem: Buffer | string, keyPem: Buffer | string) {
    this.key = createPrivateKey(keyPem);
    const curve = this.key.asymmetricKeyDetails?.namedCurve;
    if (this.key.asymmetricKeyType === 'rsa') this.alg = 'RS256';
    else if (this.key.asymmetricKeyType === 'ec' && curve === 'prime256v1') this.alg = 'ES256';
    else if (this.key.asymmetricKeyType === 'ec' && curve === 'secp384r1') this.alg = 'ES384';
    else throw new Error('the vault TLS key cannot sign release tokens (RSA, P-256 or P-384 needed)');
    const pems = String(certPem).match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    if (pems.length === 0) throw new Error('the vault TLS certificate is not PEM');
    this.x5c = pems.map((p) => new X509Certificate(p).raw.toString('base64'));
    this.thumbprint = createHash('sha256').update(Buffer.from(this.x5c[0] ?? '', 'base64')).digest('base64url');
  }

  sign(payload: Record<string, unknown>): Promise<string> {
    return new SignJWT(payload)
      .setProtectedHeader({ alg: this.alg, typ: 'JWT', x5c: this.x5c, 'x5t#S256': this.thumbprint })
      .setIssuedAt()
      .sign(this.key);
  }
}
