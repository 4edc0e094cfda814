import { createHash, createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { X509Error } from './x509.errors.js';

/**
 * Certificate material in and out: PEM and PKCS#12 (node-forge, PKCS#12 only) into a private
 * key (PKCS#8 DER) and a chain (DER, leaf first); the reverse for a certificate's managed secret.
 * Key material passes through as bytes and is never put in an error message.
 */
export interface CertificateMaterial {
  /** PKCS#8 DER, or null when the input held no private key. */
  readonly privateKey: Uint8Array | null;
  /** DER, leaf first (the certificate of `privateKey` when there is one). */
  readonly chain: readonly Uint8Array[];
  /** The same certificates in the order the input held them (set by the parsers; Azure's `preserveCertOrder`). */
  readonly given?: readonly Uint8Array[];
}

/** What a public key is, in Azure's words. */
export type KeyDescription = { readonly kty: 'RSA'; readonly keySize: number } | { readonly kty: 'EC'; readonly crv: 'P-256' | 'P-256K' | 'P-384' | 'P-521' };

const CURVES: Record<string, 'P-256' | 'P-256K' | 'P-384' | 'P-521'> = { prime256v1: 'P-256', secp256k1: 'P-256K', secp384r1: 'P-384', secp521r1: 'P-521' };

/** RSA modulus size or EC curve of a key (public or private). */
export function describeKey(key: KeyObject): KeyDescription {
  const d = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'rsa' && d?.modulusLength) return { kty: 'RSA', keySize: d.modulusLength };
  const crv = d?.namedCurve !== undefined ? CURVES[d.namedCurve] : undefined;
  if (key.asymmetricKeyType === 'ec' && crv !== undefined) return { kty: 'EC', crv };
  throw new X509Error('UnsupportedKey', 'Only RSA keys and EC keys on P-256, P-256K, P-384 and P-521 are supported.');
}

/** DER SubjectPublicKeyInfo of a certificate. */
export function certificatePublicKey(der: Uint8Array): Uint8Array {
  return new Uint8Array(parseCertificate(der).publicKey.export({ format: 'der', type: 'spki' }));
}

export function parseCertificate(der: Uint8Array): X509Certificate {
  try {
    return new X509Certificate(Buffer.from(der));
  } catch {
    throw new X509Error('InvalidCertificate', 'The certificate is not a valid X.509 certificate.');
  }
}

/** Azure's x5t: the SHA-1 thumbprint of the DER, base64url. */
export function x5t(der: Uint8Array): string {
  return createHash('sha1').update(der).digest('base64url');
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && Buffer.from(a).equals(Buffer.from(b));

/** Does the private key (PKCS#8 DER) belong to the certificate? */
export function keyMatchesCertificate(privateKey: Uint8Array, certificate: Uint8Array): boolean {
  const pub = createPublicKey(createPrivateKey({ key: Buffer.from(privateKey), format: 'der', type: 'pkcs8' })).export({ format: 'der', type: 'spki' });
  return sameBytes(new Uint8Array(pub), certificatePublicKey(certificate));
}

/** Does the chain's leaf (the first certificate) certify the same public key as the CSR (DER)? */
export function leafMatchesCsr(chain: readonly Uint8Array[], csrDer: Uint8Array): boolean {
  const leaf = chain[0];
  if (leaf === undefined) return false;
  return sameBytes(certificatePublicKey(leaf), csrPublicKey(csrDer));
}

/** DER SubjectPublicKeyInfo of a PKCS#10 request. */
export function csrPublicKey(csrDer: Uint8Array): Uint8Array {
  try {
    const asn = forge.asn1.fromDer(forge.util.createBuffer(Buffer.from(csrDer).toString('binary')));
    // CertificationRequest ::= SEQUENCE { certificationRequestInfo SEQUENCE { version, subject, subjectPKInfo, attributes }, ... }
    const info = (asn.value as forge.asn1.Asn1[])[0];
    const spki = info ? (info.value as forge.asn1.Asn1[])[2] : undefined;
    if (!spki) throw new Error('no subjectPKInfo');
    return new Uint8Array(Buffer.from(forge.asn1.toDer(spki).getBytes(), 'binary'));
  } catch {
    throw new X509Error('InvalidCertificate', 'The certificate signing request is not valid.');
  }
}

/** Puts the certificate of `privateKey` first; the others keep their order. */
function leafFirst(privateKey: Uint8Array | null, certs: readonly Uint8Array[]): Uint8Array[] {
  if (privateKey === null) return [...certs];
  const leaf = certs.find((c) => keyMatchesCertificate(privateKey, c));
  if (leaf === undefined) throw new X509Error('KeyMismatch', 'The private key does not match any certificate in the chain.');
  return [leaf, ...certs.filter((c) => c !== leaf)];
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n:,\- ]+?)-----END \1-----/g;

/**
 * PEM: certificates (`CERTIFICATE`) and at most one private key (`PRIVATE KEY`, `RSA PRIVATE
 * KEY`, `EC PRIVATE KEY`, or `ENCRYPTED PRIVATE KEY` with `password`).
 */
export function parsePem(text: string, password?: string): CertificateMaterial {
  const certs: Uint8Array[] = [];
  let privateKey: Uint8Array | null = null;
  for (const m of text.matchAll(PEM_BLOCK)) {
    const label = m[1] ?? '';
    if (label === 'CERTIFICATE') {
      const der = new Uint8Array(Buffer.from((m[2] ?? '').replace(/\s+/g, ''), 'base64'));
      parseCertificate(der);
      certs.push(der);
    } else if (/PRIVATE KEY$/.test(label)) {
      if (privateKey !== null) throw new X509Error('InvalidPem', 'The PEM holds more than one private key.');
      try {
        const key = createPrivateKey({ key: m[0], format: 'pem', ...(password ? { passphrase: password } : {}) });
        privateKey = new Uint8Array(key.export({ format: 'der', type: 'pkcs8' }));
      } catch {
        throw new X509Error(label.startsWith('ENCRYPTED') ? 'WrongPassword' : 'InvalidPem', 'The private key in the PEM cannot be read.');
      }
    }
  }
  if (certs.length === 0) throw new X509Error('InvalidPem', 'The PEM holds no certificate.');
  return { privateKey, chain: leafFirst(privateKey, certs), given: certs };
}

const pem = (label: string, der: Uint8Array): string => `-----BEGIN ${label}-----\n${Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END ${label}-----\n`;

/** PEM text: the private key (PKCS#8) when given, then the chain, leaf first — the shape of Azure's PEM secrets. */
export function toPem(material: CertificateMaterial): string {
  return (material.privateKey ? pem('PRIVATE KEY', material.privateKey) : '') + material.chain.map((c) => pem('CERTIFICATE', c)).join('');
}

/** A certificate as PEM. */
export const certificatePem = (der: Uint8Array): string => pem('CERTIFICATE', der);
/** A CSR as PEM (Azure's pending `csr` is the base64 DER without the armour). */
export const csrPem = (der: Uint8Array): string => pem('CERTIFICATE REQUEST', der);

const binary = (u: Uint8Array): string => Buffer.from(u).toString('binary');
const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'binary'));

/** PKCS#12 (DER) with an optional password into key + chain. Refuses malformed input and a wrong password distinctly. */
export function parsePkcs12(der: Uint8Array, password = ''): CertificateMaterial {
  let p12: forge.pkcs12.Pkcs12Pfx;
  let asn: forge.asn1.Asn1;
  try {
    asn = forge.asn1.fromDer(forge.util.createBuffer(binary(der)));
  } catch {
    throw new X509Error('InvalidPkcs12', 'The PKCS#12 content is not valid.');
  }
  // An empty password also tries "no password" (a different MAC key in PKCS#12), as OpenSSL does.
  const open = (pw: string | null): forge.pkcs12.Pkcs12Pfx => forge.pkcs12.pkcs12FromAsn1(asn, false, pw as string);
  try {
    try {
      p12 = open(password);
    } catch (first) {
      if (password !== '') throw first;
      p12 = open(null);
    }
  } catch (err) {
    const msg = err instanceof Error ? err.message : '';
    if (/password|MAC|decrypt/i.test(msg)) throw new X509Error('WrongPassword', 'The PKCS#12 password is not correct.');
    throw new X509Error('InvalidPkcs12', 'The PKCS#12 content is not valid.');
  }
  const certs: Uint8Array[] = [];
  let privateKey: Uint8Array | null = null;
  for (const sc of p12.safeContents) {
    for (const bag of sc.safeBags) {
      if (bag.type === forge.pki.oids.certBag) {
        const certAsn = bag.cert ? forge.pki.certificateToAsn1(bag.cert) : (bag as { asn1?: forge.asn1.Asn1 }).asn1;
        if (certAsn) certs.push(bytes(forge.asn1.toDer(certAsn).getBytes()));
      } else if (bag.type === forge.pki.oids.pkcs8ShroudedKeyBag || bag.type === forge.pki.oids.keyBag) {
        if (privateKey !== null) throw new X509Error('InvalidPkcs12', 'The PKCS#12 holds more than one private key.');
        const keyAsn = bag.key ? forge.pki.wrapRsaPrivateKey(forge.pki.privateKeyToAsn1(bag.key)) : (bag as { asn1?: forge.asn1.Asn1 }).asn1;
        if (!keyAsn) throw new X509Error('InvalidPkcs12', 'The PKCS#12 private key cannot be read.');
        privateKey = normalizePkcs8(bytes(forge.asn1.toDer(keyAsn).getBytes()));
      }
    }
  }
  if (certs.length === 0) throw new X509Error('InvalidPkcs12', 'The PKCS#12 holds no certificate.');
  for (const c of certs) parseCertificate(c);
  return { privateKey, chain: leafFirst(privateKey, certs), given: certs };
}

function normalizePkcs8(der: Uint8Array): Uint8Array {
  try {
    return new Uint8Array(createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' }).export({ format: 'der', type: 'pkcs8' }));
  } catch {
    throw new X509Error('InvalidPkcs12', 'The PKCS#12 private key cannot be read.');
  }
}

/**
 * PKCS#12 (DER) of the chain and, when given, the private key — the shape of Azure's managed
 * secret (`application/x-pkcs12`, no password unless one is given). The key bag is built from
 * the PKCS#8 as it is, so RSA and EC keys both work (node-forge's own builder knows only RSA).
 */
export function toPkcs12(material: CertificateMaterial, password: string | null = null): Uint8Array {
  // forge's builder converts its key and certificates to ASN.1 through these three functions;
  // stand-ins map back to the original DER, so RSA and EC material both pass unchanged (forge
  // models only RSA, and re-encoding would alter the certificates).
  const originals = new Map<object, forge.asn1.Asn1>();
  const standIn = (der: Uint8Array): object => {
    const o = {};
    originals.set(o, forge.asn1.fromDer(forge.util.createBuffer(binary(der))));
    return o;
  };
  const key = material.privateKey ? standIn(material.privateKey) : null;
  const certs = material.chain.map(standIn);
  const pki = forge.pki as unknown as Record<'privateKeyToAsn1' | 'wrapRsaPrivateKey' | 'certificateToAsn1', (k: unknown) => unknown>;
  const saved = { privateKeyToAsn1: pki.privateKeyToAsn1, wrapRsaPrivateKey: pki.wrapRsaPrivateKey, certificateToAsn1: pki.certificateToAsn1 };
  const asn1Values = new Set<unknown>(originals.values());
  pki.privateKeyToAsn1 = (k) => originals.get(k as object) ?? saved.privateKeyToAsn1(k);
  pki.certificateToAsn1 = (c) => originals.get(c as object) ?? saved.certificateToAsn1(c);
  pki.wrapRsaPrivateKey = (k) => (asn1Values.has(k) ? k : saved.wrapRsaPrivateKey(k));
  try {
    const pfx = forge.pkcs12.toPkcs12Asn1(key as forge.pki.rsa.PrivateKey | null, certs as unknown as forge.pki.Certificate[], password, {
      algorithm: '3des',
      // forge pairs the key with the first certificate (localKeyId); a chain kept in its given
      // order (preserveCertOrder) may start elsewhere: then no localKeyId, and readers pair the
      // key with its certificate by public key (OpenSSL, .NET and parsePkcs12 here do).
      generateLocalKeyId: key !== null && material.privateKey !== null && material.chain[0] !== undefined && keyMatchesCertificate(material.privateKey, material.chain[0]),
    });
    return bytes(forge.asn1.toDer(pfx).getBytes());
  } finally {
    pki.privateKeyToAsn1 = saved.privateKeyToAsn1;
    pki.wrapRsaPrivateKey = saved.wrapRsaPrivateKey;
    pki.certificateToAsn1 = saved.certificateToAsn1;
  }
}
