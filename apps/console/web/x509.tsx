// What the console shows of a certificate, read from its public DER (`cer`): subject, issuer,
// SANs, validity, serial. Parsing only; nothing here touches a key or a secret value.
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate, SubjectAlternativeName, id_ce_subjectAltName, type Name } from '@peculiar/asn1-x509';

export type CertificateFacts = { subject: string; issuer: string; sans: string[]; notBefore: Date; notAfter: Date; serial: string; selfIssued: boolean };

const SHORT: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.5': 'serialNumber',
  '1.2.840.113549.1.9.1': 'E',
  '0.9.2342.19200300.100.1.25': 'DC',
};

const hex = (b: ArrayBuffer): string => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, '0')).join('');

export function nameToString(name: Name): string {
  return name.map((rdn) => rdn.map((a) => `${SHORT[a.type] ?? a.type}=${a.value.toString()}`).join('+')).join(', ');
}

export function parseCertificate(cerBase64: string): CertificateFacts {
  const der = Uint8Array.from(atob(cerBase64.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
  const cert = AsnConvert.parse(der, Certificate);
  const tbs = cert.tbsCertificate;
  const sans: string[] = [];
  for (const ext of tbs.extensions ?? []) {
    if (ext.extnID !== id_ce_subjectAltName) continue;
    for (const g of AsnConvert.parse(ext.extnValue, SubjectAlternativeName)) {
      if (g.dNSName) sans.push(`DNS:${g.dNSName}`);
      else if (g.rfc822Name) sans.push(`email:${g.rfc822Name}`);
      else if (g.uniformResourceIdentifier) sans.push(`URI:${g.uniformResourceIdentifier}`);
      else if (g.iPAddress) sans.push(`IP:${g.iPAddress}`);
      else if (g.otherName) sans.push(`otherName:${g.otherName.typeId}`);
    }
  }
  const subject = nameToString(tbs.subject);
  const issuer = nameToString(tbs.issuer);
  return { subject, issuer, sans, notBefore: tbs.validity.notBefore.getTime(), notAfter: tbs.validity.notAfter.getTime(), serial: hex(tbs.serialNumber), selfIssued: subject === issuer };
}

/** The SHA-1 thumbprint as Azure's x5t (base64url) → the hex the portal shows. */
export function thumbprintHex(x5t: string): string {
  const bin = atob(x5t.replace(/-/g, '+').replace(/_/g, '/'));
  return [...bin].map((c) => c.charCodeAt(0).toString(16).padStart(2, '0')).join('').toUpperCase();
}
