/**
 * The seam between certificate issuance (the certificates service: policy, pending operation,
 * versions, the managed key and secret) and the authorities that sign certificates.
 *
 * - `Self` is signed by the certificate's own key (the certificates service does it).
 * - `Unknown` is signed outside Keyledger; the pending operation holds the CSR until a merge.
 * - `Keyledger` is the tenant's built-in issuing CA, whose private key lives in the PKCS#11
 *   token: `IssuingAuthority.issue` signs at once and returns the whole chain.
 * - Configured `DigiCert` / `GlobalSign` issuers cannot be reached from a self-hosted vault:
 *   `IssuerDirectory.resolve` says so and creation fails with a clear error.
 */

/** What the policy asks the issuer to certify; the public key is the certificate key's. */
export interface IssuanceRequest {
  readonly tenantId: string;
  readonly vaultName: string;
  readonly certificateName: string;
  /** DER SubjectPublicKeyInfo of the certificate's key. */
  readonly subjectPublicKeyInfo: Uint8Array;
  /** RFC 4514 distinguished name as Azure's policy carries it, e.g. "CN=api.internal, O=Contoso". */
  readonly subject: string;
  readonly subjectAlternativeNames: {
    readonly dnsNames?: readonly string[];
    readonly emails?: readonly string[];
    readonly upns?: readonly string[];
  };
  /** Azure's key usage names: digitalSignature, keyEncipherment, … */
  readonly keyUsage: readonly string[];
  /** Extended key usage OIDs, e.g. 1.3.6.1.5.5.7.3.1. */
  readonly extendedKeyUsage: readonly string[];
  readonly validityInMonths: number;
}

/** DER certificates, leaf first, then the intermediates and the root, in chain order. */
export interface IssuedChain {
  readonly certificates: readonly Uint8Array[];
}

export interface IssuingAuthority {
  /** Issue a certificate for the request, signed inside the token. */
  issue(request: IssuanceRequest): Promise<IssuedChain>;
  /** The tenant's CA certificate (DER), created on first use: the one file to trust. */
  caCertificate(tenantId: string): Promise<Uint8Array>;
}

/** How a policy's `issuer.name` is satisfied. */
export type IssuerResolution =
  | { readonly kind: 'self' }
  | { readonly kind: 'unknown' }
  | { readonly kind: 'keyledger' }
  /** A configured issuer whose provider (DigiCert, GlobalSign, …) cannot be reached here. */
  | { readonly kind: 'unreachable'; readonly provider: string }
  | { readonly kind: 'not-found' };

export interface IssuerDirectory {
  resolve(vaultId: string, issuerName: string): Promise<IssuerResolution>;
  /** The vault's certificate contacts (`/certificates/contacts`), none when unset: whom an EmailContacts action names. */
  contactsOf(vaultId: string): Promise<readonly { readonly email?: string; readonly name?: string; readonly phone?: string }[]>;
}

export const ISSUING_AUTHORITY = Symbol('IssuingAuthority');
export const ISSUER_DIRECTORY = Symbol('IssuerDirectory');
