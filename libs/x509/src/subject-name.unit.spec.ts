import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { buildCertificate, X509Error } from './index.js';
import { testKey } from './x509.fixtures.js';

describe('libs/x509 subject names', () => {
  it('accepts lower-case attribute types as Azure does (cn=MyCert, as the recorded SDK sessions send it)', async () => {
    const k = testKey('EC');
    for (const [subject, expected] of [
      ['cn=MyCert', 'CN=MyCert'],
      ['cn=api.internal, o=Contoso, ou=Platform', 'CN=api.internal\nO=Contoso\nOU=Platform'],
      ['CN=Upper, O=Already', 'CN=Upper\nO=Already'],
    ] as const) {
      const der = await buildCertificate({ subjectPublicKeyInfo: k.spki, subject, validityInMonths: 1 }, k.signer);
      expect(new X509Certificate(Buffer.from(der)).subject).toBe(expected);
    }
  });

  it('still refuses what is not a distinguished name', async () => {
    const k = testKey('EC');
    await expect(buildCertificate({ subjectPublicKeyInfo: k.spki, subject: 'not a name', validityInMonths: 1 }, k.signer)).rejects.toBeInstanceOf(X509Error);
  });
});
