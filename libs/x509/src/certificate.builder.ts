import 'reflect-metadata';
import { randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { webCryptoAlgorithm, type CertificateSigner } from './signer.js';
import { X509Error } from './x509.errors.js';

/** Azure's key usage names (the policy's `x509_props.key_usage`). */
export const KEY_USAGE_NAMES = ['digitalSignature', 'nonRepudiation', 'keyEncipherment', 'dataEncipherment', 'keyAgreement', 'keyCertSign', 'cRLSign', 'encipherOnly', 'decipherOnly'] as const;
export type KeyUsageName = (typeof KEY_USAGE_NAMES)[number];

export type SubjectAlternativeNames = {
  readonly dnsNames?: readonly string[];
  readonly emails?: readonly string[];
  readonly upns?: readonly string[];
};

/** What a certificate or a CSR says about its subject. */
export interface SubjectRequest {
  /** DER SubjectPublicKeyInfo of the certified key. */
  readonly subjectPublicKeyInfo: Uint8Array;
  /** RFC 4514 distinguished name as Azure's policy carries it, e.g. "CN=api.internal, O=Contoso". May be empty when SANs are given. */
  readonly subject: string;
  readonly subjectAlternativeNames?: SubjectAlternativeNames;
  readonly keyUsage?: readonly string[];
  /** Extended key usage OIDs, e.g. 1.3.6.1.5.5.7.3.1 (server auth). */
  readonly extendedKeyUsage?: readonly string[];
}

export interface CertificateRequest extends SubjectRequest {
  /** 1..1200. notBefore is now (minus `backdateSeconds`), notAfter that many calendar months later. */
  readonly validityInMonths: number;
  /** Hex, positive; default 16 random bytes. */
  readonly serialNumber?: string;
  /**
   * The issuer: its certificate (DER; its subject becomes this issuer name and its subject key
   * identifier the authority key identifier), or absent for a self-signed certificate.
   */
  readonly issuerCertificate?: Uint8Array;
  /** A CA certificate: basicConstraints CA:TRUE (critical) with this path length (null = none). */
  readonly ca?: { readonly pathLength: number | null };
  /** Default: now. */
  readonly notBefore?: Date;
}

const MAX_MONTHS = 1200;

/**
 * @peculiar/x509 signs through WebCrypto. This shim hands it a "key" whose sign is the injected
 * signer and whose export is the given SPKI; everything else (digests for key identifiers,
 * random serials) is node's WebCrypto.
 */
function shim(spki: Uint8Array, signer: CertificateSigner): { crypto: webcrypto.Crypto; publicKey: webcrypto.CryptoKey; privateKey: webcrypto.CryptoKey; algorithm: ReturnType<typeof webCryptoAlgorithm> } {
  const algorithm = webCryptoAlgorithm(signer.algorithm);
  const keyAlgorithm = algorithm.name === 'ECDSA' ? { name: 'ECDSA', namedCurve: algorithm.namedCurve } : { name: algorithm.name, hash: { name: algorithm.hash } };
  const publicKey = { type: 'public', algorithm: keyAlgorithm, extractable: true, usages: ['verify'] } as unknown as webcrypto.CryptoKey;
  const privateKey = { type: 'private', algorithm: keyAlgorithm, extractable: false, usages: ['sign'] } as unknown as webcrypto.CryptoKey;
  const subtle = webcrypto.subtle;
  const fake = {
    getRandomValues: <T extends ArrayBufferView | null>(a: T): T => webcrypto.getRandomValues(a as unknown as Uint8Array) as unknown as T,
    randomUUID: () => webcrypto.randomUUID(),
    subtle: new Proxy(subtle, {
      get(target, prop, receiver) {
        if (prop === 'sign') {
          return async (_alg: unknown, key: unknown, data: ArrayBuffer | ArrayBufferView) => {
            if (key !== privateKey) throw new X509Error('SignerMismatch', 'unexpected signing key');
            const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
            const sig = await signer.sign(bytes);
            return toArrayBuffer(sig);
          };
        }
        if (prop === 'exportKey') {
          return async (format: string, key: unknown) => {
            if (key === publicKey && format === 'spki') return toArrayBuffer(spki);
            return (subtle.exportKey as (f: string, k: unknown) => Promise<unknown>)(format, key);
          };
        }
        const value: unknown = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    }),
  } as unknown as webcrypto.Crypto;
  return { crypto: fake, publicKey, privateKey, algorithm };
}

const toArrayBuffer = (u: Uint8Array): ArrayBuffer => {
  const out = new ArrayBuffer(u.byteLength);
  new Uint8Array(out).set(u);
  return out;
};

/** Months after `from`, on the same day-of-month clamped to the target month's length. */
export function addMonths(from: Date, months: number): Date {
  const d = new Date(from.getTime());
  const day = d.getUTCDate();
  d.setUTCDate(1);
  d.setUTCMonth(d.getUTCMonth() + months);
  const last = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)).getUTCDate();
  d.setUTCDate(Math.min(day, last));
  return d;
}

/** A positive random serial number (hex, 16 bytes, top bit clear). */
export function randomSerial(): string {
  const b = randomBytes(16);
  b.writeUInt8((b.readUInt8(0) & 0x7f) | 0x01, 0);
  return b.toString('hex');
}

/**
 * RFC 4514 attribute types are case-insensitive and Azure accepts `cn=MyCert` (the recorded
 * SDK sessions send it); @peculiar/x509 knows the upper-case keywords only. A subject that does
 * not parse as written is tried again with its attribute types upper-cased.
 */
function parseName(subject: string): x509.Name {
  try {
    return new x509.Name(subject);
  } catch (err) {
    const upper = subject.replace(/(^|[,+;])(\s*)([A-Za-z][A-Za-z0-9-]*)(\s*=)/g, (_m, sep: string, space: string, type: string, eq: string) => `${sep}${space}${type.toUpperCase()}${eq}`);
    if (upper === subject) throw err;
    return new x509.Name(upper);
  }
}

/** The subject's distinguished name, checked: parseable, and a CN or at least one SAN. */
export function subjectName(subject: string, sans: SubjectAlternativeNames | undefined): x509.Name {
  const hasSan = (sans?.dnsNames?.length ?? 0) + (sans?.emails?.length ?? 0) + (sans?.upns?.length ?? 0) > 0;
  let name: x509.Name;
  try {
    name = parseName(subject.trim());
  } catch {
    throw new X509Error('InvalidSubject', 'The subject is not a valid X.500 distinguished name.');
  }
  if (name.getField('CN').length === 0 && !hasSan) throw new X509Error('InvalidSubject', 'The subject must have a common name (CN) or the certificate subject alternative names.');
  return name;
}

function keyUsageFlags(names: readonly string[]): x509.KeyUsageFlags {
  let flags = 0;
  for (const n of names) {
    if (!(KEY_USAGE_NAMES as readonly string[]).includes(n)) throw new X509Error('InvalidKeyUsage', `Unknown key usage: ${n.slice(0, 40)}`);
    flags |= x509.KeyUsageFlags[n as KeyUsageName];
  }
  return flags as x509.KeyUsageFlags;
}

const OID = /^[0-2](\.(0|[1-9]\d{0,9})){1,20}$/;

function subjectExtensions(req: SubjectRequest): x509.Extension[] {
  const ext: x509.Extension[] = [];
  const sans = req.subjectAlternativeNames;
  const names: x509.JsonGeneralName[] = [
    ...(sans?.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(sans?.emails ?? []).map((value) => ({ type: 'email' as const, value })),
    ...(sans?.upns ?? []).map((value) => ({ type: 'upn' as const, value })),
  ];
  if (names.length > 0) ext.push(new x509.SubjectAlternativeNameExtension(names, false));
  if (req.keyUsage && req.keyUsage.length > 0) ext.push(new x509.KeyUsagesExtension(keyUsageFlags(req.keyUsage), true));
  if (req.extendedKeyUsage && req.extendedKeyUsage.length > 0) {
    for (const o of req.extendedKeyUsage) if (!OID.test(o)) throw new X509Error('InvalidExtendedKeyUsage', `Not an OID: ${o.slice(0, 40)}`);
    ext.push(new x509.ExtendedKeyUsageExtension([...req.extendedKeyUsage], false));
  }
  return ext;
}

/** SHA-1 of the subjectPublicKey BIT STRING (RFC 5280 §4.2.1.2 method 1), hex. */
export async function keyIdentifier(spki: Uint8Array): Promise<string> {
  let key: x509.PublicKey;
  try {
    key = new x509.PublicKey(toArrayBuffer(spki));
  } catch {
    throw new X509Error('InvalidPublicKey', 'The public key is not a SubjectPublicKeyInfo.');
  }
  return Buffer.from(await key.getKeyIdentifier(webcrypto as unknown as Parameters<typeof x509.X509CertificateGenerator.create>[1])).toString('hex');
}

/**
 * Builds and signs an X.509 v3 certificate for `req.subjectPublicKeyInfo`. The signature comes
 * from `signer` (the issuer's key: the subject's own for a self-signed certificate).
 * Extensions: SAN, keyUsage (critical), EKU, subjectKeyIdentifier, authorityKeyIdentifier,
 * basicConstraints (critical) for a CA. Returns the DER.
 */
export async function buildCertificate(req: CertificateRequest, signer: CertificateSigner): Promise<Uint8Array> {
  if (!Number.isInteger(req.validityInMonths) || req.validityInMonths < 1 || req.validityInMonths > MAX_MONTHS) {
    throw new X509Error('InvalidValidity', `validity_months must be between 1 and ${MAX_MONTHS}.`);
  }
  const name = subjectName(req.subject, req.subjectAlternativeNames);
  const s = shim(req.subjectPublicKeyInfo, signer);
  const extensions = subjectExtensions(req);
  const ski = await keyIdentifier(req.subjectPublicKeyInfo);
  extensions.push(new x509.SubjectKeyIdentifierExtension(ski, false));
  let issuer: x509.Name | string = name;
  if (req.issuerCertificate) {
    const ca = new x509.X509Certificate(toArrayBuffer(req.issuerCertificate));
    issuer = ca.subject;
    const caSki = ca.getExtension(x509.SubjectKeyIdentifierExtension);
    extensions.push(new x509.AuthorityKeyIdentifierExtension(caSki ? caSki.keyId : await keyIdentifier(new Uint8Array(ca.publicKey.rawData)), false));
  } else {
    extensions.push(new x509.AuthorityKeyIdentifierExtension(ski, false));
  }
  if (req.ca) extensions.push(new x509.BasicConstraintsExtension(true, req.ca.pathLength ?? undefined, true));
  const notBefore = req.notBefore ?? new Date(Math.floor(Date.now() / 1000) * 1000);
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: req.serialNumber ?? randomSerial(),
      subject: name,
      issuer,
      notBefore,
      notAfter: addMonths(notBefore, req.validityInMonths),
      publicKey: s.publicKey,
      signingKey: s.privateKey,
      signingAlgorithm: s.algorithm,
      extensions,
    } as x509.X509CertificateCreateParams,
    s.crypto as unknown as Parameters<typeof x509.X509CertificateGenerator.create>[1],
  );
  return new Uint8Array(cert.rawData);
}

/** Builds and signs a PKCS#10 certificate signing request (the subject's own key signs). Returns the DER. */
export async function buildCsr(req: SubjectRequest, signer: CertificateSigner): Promise<Uint8Array> {
  const name = subjectName(req.subject, req.subjectAlternativeNames);
  const s = shim(req.subjectPublicKeyInfo, signer);
  const extensions = subjectExtensions(req);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create(
    { name, keys: { publicKey: s.publicKey, privateKey: s.privateKey }, signingAlgorithm: s.algorithm, extensions } as unknown as x509.Pkcs10CertificateRequestCreateParams,
    s.crypto as unknown as Parameters<typeof x509.X509CertificateGenerator.create>[1],
  );
  return new Uint8Array(csr.rawData);
}
