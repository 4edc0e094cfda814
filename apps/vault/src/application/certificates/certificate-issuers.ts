import type { IssuerDirectory, IssuerResolution } from './issuing-authority.port.js';

/**
 * The default issuer directory: the two issuers every vault has without configuration —
 * `Self` (signed by the certificate's own key) and `Unknown` (signed outside, completed by a
 * merge). Every other name is not found. The issuers feature replaces this directory (bound to
 * ISSUER_DIRECTORY) with one that also knows `Keyledger` and the vault's configured issuers.
 */
export class BuiltInIssuerDirectory implements IssuerDirectory {
  async resolve(_vaultId: string, issuerName: string): Promise<IssuerResolution> {
    switch (issuerName.toLowerCase()) {
      case 'self':
        return { kind: 'self' };
      case 'unknown':
        return { kind: 'unknown' };
      default:
        return { kind: 'not-found' };
    }
  }

  async contactsOf(): Promise<readonly []> {
    return [];
  }
}
