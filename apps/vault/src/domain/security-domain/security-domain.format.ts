import { constants, createHash, createHmac, createPublicKey, publicEncrypt, timingSafeEqual, X509Certificate, type KeyObject } from 'node:crypto';
import { DomainError } from '#libs/kernel';
import { badParameter } from '../vault.errors.js';
import { SecurityDomainErrorCode } from './security-domain.decider.js';

/**
 * The security domain's wire formats. Azure's envelope is reproduced (the download request
 * `{certificates: [JWK with x5c…], required}`, the answer `{value: <string>}`, the transfer key
 * `{key_format: "jwk", transfer_key: JWK}`, the upload `{value: <string>}`); the string inside
 * `value` is Keyledger's own JSON, not Azure's blob (see docs/decisions): the domain key split
 * by Shamir over GF(256), each share encrypted with RSA-OAEP-256 to one certificate's key, and a
 * commitment (HMAC-SHA256 of the domain id under the domain key) that tells a right
 * reconstruction from a wrong one.
 */
export const SECURITY_DOMAIN_KIND = 'keyledger.managedhsm.securitydomain';
export const SECURITY_DOMAIN_UPLOAD_KIND = 'keyledger.managedhsm.securitydomain.upload';
export const SHARE_ALG = 'RSA-OAEP-256';
export const MIN_CERTIFICATES = 3;
export const MAX_CERTIFICATES = 10;
export const DOMAIN_KEY_BYTES = 32;

/** One certificate the caller gave: its RSA public key and the thumbprint the share names. */
export type ShareRecipient = { readonly kid: string; readonly x5tS256: string; readonly key: KeyObject };

export type SecurityDomainShare = { readonly index: number; readonly kid: string; readonly 'x5t#S256': string; readonly alg: typeof SHARE_ALG; readonly enc: string };
export type SecurityDomainDocument = {
  readonly kind: typeof SECURITY_DOMAIN_KIND;
  readonly version: 1;
  readonly pool: string;
  readonly domainId: string;
  readonly required: number;
  readonly check: string;
  readonly shares: readonly SecurityDomainShare[];
};

const B64URL = /^[A-Za-z0-9_-]+={0,2}$/;
const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const b64url = (x: unknown, what: string, max = 16_384): Buffer => {
  if (typeof x !== 'string' || x.length === 0 || x.length > max || !B64URL.test(x)) throw badParameter(`${what} must be a base64url string.`);
  return Buffer.from(x, 'base64url');
};

/** The commitment to a domain key: HMAC-SHA256(domain key, "keyledger/securitydomain/check/v1|" + domain id), base64url. */
export function domainCheck(domainKey: Buffer, domainId: string): string {
  return createHmac('sha256', domainKey).update(`keyledger/securitydomain/check/v1|${domainId}`).digest('base64url');
}

export function checkMatches(domainKey: Buffer, domainId: string, check: string): boolean {
  const want = Buffer.from(domainCheck(domainKey, domainId), 'base64url');
  const got = Buffer.from(check, 'base64url');
  return want.length === got.length && timingSafeEqual(want, got);
}

/**
 * `POST /securitydomain/download`'s body: 3 to 10 RSA certificates as JWKs (kty RSA, n, e and
 * an x5c chain whose first certificate holds that very key; x5t#S256, when given, its
 * SHA-256 thumbprint), all different, and a quorum `required` from 2 to their number.
 */
export function parseDownloadRequest(body: unknown): { recipients: ShareRecipient[]; required: number } {
  if (!isObject(body)) throw badParameter('The request body must be a JSON object with "certificates" and "required".');
  const certs = body.certificates;
  if (!Array.isArray(certs)) throw badParameter('"certificates" must be an array of JSON web keys.');
  if (certs.length < MIN_CERTIFICATES || certs.length > MAX_CERTIFICATES) {
    throw badParameter(`The security domain download needs between ${MIN_CERTIFICATES} and ${MAX_CERTIFICATES} certificates; ${certs.length} were given.`);
  }
  const required = body.required ?? 2;
  if (!Number.isInteger(required) || (required as number) < 2 || (required as number) > certs.length) {
    throw badParameter(`"required" must be an integer from 2 to the number of certificates (${certs.length}).`);
  }
  const recipients = certs.map((c, i) => recipientOf(c, i));
  if (new Set(recipients.map((r) => r.x5tS256)).size !== recipients.length) throw badParameter('The certificates must all be different.');
  return { recipients, required: required as number };
}

function recipientOf(jwk: unknown, i: number): ShareRecipient {
  const at = `certificates[${i}]`;
  if (!isObject(jwk)) throw badParameter(`${at} must be a JSON web key.`);
  if (jwk.kty !== 'RSA') throw badParameter(`${at}.kty must be RSA.`);
  const n = b64url(jwk.n, `${at}.n`);
  const e = b64url(jwk.e, `${at}.e`, 16);
  if (!Array.isArray(jwk.x5c) || jwk.x5c.length === 0 || typeof jwk.x5c[0] !== 'string') throw badParameter(`${at}.x5c must hold the certificate (base64 DER).`);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(Buffer.from(jwk.x5c[0], 'base64'));
  } catch {
    throw badParameter(`${at}.x5c[0] is not an X.509 certificate.`);
  }
  const spki = cert.publicKey.export({ format: 'jwk' });
  if (spki.kty !== 'RSA' || spki.n !== n.toString('base64url').replace(/=+$/, '') || spki.e !== e.toString('base64url').replace(/=+$/, '')) {
    throw badParameter(`${at}: the certificate in x5c does not hold the key n/e.`);
  }
  const bits = Buffer.from(spki.n, 'base64url').length * 8;
  if (bits < 2048) throw badParameter(`${at}: RSA keys of at least 2048 bits are needed.`);
  const thumb = createHash('sha256').update(cert.raw).digest('base64url');
  const given = jwk['x5t#S256'];
  if (given !== undefined && (typeof given !== 'string' || given.replace(/=+$/, '') !== thumb)) throw badParameter(`${at}.x5t#S256 is not the SHA-256 thumbprint of its certificate.`);
  const kid = typeof jwk.kid === 'string' && jwk.kid.length <= 256 ? jwk.kid : thumb;
  return { kid, x5tS256: thumb, key: createPublicKey({ key: { kty: 'RSA', n: spki.n, e: spki.e }, format: 'jwk' }) };
}

export const encryptShare = (recipient: ShareRecipient, share: Buffer): string =>
  publicEncrypt({ key: recipient.key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, share).toString('base64url');

/** The upload's body, parsed: the downloaded document and the shares encrypted to the transfer key. */
export type UploadRequest = { readonly document: SecurityDomainDocument; readonly shares: readonly { readonly index: number; readonly enc: Buffer }[] };

const bad = (message: string): DomainError => new DomainError(SecurityDomainErrorCode.BadSecurityDomain, message);

export function parseSecurityDomainDocument(x: unknown): SecurityDomainDocument {
  let o = x;
  if (typeof o === 'string') {
    try {
      o = JSON.parse(o);
    } catch {
      throw bad('The security domain is not valid JSON.');
    }
  }
  if (!isObject(o) || o.kind !== SECURITY_DOMAIN_KIND || o.version !== 1) throw bad('The security domain is not a Keyledger security domain (version 1).');
  if (typeof o.domainId !== 'string' || !/^[0-9a-f-]{36}$/.test(o.domainId)) throw bad('The security domain has no valid domainId.');
  if (!Number.isInteger(o.required) || (o.required as number) < 2 || (o.required as number) > MAX_CERTIFICATES) throw bad('The security domain has no valid quorum.');
  if (typeof o.check !== 'string' || !B64URL.test(o.check)) throw bad('The security domain has no valid check value.');
  if (!Array.isArray(o.shares) || o.shares.length < MIN_CERTIFICATES || o.shares.length > MAX_CERTIFICATES) throw bad('The security domain has no valid shares.');
  return o as unknown as SecurityDomainDocument;
}

/**
 * `POST /securitydomain/upload`'s body `{value}`: `value` is the JSON text
 * `{kind: "keyledger.managedhsm.securitydomain.upload", version: 1, securityDomain: <the download's value>,
 *   shares: [{index, enc: base64url(RSA-OAEP-256(transfer key, share))}]}`.
 */
export function parseUploadRequest(body: unknown): UploadRequest {
  if (!isObject(body) || typeof body.value !== 'string' || body.value.length === 0) throw badParameter('The request body must be {"value": <security domain upload>}.');
  if (body.value.length > 256 * 1024) throw badParameter('The security domain upload is too large.');
  let o: unknown;
  try {
    o = JSON.parse(body.value);
  } catch {
    throw bad('The security domain upload is not valid JSON.');
  }
  if (!isObject(o) || o.kind !== SECURITY_DOMAIN_UPLOAD_KIND || o.version !== 1) throw bad(`The security domain upload must be a "${SECURITY_DOMAIN_UPLOAD_KIND}" document, version 1.`);
  const document = parseSecurityDomainDocument(o.securityDomain);
  if (!Array.isArray(o.shares) || o.shares.length === 0 || o.shares.length > MAX_CERTIFICATES) throw bad('The upload has no shares.');
  const shares = o.shares.map((s, i) => {
    if (!isObject(s) || !Number.isInteger(s.index) || (s.index as number) < 1 || (s.index as number) > 255) throw bad(`shares[${i}] has no valid index.`);
    return { index: s.index as number, enc: b64url(s.enc, `shares[${i}].enc`) };
  });
  if (new Set(shares.map((s) => s.index)).size !== shares.length) throw bad('Two shares have the same index.');
  return { document, shares };
}
