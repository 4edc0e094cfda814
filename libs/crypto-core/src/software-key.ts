/**
 * Software keys (RSA, EC, oct) held as JWK material, loaded once into a reusable handle
 * (`loadSoftwareKey`) built on Node `KeyObject`s so no operation re-imports the key.
 * All operations are synchronous and CPU-bound; run them on a worker pool to use more than
 * one core (KeyObjects and JWKs can be posted to worker threads).
 */
import {
  constants,
  createHmac,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  generateKeyPair,
  generateKeyPairSync,
  privateDecrypt,
  privateEncrypt,
  publicDecrypt,
  publicEncrypt,
  randomBytes,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import { promisify } from 'node:util';
import { cbcDecrypt, cbcEncrypt, gcmDecrypt, gcmEncrypt, keyUnwrap, keyUnwrapPad, keyWrap, keyWrapPad } from './aes-modes.js';
import {
  checkEncryption,
  checkKeyWrap,
  checkSignature,
  CURVE_BITS,
  curveFromJwkCrv,
  NODE_CURVE,
  NODE_JWK_CRV,
  OCT_KEY_SIZES,
  RSA_KEY_SIZES,
  type CipherScheme,
  type CurveName,
  type KeyDescriptor,
  type KeyFamily,
  type OctKeySize,
  type RsaKeySize,
} from './algorithms.js';
import { bytesToBigInt, constantTimeEqual, fromBase64Url, toBase64Url, zeroize } from './byte-encoding.util.js';
import { badParameter, cryptoError, CryptoErrorCode } from './crypto.errors.js';
import { CURVE_PARAMS, ecdsaSignDigest, ecdsaVerifyDigest, isOnCurve, publicPointOf, type AffinePoint } from './ecdsa-digest.js';
import { EC_PRIVATE_MEMBERS, EC_PUBLIC_MEMBERS, jwkMembers, RSA_PRIVATE_MEMBERS, RSA_PUBLIC_MEMBERS } from './jwk-members.js';
import { digestInfo, pssEncode, pssVerify } from './rsa-padding.js';

const generateKeyPairAsync = promisify(generateKeyPair);

// ---------------------------------------------------------------------------------------------
// JWK shapes (Azure names: kty RSA / EC / oct, crv P-256 / P-256K / P-384 / P-521; base64url)
// ---------------------------------------------------------------------------------------------

export interface RsaPublicJwk {
  readonly kty: 'RSA';
  readonly n: string;
  readonly e: string;
}
export interface RsaPrivateJwk extends RsaPublicJwk {
  readonly d: string;
  readonly p: string;
  readonly q: string;
  readonly dp: string;
  readonly dq: string;
  readonly qi: string;
}
export interface EcPublicJwk {
  readonly kty: 'EC';
  readonly crv: CurveName;
  readonly x: string;
  readonly y: string;
}
export interface EcPrivateJwk extends EcPublicJwk {
  readonly d: string;
}
/** Symmetric keys have no public part; Azure returns only kty (and kid, key_ops). */
export interface OctPublicJwk {
  readonly kty: 'oct';
}
export interface OctPrivateJwk {
  readonly kty: 'oct';
  readonly k: string;
}
export type PublicJwk = RsaPublicJwk | EcPublicJwk | OctPublicJwk;
/** Full key material, for internal storage only (always wrapped at rest). */
export type PrivateJwk = RsaPrivateJwk | EcPrivateJwk | OctPrivateJwk;

export type SoftwareKeySpec =
  | { readonly kty: 'RSA'; readonly size?: RsaKeySize }
  | { readonly kty: 'EC'; readonly crv?: CurveName }
  | { readonly kty: 'oct'; readonly size?: OctKeySize };

// ---------------------------------------------------------------------------------------------
// Operation inputs / outputs
// ---------------------------------------------------------------------------------------------

export interface EncryptOptions {
  /** AES only: 12 bytes (GCM) or 16 bytes (CBC); generated when absent. Do not reuse a GCM iv. */
  readonly iv?: Uint8Array;
  /** AES-GCM only. */
  readonly additionalAuthenticatedData?: Uint8Array;
}

export interface EncryptResult {
  readonly ciphertext: Buffer;
  readonly iv?: Buffer;
  /** AES-GCM: the 16-byte tag, returned separately as Azure does. */
  readonly authenticationTag?: Buffer;
  readonly additionalAuthenticatedData?: Buffer;
}

export interface DecryptOptions {
  readonly iv?: Uint8Array;
  readonly additionalAuthenticatedData?: Uint8Array;
  readonly authenticationTag?: Uint8Array;
}

function isEmpty(b: Uint8Array | undefined): boolean {
  return b === undefined || b.byteLength === 0;
}

function rejectExtras(alg: string, parts: Record<string, Uint8Array | undefined>): void {
  for (const [name, value] of Object.entries(parts)) {
    if (!isEmpty(value)) throw badParameter('UnexpectedParameter', `${name} is not used by ${alg}`, { algorithm: alg, field: name });
  }
}

function malformedKey(message: string): Error {
  return badParameter('MalformedKey', message);
}

function requireString(jwk: object, field: string): string {
  const v: unknown = (jwk as Record<string, unknown>)[field];
  if (typeof v !== 'string' || v.length === 0) throw malformedKey(`JWK field '${field}' is missing`);
  return v;
}

// ---------------------------------------------------------------------------------------------
// The handle
// ---------------------------------------------------------------------------------------------

type Material =
  | { readonly family: 'RSA'; readonly privateKey: KeyObject; readonly publicKey: KeyObject; readonly modulusBytes: number }
  | { readonly family: 'EC'; readonly privateKey: KeyObject; readonly publicKey: KeyObject; readonly d: bigint; readonly q: AffinePoint }
  | { readonly family: 'oct'; readonly secret: KeyObject; readonly raw: Buffer };

export class SoftwareKey {
  readonly kty: KeyFamily;
  readonly crv: CurveName | undefined;
  readonly sizeBits: number;
  #m: Material | null;

  /** @internal use `loadSoftwareKey`. */
  constructor(kty: KeyFamily, sizeBits: number, crv: CurveName | undefined, material: Material) {
    this.kty = kty;
    this.sizeBits = sizeBits;
    this.crv = crv;
    this.#m = material;
  }

  get descriptor(): KeyDescriptor {
    return this.crv ? { kty: this.kty, crv: this.crv, sizeBits: this.sizeBits } : { kty: this.kty, sizeBits: this.sizeBits };
  }

  /** The curve of an EC key (always set for one). */
  #curve(): CurveName {
    if (this.crv === undefined) throw badParameter('MalformedKey', 'an EC key handle without a curve');
    return this.crv;
  }

  #material(): Material {
    if (!this.#m) throw badParameter('KeyDestroyed', 'this key handle has been destroyed');
    return this.#m;
  }

  publicJwk(): PublicJwk {
    const m = this.#material();
    switch (m.family) {
      case 'RSA': {
        const j = m.publicKey.export({ format: 'jwk' });
        return { kty: 'RSA', ...jwkMembers(j, RSA_PUBLIC_MEMBERS) };
      }
      case 'EC': {
        const j = m.publicKey.export({ format: 'jwk' });
        return { kty: 'EC', crv: this.#curve(), ...jwkMembers(j, EC_PUBLIC_MEMBERS) };
      }
      case 'oct':
        return { kty: 'oct' };
    }
  }

  /** Full private JWK for storage (wrap it before it touches disk or an event). */
  exportPrivateJwk(): PrivateJwk {
    const m = this.#material();
    switch (m.family) {
      case 'RSA': {
        const j = m.privateKey.export({ format: 'jwk' });
        return { kty: 'RSA', ...jwkMembers(j, RSA_PRIVATE_MEMBERS) };
      }
      case 'EC': {
        const j = m.privateKey.export({ format: 'jwk' });
        return { kty: 'EC', crv: this.#curve(), ...jwkMembers(j, EC_PRIVATE_MEMBERS) };
      }
      case 'oct':
        return { kty: 'oct', k: toBase64Url(m.raw) };
    }
  }

  /** Signs a caller-supplied digest (never hashed again). RSA/EC signatures per Azure: PKCS#1/PSS bytes, ECDSA raw r‖s. */
  sign(algorithm: string, digest: Uint8Array): Buffer {
    const scheme = checkSignature(algorithm, this.descriptor, digest.byteLength);
    const m = this.#material();
    switch (scheme.kind) {
      case 'pkcs1':
        if (m.family !== 'RSA') break;
        return privateEncrypt({ key: m.privateKey, padding: constants.RSA_PKCS1_PADDING }, digestInfo(scheme.hash, digest));
      case 'pss': {
        if (m.family !== 'RSA') break;
        const em = pssEncode(scheme.hash, digest, this.sizeBits);
        return privateEncrypt({ key: m.privateKey, padding: constants.RSA_NO_PADDING }, em);
      }
      case 'ecdsa':
        if (m.family !== 'EC' || this.crv === undefined) break;
        return ecdsaSignDigest(CURVE_PARAMS[this.crv], m.d, digest);
      case 'hmac':
        if (m.family !== 'oct') break;
        return createHmac(scheme.hash, m.secret).update(digest).digest();
    }
    throw new Error('unreachable: algorithm check and key material disagree');
  }

  /** Verifies a signature over a digest. Returns false for a wrong signature; throws only for bad requests. */
  verify(algorithm: string, digest: Uint8Array, signature: Uint8Array): boolean {
    const scheme = checkSignature(algorithm, this.descriptor, digest.byteLength);
    const m = this.#material();
    switch (scheme.kind) {
      case 'pkcs1': {
        if (m.family !== 'RSA') break;
        if (signature.byteLength !== m.modulusBytes) return false;
        try {
          const recovered = publicDecrypt({ key: m.publicKey, padding: constants.RSA_PKCS1_PADDING }, signature);
          return constantTimeEqual(recovered, digestInfo(scheme.hash, digest));
        } catch {
          return false;
        }
      }
      case 'pss': {
        if (m.family !== 'RSA') break;
        if (signature.byteLength !== m.modulusBytes) return false;
        try {
          const em = publicDecrypt({ key: m.publicKey, padding: constants.RSA_NO_PADDING }, signature);
          return pssVerify(scheme.hash, digest, em, this.sizeBits);
        } catch {
          return false;
        }
      }
      case 'ecdsa':
        if (m.family !== 'EC' || this.crv === undefined) break;
        return ecdsaVerifyDigest(CURVE_PARAMS[this.crv], m.q, digest, signature);
      case 'hmac':
        if (m.family !== 'oct') break;
        return constantTimeEqual(createHmac(scheme.hash, m.secret).update(digest).digest(), signature);
    }
    throw new Error('unreachable: algorithm check and key material disagree');
  }

  encrypt(algorithm: string, plaintext: Uint8Array, options: EncryptOptions = {}): EncryptResult {
    const scheme = checkEncryption(algorithm, this.descriptor);
    return this.#encrypt(algorithm, scheme, plaintext, options);
  }

  decrypt(algorithm: string, ciphertext: Uint8Array, options: DecryptOptions = {}): Buffer {
    const scheme = checkEncryption(algorithm, this.descriptor);
    return this.#decrypt(algorithm, scheme, ciphertext, options);
  }

  /** wrapKey: RSA-OAEP, RSA-OAEP-256, RSA1_5, A128KW/A192KW/A256KW, CKM_AES_KEY_WRAP, CKM_AES_KEY_WRAP_PAD. */
  wrapKey(algorithm: string, key: Uint8Array): Buffer {
    const scheme = checkKeyWrap(algorithm, this.descriptor);
    return this.#encrypt(algorithm, scheme, key, {}).ciphertext;
  }

  unwrapKey(algorithm: string, wrapped: Uint8Array): Buffer {
    const scheme = checkKeyWrap(algorithm, this.descriptor);
    return this.#decrypt(algorithm, scheme, wrapped, {});
  }

  #encrypt(alg: string, scheme: CipherScheme, plaintext: Uint8Array, options: EncryptOptions): EncryptResult {
    const m = this.#material();
    if (scheme.family === 'RSA' && m.family === 'RSA') {
      rejectExtras(alg, { iv: options.iv, additionalAuthenticatedData: options.additionalAuthenticatedData });
      const overhead = scheme.kind === 'pkcs1' ? 11 : scheme.hash === 'sha1' ? 42 : 66;
      if (plaintext.byteLength > m.modulusBytes - overhead) {
        throw badParameter('InputLength', `${alg} with this key takes at most ${m.modulusBytes - overhead} bytes`, { algorithm: alg });
      }
      const ciphertext =
        scheme.kind === 'pkcs1'
          ? publicEncrypt({ key: m.publicKey, padding: constants.RSA_PKCS1_PADDING }, plaintext)
          : publicEncrypt({ key: m.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: scheme.hash }, plaintext);
      return { ciphertext };
    }
    if (scheme.family === 'oct' && m.family === 'oct') {
      const bits = this.sizeBits as OctKeySize;
      switch (scheme.kind) {
        case 'gcm': {
          const aad = options.additionalAuthenticatedData;
          const r = gcmEncrypt(m.secret, bits, plaintext, options.iv, aad);
          return aad === undefined || isEmpty(aad) ? r : { ...r, additionalAuthenticatedData: Buffer.from(aad) };
        }
        case 'cbc':
        case 'cbcpad':
          rejectExtras(alg, { additionalAuthenticatedData: options.additionalAuthenticatedData });
          return cbcEncrypt(m.secret, bits, plaintext, scheme.kind === 'cbcpad', options.iv);
        case 'kw':
          return { ciphertext: keyWrap(m.secret, bits, plaintext) };
        case 'kwp':
          return { ciphertext: keyWrapPad(m.secret, bits, plaintext) };
      }
    }
    throw new Error('unreachable: algorithm check and key material disagree');
  }

  #decrypt(alg: string, scheme: CipherScheme, ciphertext: Uint8Array, options: DecryptOptions): Buffer {
    const m = this.#material();
    if (scheme.family === 'RSA' && m.family === 'RSA') {
      rejectExtras(alg, { iv: options.iv, additionalAuthenticatedData: options.additionalAuthenticatedData, authenticationTag: options.authenticationTag });
      if (ciphertext.byteLength !== m.modulusBytes) {
        throw badParameter('InputLength', `${alg} ciphertext must be ${m.modulusBytes} bytes for this key`, { algorithm: alg });
      }
      if (scheme.kind === 'pkcs1') return rsaPkcs1Decrypt(m.privateKey, ciphertext);
      try {
        return privateDecrypt({ key: m.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: scheme.hash }, ciphertext);
      } catch {
        throw cryptoError(CryptoErrorCode.CiphertextInvalid, `${alg} decryption failed`, { algorithm: alg, reason: 'Padding' });
      }
    }
    if (scheme.family === 'oct' && m.family === 'oct') {
      const bits = this.sizeBits as OctKeySize;
      switch (scheme.kind) {
        case 'gcm':
          return gcmDecrypt(m.secret, bits, ciphertext, options.iv, options.authenticationTag, options.additionalAuthenticatedData);
        case 'cbc':
        case 'cbcpad':
          rejectExtras(alg, { additionalAuthenticatedData: options.additionalAuthenticatedData, authenticationTag: options.authenticationTag });
          return cbcDecrypt(m.secret, bits, ciphertext, scheme.kind === 'cbcpad', options.iv);
        case 'kw':
          return keyUnwrap(m.secret, bits, ciphertext);
        case 'kwp':
          return keyUnwrapPad(m.secret, bits, ciphertext);
      }
    }
    throw new Error('unreachable: algorithm check and key material disagree');
  }

  /** Drops the key material (zeroing what Node allows: the raw oct bytes; KeyObject internals are freed by GC). */
  destroy(): void {
    const m = this.#m;
    if (m?.family === 'oct') zeroize(m.raw);
    this.#m = null;
  }
}

/**
 * RSA1_5 decryption. Node 20 refuses RSA_PKCS1_PADDING private decryption (CVE-2023-46809,
 * the Marvin timing attack) unless started with --security-revert; newer runtimes with
 * OpenSSL implicit rejection allow it. Detected per call, reported as `NotSupported`.
 */
function rsaPkcs1Decrypt(key: KeyObject, ciphertext: Uint8Array): Buffer {
  try {
    return privateDecrypt({ key, padding: constants.RSA_PKCS1_PADDING }, ciphertext);
  } catch (e) {
    if (isPkcs1DecryptionRefused(e)) {
      throw cryptoError(
        CryptoErrorCode.NotSupported,
        'RSA1_5 decryption is disabled in this runtime (Marvin attack, CVE-2023-46809); use RSA-OAEP or RSA-OAEP-256',
        { algorithm: 'RSA1_5' },
      );
    }
    throw cryptoError(CryptoErrorCode.CiphertextInvalid, 'RSA1_5 decryption failed', { algorithm: 'RSA1_5', reason: 'Padding' });
  }
}

function isPkcs1DecryptionRefused(e: unknown): boolean {
  // Not `instanceof Error`: errors from Node internals may come from another realm (vm contexts).
  if (typeof e !== 'object' || e === null) return false;
  const { code, message } = e as { code?: unknown; message?: unknown };
  return code === 'ERR_INVALID_ARG_VALUE' && typeof message === 'string' && message.includes('RSA_PKCS1_PADDING');
}

let pkcs1DecryptSupported: boolean | undefined;
/** Whether this runtime can do RSA1_5 decryption (probed once with a throwaway key). */
export function isRsa15DecryptSupported(): boolean {
  if (pkcs1DecryptSupported === undefined) {
    // A throwaway key that protects nothing.
    const { privateKey: probe, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const ct = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, Buffer.from('probe'));
    try {
      privateDecrypt({ key: probe, padding: constants.RSA_PKCS1_PADDING }, ct);
      pkcs1DecryptSupported = true;
    } catch (e) {
      pkcs1DecryptSupported = !isPkcs1DecryptionRefused(e);
    }
  }
  return pkcs1DecryptSupported;
}

// ---------------------------------------------------------------------------------------------
// Loading and generation
// ---------------------------------------------------------------------------------------------

/** Builds a reusable handle from a private JWK (Azure or Node `crv` names accepted). Validates the key pair. */
export function loadSoftwareKey(jwk: PrivateJwk): SoftwareKey {
  const kty: unknown = (jwk as { kty?: unknown })?.kty;
  switch (kty) {
    case 'RSA':
    case 'RSA-HSM':
      return loadRsa(jwk as RsaPrivateJwk);
    case 'EC':
    case 'EC-HSM':
      return loadEc(jwk as EcPrivateJwk);
    case 'oct':
    case 'oct-HSM':
      return loadOct(jwk as OctPrivateJwk);
    default:
      throw malformedKey(`unsupported kty '${String(kty).slice(0, 20)}'`);
  }
}

function loadRsa(jwk: RsaPrivateJwk): SoftwareKey {
  const fields = ['n', 'e', 'd', 'p', 'q', 'dp', 'dq', 'qi'] as const;
  const nodeJwk: JsonWebKey = { kty: 'RSA' };
  for (const f of fields) {
    const v = requireString(jwk, f);
    fromBase64Url(v, f);
    nodeJwk[f] = v.replace(/=+$/, '');
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: nodeJwk, format: 'jwk' });
  } catch {
    throw malformedKey('the RSA JWK is not a valid private key');
  }
  const bits = privateKey.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < 2048 || bits > 4096) throw badParameter('KeySize', `RSA keys must be 2048 to 4096 bits, got ${bits}`, { sizeBits: bits });
  const publicKey = createPublicKey(privateKey);
  const members = jwkMembers(nodeJwk, ['n', 'p', 'q']);
  const n = bytesToBigInt(fromBase64Url(members.n, 'n'));
  const pq = bytesToBigInt(fromBase64Url(members.p, 'p')) * bytesToBigInt(fromBase64Url(members.q, 'q'));
  if (n !== pq) throw malformedKey('the RSA JWK is inconsistent (n != p*q)');
  const modulusBytes = Math.ceil(bits / 8);
  // Pairwise consistency test: a raw private operation must invert under the public key.
  const probe = randomBytes(modulusBytes);
  probe[0] = 0;
  const roundTrip = publicDecrypt({ key: publicKey, padding: constants.RSA_NO_PADDING }, privateEncrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, probe));
  if (!roundTrip.equals(probe)) throw malformedKey('the RSA JWK is inconsistent (private and public parts do not match)');
  return new SoftwareKey('RSA', bits, undefined, { family: 'RSA', privateKey, publicKey, modulusBytes });
}

function loadEc(jwk: EcPrivateJwk): SoftwareKey {
  const crv = curveFromJwkCrv(requireString(jwk, 'crv'));
  const params = CURVE_PARAMS[crv];
  const L = params.byteLength;
  const x = fromBase64Url(requireString(jwk, 'x'), 'x');
  const y = fromBase64Url(requireString(jwk, 'y'), 'y');
  const dBytes = fromBase64Url(requireString(jwk, 'd'), 'd');
  try {
    if (x.length !== L || y.length !== L || dBytes.length !== L) throw malformedKey(`EC ${crv} coordinates and d must be ${L} bytes`);
    const d = bytesToBigInt(dBytes);
    if (d <= 0n || d >= params.n) throw malformedKey('EC private scalar out of range');
    const q = { x: bytesToBigInt(x), y: bytesToBigInt(y) };
    if (!isOnCurve(params, q)) throw malformedKey('EC public point is not on the curve');
    const derived = publicPointOf(params, d);
    if (derived.x !== q.x || derived.y !== q.y) throw malformedKey('the EC JWK is inconsistent (d does not match x, y)');
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey({
        key: { kty: 'EC', crv: NODE_JWK_CRV[crv], x: x.toString('base64url'), y: y.toString('base64url'), d: dBytes.toString('base64url') },
        format: 'jwk',
      });
    } catch {
      throw malformedKey('the EC JWK is not a valid private key');
    }
    const publicKey = createPublicKey(privateKey);
    return new SoftwareKey('EC', CURVE_BITS[crv], crv, { family: 'EC', privateKey, publicKey, d, q });
  } finally {
    zeroize(dBytes);
  }
}

function loadOct(jwk: OctPrivateJwk): SoftwareKey {
  const raw = fromBase64Url(requireString(jwk, 'k'), 'k');
  const bits = raw.length * 8;
  if (!(OCT_KEY_SIZES as readonly number[]).includes(bits)) {
    zeroize(raw);
    throw badParameter('KeySize', `symmetric keys must be 128, 192 or 256 bits, got ${bits}`, { sizeBits: bits });
  }
  return new SoftwareKey('oct', bits, undefined, { family: 'oct', secret: createSecretKey(raw), raw });
}

/** Generates a software key; returns its private JWK (store it wrapped) — load it with `loadSoftwareKey`. */
export async function generateSoftwareKey(spec: SoftwareKeySpec): Promise<PrivateJwk> {
  switch (spec.kty) {
    case 'RSA': {
      const size = spec.size ?? 2048;
      if (!(RSA_KEY_SIZES as readonly number[]).includes(size)) {
        throw badParameter('KeySize', `RSA key size must be one of ${RSA_KEY_SIZES.join(', ')}`, { sizeBits: size });
      }
      const { privateKey } = await generateKeyPairAsync('rsa', { modulusLength: size, publicExponent: 0x10001 });
      const j = privateKey.export({ format: 'jwk' });
      return { kty: 'RSA', ...jwkMembers(j, RSA_PRIVATE_MEMBERS) };
    }
    case 'EC': {
      const crv = spec.crv ?? 'P-256';
      if (!(crv in NODE_CURVE)) throw badParameter('Curve', `unsupported curve '${String(crv).slice(0, 20)}'`);
      const { privateKey } = await generateKeyPairAsync('ec', { namedCurve: NODE_CURVE[crv] });
      const j = privateKey.export({ format: 'jwk' });
      return { kty: 'EC', crv, ...jwkMembers(j, EC_PRIVATE_MEMBERS) };
    }
    case 'oct': {
      const size = spec.size ?? 256;
      if (!(OCT_KEY_SIZES as readonly number[]).includes(size)) {
        throw badParameter('KeySize', `symmetric key size must be one of ${OCT_KEY_SIZES.join(', ')}`, { sizeBits: size });
      }
      const raw = randomBytes(size / 8);
      const k = toBase64Url(raw);
      zeroize(raw);
      return { kty: 'oct', k };
    }
  }
}

/** Azure GetRandomBytes: 1..128 bytes from the CSPRNG. */
export function getRandomBytes(count: number): Buffer {
  if (!Number.isInteger(count) || count < 1 || count > 128) {
    throw badParameter('Count', 'the number of random bytes must be an integer from 1 to 128', { count: Number.isFinite(count) ? count : -1 });
  }
  return randomBytes(count);
}

/** Reads a public JWK into a verifying KeyObject (for callers holding only the public part). */
export function publicKeyObjectFromJwk(jwk: RsaPublicJwk | EcPublicJwk): KeyObject {
  const nodeJwk: JsonWebKey =
    jwk.kty === 'RSA' ? { kty: 'RSA', n: jwk.n, e: jwk.e } : { kty: 'EC', crv: NODE_JWK_CRV[curveFromJwkCrv(jwk.crv)], x: jwk.x, y: jwk.y };
  try {
    return createPublicKey({ key: nodeJwk, format: 'jwk' });
  } catch {
    throw malformedKey('the public JWK is not valid');
  }
}
