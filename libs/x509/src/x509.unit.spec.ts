import { describe, expect, it } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import { buildCertificate, buildCsr, describeKey, keyMatchesCertificate, leafMatchesCsr, parsePem, parsePkcs12, toPem, toPkcs12, x5t, X509Error } from './index.js';
import { testKey } from './x509.fixtures.js';

const code = async (p: Promise<unknown> | (() => unknown)): Promise<string> => {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    return err instanceof X509Error ? err.code : `other: ${String(err)}`;
  }
  return 'no error';
};

describe('libs/x509', () => {
  for (const kind of ['RSA', 'EC'] as const) {
    it(`builds a self-signed ${kind} certificate through an injected signer`, async () => {
      const k = testKey(kind);
      const der = await buildCertificate(
        {
          subjectPublicKeyInfo: k.spki,
          subject: 'CN=api.internal, O=Contoso',
          subjectAlternativeNames: { dnsNames: ['api.internal'], emails: ['ops@contoso.test'], upns: ['svc@contoso.test'] },
          keyUsage: ['digitalSignature', 'keyEncipherment'],
          extendedKeyUsage: ['1.3.6.1.5.5.7.3.1'],
          validityInMonths: 12,
          serialNumber: '0badc0ffee',
        },
        k.signer,
      );
      const cert = new X509Certificate(Buffer.from(der));
      expect(cert.verify(cert.publicKey)).toBe(true);
      expect(cert.subject).toContain('CN=api.internal');
      expect(cert.issuer).toBe(cert.subject);
      expect(cert.serialNumber.toLowerCase()).toBe('0badc0ffee');
      expect(cert.subjectAltName).toContain('DNS:api.internal');
      expect(cert.subjectAltName).toContain('email:ops@contoso.test');
      expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
      const months = (new Date(cert.validTo).getTime() - new Date(cert.validFrom).getTime()) / 86_400_000;
      expect(months).toBeGreaterThanOrEqual(365);
      expect(months).toBeLessThanOrEqual(366);
      expect(describeKey(cert.publicKey)).toEqual(kind === 'RSA' ? { kty: 'RSA', keySize: 2048 } : { kty: 'EC', crv: 'P-256' });
      expect(x5t(der)).toBe(Buffer.from(cert.fingerprint.replace(/:/g, ''), 'hex').toString('base64url'));
    });

    it(`round-trips ${kind} key + chain through PKCS#12 and PEM`, async () => {
      const ca = testKey('RSA');
      const caDer = await buildCertificate({ subjectPublicKeyInfo: ca.spki, subject: 'CN=Test CA', validityInMonths: 12, ca: { pathLength: 0 }, keyUsage: ['keyCertSign', 'cRLSign'] }, ca.signer);
      const k = testKey(kind);
      const leaf = await buildCertificate({ subjectPublicKeyInfo: k.spki, subject: 'CN=leaf', validityInMonths: 1, issuerCertificate: caDer }, ca.signer);
      expect(new X509Certificate(Buffer.from(leaf)).verify(new X509Certificate(Buffer.from(caDer)).publicKey)).toBe(true);
      // the chain given root first comes back leaf first
      const p12 = toPkcs12({ privateKey: k.pkcs8, chain: [caDer, leaf] }, 'pw');
      const back = parsePkcs12(p12, 'pw');
      expect(Buffer.from(back.privateKey!).equals(Buffer.from(k.pkcs8))).toBe(true);
      expect(back.chain.map((c) => x5t(c))).toEqual([x5t(leaf), x5t(caDer)]);
      // …and keeps the order it was given beside it (preserveCertOrder); the key still pairs with its certificate
      expect(back.given!.map((c) => x5t(c))).toEqual([x5t(caDer), x5t(leaf)]);
      expect(parsePem(toPem({ privateKey: k.pkcs8, chain: [caDer, leaf] })).given!.map((c) => x5t(c))).toEqual([x5t(caDer), x5t(leaf)]);
      const nopw = parsePkcs12(toPkcs12({ privateKey: k.pkcs8, chain: [leaf, caDer] }));
      expect(keyMatchesCertificate(nopw.privateKey!, nopw.chain[0]!)).toBe(true);
      const pem = parsePem(toPem({ privateKey: k.pkcs8, chain: [leaf, caDer] }));
      expect(pem.chain.map((c) => x5t(c))).toEqual([x5t(leaf), x5t(caDer)]);
      expect(Buffer.from(pem.privateKey!).equals(Buffer.from(k.pkcs8))).toBe(true);
    });

    it(`builds a ${kind} CSR whose key a chain is checked against`, async () => {
      const k = testKey(kind);
      const csr = await buildCsr({ subjectPublicKeyInfo: k.spki, subject: 'CN=pending', subjectAlternativeNames: { dnsNames: ['pending.internal'] } }, k.signer);
      const self = await buildCertificate({ subjectPublicKeyInfo: k.spki, subject: 'CN=pending', validityInMonths: 1 }, k.signer);
      const other = testKey(kind);
      const foreign = await buildCertificate({ subjectPublicKeyInfo: other.spki, subject: 'CN=pending', validityInMonths: 1 }, other.signer);
      expect(leafMatchesCsr([self], csr)).toBe(true);
      expect(leafMatchesCsr([foreign], csr)).toBe(false);
    });
  }

  it('refuses bad requests and bad material with stable codes', async () => {
    const k = testKey('EC');
    const base = { subjectPublicKeyInfo: k.spki, subject: 'CN=x', validityInMonths: 12 };
    expect(await code(buildCertificate({ ...base, validityInMonths: 0 }, k.signer))).toBe('InvalidValidity');
    expect(await code(buildCertificate({ ...base, validityInMonths: 1201 }, k.signer))).toBe('InvalidValidity');
    expect(await code(buildCertificate({ ...base, subject: 'O=NoCommonName' }, k.signer))).toBe('InvalidSubject');
    expect(await code(buildCertificate({ ...base, subject: 'O=Only', subjectAlternativeNames: { dnsNames: ['a.internal'] } }, k.signer))).toBe('no error');
    expect(await code(buildCertificate({ ...base, keyUsage: ['bogus'] }, k.signer))).toBe('InvalidKeyUsage');
    expect(await code(buildCertificate({ ...base, subjectPublicKeyInfo: new Uint8Array([1, 2, 3]) }, k.signer))).toBe('InvalidPublicKey');
    const leaf = await buildCertificate(base, k.signer);
    const p12 = toPkcs12({ privateKey: k.pkcs8, chain: [leaf] }, 'right');
    expect(await code(() => parsePkcs12(p12, 'wrong'))).toBe('WrongPassword');
    expect(await code(() => parsePkcs12(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x03])))).toBe('InvalidPkcs12');
    expect(await code(() => parsePkcs12(new Uint8Array([1, 2, 3])))).toBe('InvalidPkcs12');
    expect(await code(() => parsePem('no pem here'))).toBe('InvalidPem');
    expect(parsePem(toPem({ privateKey: null, chain: [leaf] })).privateKey).toBeNull();
    const stranger = testKey('EC');
    expect(await code(() => parsePem(toPem({ privateKey: stranger.pkcs8, chain: [leaf] })))).toBe('KeyMismatch');
  });
});
