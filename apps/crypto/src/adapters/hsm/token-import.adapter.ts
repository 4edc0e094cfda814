import pkcs11js from 'pkcs11js';
import { DomainError, type EcPrivateJwk, type EcPublicJwk, type OctPrivateJwk, type PrivateJwk, type RsaPrivateJwk, type RsaPublicJwk } from '#libs/crypto-core';
import { TokenSessions, type Template } from './token-session.js';

/** DER OIDs (CKA_EC_PARAMS) of the supported curves. */
const EC_PARAMS: Readonly<Record<string, Buffer>> = {
  'P-256': Buffer.from('06082a8648ce3d030107', 'hex'),
  'P-256K': Buffer.from('06052b8104000a', 'hex'),
  'P-384': Buffer.from('06052b81040022', 'hex'),
  'P-521': Buffer.from('06052b81040023', 'hex'),
};
const FIELD_BYTES: Readonly<Record<string, number>> = { 'P-256': 32, 'P-256K': 32, 'P-384': 48, 'P-521': 66 };

/** DER OCTET STRING around `content` (CKA_EC_POINT). */
function octetString(content: Buffer): Buffer {
  const len = content.length;
  const header = len < 0x80 ? Buffer.from([0x04, len]) : len < 0x100 ? Buffer.from([0x04, 0x81, len]) : Buffer.from([0x04, 0x82, len >> 8, len & 0xff]);
  return Buffer.concat([header, content]);
}

function b64(v: string): Buffer {
  return Buffer.from(v, 'base64url');
}

function leftPad(b: Buffer, length: number): Buffer {
  if (b.length >= length) return b;
  return Buffer.concat([Buffer.alloc(length - b.length), b]);
}

/**
 * Imports a private key (already validated in software: a JWK or an unwrapped BYOK target)
 * into the PKCS#11 token as a sensitive, non-extractable key pair (or AES key) under CKA_ID
 * `objectId`, the same shape as the keys the token generates.
 *
 * Gap filled here: crypto-core's Pkcs11Token has no C_CreateObject.
 */
export class TokenImportAdapter {
  /** `backupable`: keys may leave the token wrapped (never in plaintext) for key backups; see privateKeyPolicy. */
  constructor(
    private readonly sessions: TokenSessions,
    private readonly backupable: boolean,
  ) {}

  importKey(objectId: string, jwk: PrivateJwk): void {
    const id = Buffer.from(objectId, 'utf8');
    const common: Template = [
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_ID, value: id },
      { type: pkcs11js.CKA_LABEL, value: objectId },
    ];
    const secret: Buffer[] = [];
    const templates: Template[] = [];
    if (jwk.kty === 'oct') {
      const k = b64((jwk as OctPrivateJwk).k);
      secret.push(k);
      templates.push([...common, ...aesKeyTemplate(null, this.backupable), { type: pkcs11js.CKA_VALUE, value: k }]);
    } else if (jwk.kty === 'RSA') {
      const r = jwk as RsaPrivateJwk;
      const parts = [b64(r.d), b64(r.p), b64(r.q), b64(r.dp), b64(r.dq), b64(r.qi)];
      secret.push(...parts);
      const [d, p, q, dp, dq, qi] = parts as [Buffer, Buffer, Buffer, Buffer, Buffer, Buffer];
      const rsa: Template = [
        { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_RSA },
        { type: pkcs11js.CKA_MODULUS, value: b64(r.n) },
        { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: b64(r.e) },
      ];
      templates.push([
        ...common,
        ...rsa,
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
        { type: pkcs11js.CKA_PRIVATE, value: true },
        ...privateKeyPolicy(this.backupable),
        { type: pkcs11js.CKA_SIGN, value: true },
        { type: pkcs11js.CKA_DECRYPT, value: true },
        { type: pkcs11js.CKA_UNWRAP, value: false },
        { type: pkcs11js.CKA_PRIVATE_EXPONENT, value: d },
        { type: pkcs11js.CKA_PRIME_1, value: p },
        { type: pkcs11js.CKA_PRIME_2, value: q },
        { type: pkcs11js.CKA_EXPONENT_1, value: dp },
        { type: pkcs11js.CKA_EXPONENT_2, value: dq },
        { type: pkcs11js.CKA_COEFFICIENT, value: qi },
      ]);
      templates.push(publicKeyTemplate(objectId, { kty: 'RSA', n: r.n, e: r.e }));
    } else {
      const e = jwk as EcPrivateJwk;
      const params = EC_PARAMS[e.crv];
      const L = FIELD_BYTES[e.crv];
      if (!params || !L) throw new DomainError('BadParameter', 'unsupported curve');
      const d = leftPad(b64(e.d), L);
      secret.push(d);
      templates.push([
        ...common,
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
        { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_EC },
        { type: pkcs11js.CKA_PRIVATE, value: true },
        ...privateKeyPolicy(this.backupable),
        { type: pkcs11js.CKA_SIGN, value: true },
        { type: pkcs11js.CKA_DERIVE, value: false },
        { type: pkcs11js.CKA_EC_PARAMS, value: params },
        { type: pkcs11js.CKA_VALUE, value: d },
      ]);
      templates.push(publicKeyTemplate(objectId, { kty: 'EC', crv: e.crv, x: e.x, y: e.y }));
    }
    try {
      this.sessions.run(
        (lib, session) => TokenSessions.createAllOrNone(lib, session, templates.map((t) => () => lib.C_CreateObject(session, t))),
        (ckr) => new DomainError('HsmFailure', `PKCS#11 key import failed (${ckr})`, { ckr }),
      );
    } finally {
      for (const b of secret) b.fill(0);
    }
  }
}

/**
 * Sensitivity of key objects (private keys, AES keys) in the token: CKA_SENSITIVE always (the
 * value can never be read). With `backupable` they are CKA_EXTRACTABLE so that a key backup can
 * take them out wrapped by the token's backup wrapping key (C_WrapKey, AES key wrap with
 * padding) and only a deployment holding that token can restore them; otherwise they never
 * leave the token at all and cannot be backed up (CRYPTO_HSM_KEY_BACKUP=false).
 */
export function privateKeyPolicy(backupable: boolean): Template {
  return [
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: backupable },
  ];
}

/** The public-key object of a key pair (RSA: verify/encrypt; EC: verify). */
export function publicKeyTemplate(objectId: string, jwk: RsaPublicJwk | EcPublicJwk): Template {
  const common: Template = [
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_ID, value: Buffer.from(objectId, 'utf8') },
    { type: pkcs11js.CKA_LABEL, value: objectId },
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
    { type: pkcs11js.CKA_VERIFY, value: true },
  ];
  if (jwk.kty === 'RSA') {
    return [
      ...common,
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_RSA },
      { type: pkcs11js.CKA_MODULUS, value: b64(jwk.n) },
      { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: b64(jwk.e) },
      { type: pkcs11js.CKA_ENCRYPT, value: true },
      { type: pkcs11js.CKA_WRAP, value: false },
    ];
  }
  const params = EC_PARAMS[jwk.crv];
  const L = FIELD_BYTES[jwk.crv];
  if (!params || !L) throw new DomainError('BadParameter', 'unsupported curve');
  const point = Buffer.concat([Buffer.from([0x04]), leftPad(b64(jwk.x), L), leftPad(b64(jwk.y), L)]);
  return [...common, { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_EC }, { type: pkcs11js.CKA_EC_PARAMS, value: params }, { type: pkcs11js.CKA_EC_POINT, value: octetString(point) }];
}

/** Attributes of an AES key in the token: sensitive, for every AES use. `bytes`: for generation only (CKA_VALUE_LEN is read-only on import). */
export function aesKeyTemplate(bytes: number | null, backupable: boolean): Template {
  return [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
    ...(bytes === null ? [] : [{ type: pkcs11js.CKA_VALUE_LEN, value: bytes }]),
    { type: pkcs11js.CKA_PRIVATE, value: true },
    ...privateKeyPolicy(backupable),
    { type: pkcs11js.CKA_ENCRYPT, value: true },
    { type: pkcs11js.CKA_DECRYPT, value: true },
    { type: pkcs11js.CKA_WRAP, value: true },
    { type: pkcs11js.CKA_UNWRAP, value: true },
    { type: pkcs11js.CKA_SIGN, value: false },
    { type: pkcs11js.CKA_VERIFY, value: false },
    { type: pkcs11js.CKA_DERIVE, value: false },
  ];
}
