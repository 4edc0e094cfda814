/**
 * A thin, typed wrapper over pkcs11js for one token: load the module, find the slot by token
 * label, open a read-write session, log in as the user; then root-key primitives (AES-256-GCM
 * inside the token) and HSM key pairs (RSA 2048/3072/4096, EC P-256/P-256K/P-384/P-521)
 * generated in the token as sensitive, non-extractable objects. Keys never leave the token;
 * only public keys are read.
 *
 * All calls are synchronous (pkcs11js sync API) on one session, so operations never
 * interleave on it; they block the event loop for the duration of the token operation.
 * Every call into the module is fenced (`fencedModule`): OpenSSL's error queue is cleared
 * before it returns or throws, so this class is safe to use next to Node's TLS on its own.
 * Error messages name the module path and labels, never the PIN.
 */
import { randomBytes } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import {
  checkSignature,
  CURVE_BITS,
  RSA_KEY_SIZES,
  type CurveName,
  type KeyDescriptor,
  type RsaKeySize,
} from './algorithms.js';
import { toBase64Url, zeroize } from './byte-encoding.util.js';
import { badParameter, cryptoError, CryptoErrorCode, isDomainError } from './crypto.errors.js';
import { digestInfo, oaepDecode } from './rsa-padding.js';
import type { EcPublicJwk, RsaPublicJwk } from './software-key.js';

type Pkcs11 = InstanceType<typeof pkcs11js.PKCS11>;
type Handle = Buffer;
type Template = { type: number; value?: number | boolean | string | Buffer }[];

/** How a generated HSM key may leave the token. */
export interface HsmKeyOptions {
  /**
   * CKA_EXTRACTABLE (the key stays CKA_SENSITIVE: its value can never be read, only wrapped by
   * another token key, e.g. for key backups). Default false: the key never leaves the token.
   */
  readonly extractableWrapped?: boolean;
}

export interface Pkcs11TokenOptions {
  /** Path of the PKCS#11 module, e.g. `/usr/lib/softhsm/libsofthsm2.so`. */
  readonly modulePath: string;
  /** Token label (CKA token info label, trailing blanks ignored). */
  readonly tokenLabel: string;
  /** User PIN. Never logged, never put in an error. */
  readonly pin: string;
}

/** CKR_CURVE_NOT_SUPPORTED (PKCS#11 v2.40), not exported by pkcs11js. */
const CKR_CURVE_NOT_SUPPORTED = 0x140;
/** CKZ_DATA_SPECIFIED for CK_RSA_PKCS_OAEP_PARAMS.source. */
const CKZ_DATA_SPECIFIED = 1;

const CKR_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(pkcs11js as unknown as Record<string, unknown>)
    .filter((e): e is [string, number] => e[0].startsWith('CKR_') && typeof e[1] === 'number')
    .map(([name, value]) => [value, name]),
);

/**
 * SoftHSM2 (and other OpenSSL-based PKCS#11 modules) loaded into Node resolve OpenSSL against
 * Node's own copy and share its per-thread error queue. A token operation that fails inside
 * OpenSSL (an ECDSA or PSS verification answering "invalid", a GCM tag mismatch) can leave
 * errors there, and the next TLS read on this thread then reports them as its own failure,
 * killing an unrelated HTTPS or gRPC connection. Every synchronous Node crypto job clears the
 * queue on return (ClearErrorOnReturn); a one-byte `randomBytes` is the cheapest such job.
 */
function clearOpenSslErrors(): void {
  randomBytes(1);
}

/** Runs a synchronous call into the PKCS#11 module, then clears OpenSSL's error queue (also when it throws). */
function fenced<T>(fn: () => T): T {
  try {
    return fn();
  } finally {
    clearOpenSslErrors();
  }
}

/**
 * The module instance with every method fenced: the one wrapper all token calls go through
 * (`acquireModule` hands out only this view), so no call can be left unfenced.
 */
function fencedModule(lib: Pkcs11): Pkcs11 {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(lib, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      let fn = wrapped.get(prop);
      if (!fn) {
        const method = value as (...args: unknown[]) => unknown;
        fn = (...args: unknown[]) => fenced(() => method.apply(target, args));
        wrapped.set(prop, fn);
      }
      return fn;
    },
  });
}

/** The CKR_* return value carried by a pkcs11js error, if any. */
export function ckrOf(e: unknown): { code: number; name: string } | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const { code, message } = e as { code?: unknown; message?: unknown };
  if (typeof code === 'number' && code > 0) return { code, name: CKR_NAMES.get(code) ?? `CKR_0x${code.toString(16)}` };
  if (typeof message === 'string') {
    const m = /(CKR_[A-Z0-9_]+)/.exec(message);
    if (m) {
      const name = m[1];
      const value = (pkcs11js as unknown as Record<string, unknown>)[name];
      return { code: typeof value === 'number' ? value : -1, name };
    }
  }
  return undefined;
}

const TOKEN_GONE = new Set([
  'CKR_SESSION_HANDLE_INVALID', 'CKR_SESSION_CLOSED', 'CKR_DEVICE_REMOVED', 'CKR_DEVICE_ERROR', 'CKR_TOKEN_NOT_PRESENT',
  'CKR_USER_NOT_LOGGED_IN', 'CKR_CRYPTOKI_NOT_INITIALIZED', 'CKR_PIN_EXPIRED', 'CKR_PIN_LOCKED',
]);
const BAD_CIPHERTEXT = new Set(['CKR_ENCRYPTED_DATA_INVALID', 'CKR_ENCRYPTED_DATA_LEN_RANGE']);
const NOT_SUPPORTED = new Set(['CKR_MECHANISM_INVALID', 'CKR_MECHANISM_PARAM_INVALID', 'CKR_DOMAIN_PARAMS_INVALID', 'CKR_FUNCTION_NOT_SUPPORTED']);

/** Maps a PKCS#11 failure during an operation to a typed error. */
function operationError(e: unknown, operation: string, details: Readonly<Record<string, string | number | boolean>> = {}): Error {
  if (isDomainError(e)) return e;
  const ckr = ckrOf(e);
  const name = ckr?.name ?? 'unknown';
  if (TOKEN_GONE.has(name)) {
    return cryptoError(CryptoErrorCode.RootUnavailable, `the PKCS#11 token is not available (${name}) during ${operation}`, { ckr: name, ...details });
  }
  if (name === 'CKR_KEY_HANDLE_INVALID' || name === 'CKR_OBJECT_HANDLE_INVALID') {
    return cryptoError(CryptoErrorCode.HsmObjectNotFound, `the token object used for ${operation} no longer exists`, { ckr: name, ...details });
  }
  if (BAD_CIPHERTEXT.has(name)) {
    return cryptoError(CryptoErrorCode.CiphertextInvalid, `${operation} failed: the ciphertext is not valid for this key`, { ckr: name, ...details });
  }
  if (NOT_SUPPORTED.has(name) || ckr?.code === CKR_CURVE_NOT_SUPPORTED) {
    return cryptoError(CryptoErrorCode.NotSupported, `the PKCS#11 token does not support ${operation} (${name})`, { ckr: name, ...details });
  }
  return cryptoError(CryptoErrorCode.HsmFailure, `PKCS#11 ${operation} failed (${name})`, { ckr: name, ...details });
}

/**
 * CKR values a token returns when authenticated decryption or unpadding fails. SoftHSM 2.6
 * reports a GCM tag mismatch and a bad OAEP block as CKR_GENERAL_ERROR (real HSMs use
 * CKR_ENCRYPTED_DATA_INVALID); `details.ckr` keeps the original for diagnosis.
 */
const DECRYPT_FAILURE = new Set(['CKR_ENCRYPTED_DATA_INVALID', 'CKR_ENCRYPTED_DATA_LEN_RANGE', 'CKR_DATA_INVALID', 'CKR_DATA_LEN_RANGE', 'CKR_GENERAL_ERROR']);

function decryptionError(e: unknown, operation: string, details: Readonly<Record<string, string | number | boolean>> = {}): Error {
  const name = ckrOf(e)?.name;
  if (!isDomainError(e) && name && DECRYPT_FAILURE.has(name)) {
    return cryptoError(CryptoErrorCode.CiphertextInvalid, `${operation} failed: the ciphertext is not valid for this key`, { ckr: name, ...details });
  }
  return operationError(e, operation, details);
}

// ---------------------------------------------------------------------------------------------
// Module registry: one initialized PKCS11 instance per module path per process (C_Initialize
// may only be called once; C_Finalize only when the last user closes).
// ---------------------------------------------------------------------------------------------

const modules = new Map<string, { lib: Pkcs11; users: number }>();

function acquireModule(modulePath: string): Pkcs11 {
  const existing = modules.get(modulePath);
  if (existing) {
    existing.users++;
    return existing.lib;
  }
  const lib = fencedModule(new pkcs11js.PKCS11());
  try {
    lib.load(modulePath);
  } catch {
    throw cryptoError(CryptoErrorCode.RootUnavailable, `the PKCS#11 module '${modulePath}' could not be loaded`, { modulePath });
  }
  try {
    lib.C_Initialize();
  } catch (e) {
    if (ckrOf(e)?.name !== 'CKR_CRYPTOKI_ALREADY_INITIALIZED') {
      try {
        lib.close();
      } catch {
        /* ignore */
      }
      const name = ckrOf(e)?.name ?? 'unknown';
      throw cryptoError(CryptoErrorCode.RootUnavailable, `the PKCS#11 module '${modulePath}' failed to initialize (${name})`, { modulePath, ckr: name });
    }
  }
  modules.set(modulePath, { lib, users: 1 });
  return lib;
}

function releaseModule(modulePath: string): void {
  const entry = modules.get(modulePath);
  if (!entry) return;
  entry.users--;
  if (entry.users > 0) return;
  modules.delete(modulePath);
  try {
    entry.lib.C_Finalize();
  } catch {
    /* already finalized */
  }
  try {
    entry.lib.close();
  } catch {
    /* ignore */
  }
}

// ---------------------------------------------------------------------------------------------
// Attribute helpers
// ---------------------------------------------------------------------------------------------

function readUlong(b: Buffer): number {
  if (b.length >= 8) return Number(b.readBigUInt64LE(0));
  if (b.length >= 4) return b.readUInt32LE(0);
  return b.length ? b[0] : 0;
}

function readBool(b: Buffer): boolean {
  return b.length > 0 && b[0] !== 0;
}

/** DER-encoded OID (as CKA_EC_PARAMS) of each supported curve. */
const EC_PARAMS: Readonly<Record<CurveName, Buffer>> = {
  'P-256': Buffer.from('06082a8648ce3d030107', 'hex'),
  'P-256K': Buffer.from('06052b8104000a', 'hex'),
  'P-384': Buffer.from('06052b81040022', 'hex'),
  'P-521': Buffer.from('06052b81040023', 'hex'),
};

function curveFromEcParams(params: Buffer): CurveName | undefined {
  for (const [crv, oid] of Object.entries(EC_PARAMS) as [CurveName, Buffer][]) if (oid.equals(params)) return crv;
  return undefined;
}

const FIELD_BYTES: Readonly<Record<CurveName, number>> = { 'P-256': 32, 'P-256K': 32, 'P-384': 48, 'P-521': 66 };

/** CKA_EC_POINT is a DER OCTET STRING holding the uncompressed point (some tokens return it raw). */
function decodeEcPoint(value: Buffer, crv: CurveName): { x: Buffer; y: Buffer } {
  const L = FIELD_BYTES[crv];
  let point = value;
  if (!(value.length === 1 + 2 * L && value[0] === 0x04)) {
    if (value[0] !== 0x04 || value.length < 2) throw cryptoError(CryptoErrorCode.HsmFailure, 'unexpected CKA_EC_POINT encoding');
    let len = value[1];
    let offset = 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      len = 0;
      for (let i = 0; i < n; i++) len = (len << 8) | value[2 + i];
      offset = 2 + n;
    }
    point = value.subarray(offset, offset + len);
  }
  if (point.length !== 1 + 2 * L || point[0] !== 0x04) throw cryptoError(CryptoErrorCode.HsmFailure, 'unexpected CKA_EC_POINT encoding');
  return { x: point.subarray(1, 1 + L), y: point.subarray(1 + L) };
}

/** Minimal big-endian unsigned encoding (JWK `n`, `e`). */
function stripLeadingZeros(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
}

const HASH_MECHANISM = { sha1: pkcs11js.CKM_SHA_1, sha256: pkcs11js.CKM_SHA256, sha384: pkcs11js.CKM_SHA384, sha512: pkcs11js.CKM_SHA512 } as const;
const MGF1 = { sha1: pkcs11js.CKG_MGF1_SHA1, sha256: pkcs11js.CKG_MGF1_SHA256, sha384: pkcs11js.CKG_MGF1_SHA384, sha512: pkcs11js.CKG_MGF1_SHA512 } as const;

// ---------------------------------------------------------------------------------------------
// The token
// ---------------------------------------------------------------------------------------------

export class Pkcs11Token {
  #lib: Pkcs11 | null;
  #session: Handle | null;
  readonly modulePath: string;
  readonly tokenLabel: string;
  /** @internal whether CKM_RSA_PKCS_OAEP accepts SHA-256 (SoftHSM 2.6 only does SHA-1); learned on first use. */
  oaepSha256Native: boolean | undefined = undefined;

  private constructor(lib: Pkcs11, session: Handle, modulePath: string, tokenLabel: string) {
    this.#lib = lib;
    this.#session = session;
    this.modulePath = modulePath;
    this.tokenLabel = tokenLabel;
  }

  /**
   * Loads the module, finds the token by label, opens an R/W session and logs in.
   * Failures are `RootUnavailable` with a message naming the module or token label (never the PIN).
   */
  static open(options: Pkcs11TokenOptions): Pkcs11Token {
    const { modulePath, tokenLabel, pin } = options;
    const lib = acquireModule(modulePath);
    let session: Handle | undefined;
    try {
      const slots = lib.C_GetSlotList(true).filter((slot) => lib.C_GetTokenInfo(slot).label.trimEnd() === tokenLabel);
      if (slots.length === 0) {
        throw cryptoError(CryptoErrorCode.RootUnavailable, `PKCS#11 token with label '${tokenLabel}' not found`, { tokenLabel });
      }
      if (slots.length > 1) {
        throw cryptoError(CryptoErrorCode.RootUnavailable, `more than one PKCS#11 token has the label '${tokenLabel}'`, { tokenLabel });
      }
      session = lib.C_OpenSession(slots[0], pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
      try {
        lib.C_Login(session, pkcs11js.CKU_USER, pin);
      } catch (e) {
        const name = ckrOf(e)?.name ?? 'unknown';
        if (name !== 'CKR_USER_ALREADY_LOGGED_IN') {
          const why =
            name === 'CKR_PIN_INCORRECT'
              ? 'the PIN is incorrect'
              : name === 'CKR_PIN_LOCKED'
                ? 'the PIN is locked'
                : name === 'CKR_PIN_LEN_RANGE' || name === 'CKR_PIN_INVALID'
                  ? 'the PIN is not acceptable to the token'
                  : `login failed (${name})`;
          throw cryptoError(CryptoErrorCode.RootUnavailable, `PKCS#11 login to token '${tokenLabel}' failed: ${why}`, { tokenLabel, ckr: name });
        }
      }
      return new Pkcs11Token(lib, session, modulePath, tokenLabel);
    } catch (e) {
      if (session) {
        try {
          lib.C_CloseSession(session);
        } catch {
          /* ignore */
        }
      }
      releaseModule(modulePath);
      if (isDomainError(e)) throw e;
      const name = ckrOf(e)?.name ?? 'unknown';
      throw cryptoError(CryptoErrorCode.RootUnavailable, `PKCS#11 token '${tokenLabel}' is not usable (${name})`, { tokenLabel, ckr: name });
    }
  }

  /** Logs out, closes the session and (for the last user of the module) finalizes it. */
  close(): void {
    const lib = this.#lib;
    const session = this.#session;
    this.#lib = null;
    this.#session = null;
    if (!lib || !session) return;
    try {
      lib.C_Logout(session);
    } catch {
      /* other sessions may still be logged in, or already logged out */
    }
    try {
      lib.C_CloseSession(session);
    } catch {
      /* ignore */
    }
    releaseModule(this.modulePath);
  }

  #use(): { lib: Pkcs11; session: Handle } {
    if (!this.#lib || !this.#session) {
      throw cryptoError(CryptoErrorCode.RootUnavailable, `the PKCS#11 session to token '${this.tokenLabel}' is closed`, { tokenLabel: this.tokenLabel });
    }
    return { lib: this.#lib, session: this.#session };
  }

  /** @internal */
  findObjects(template: Template, max = 10): Handle[] {
    const { lib, session } = this.#use();
    try {
      lib.C_FindObjectsInit(session, template);
      try {
        return lib.C_FindObjects(session, max);
      } finally {
        lib.C_FindObjectsFinal(session);
      }
    } catch (e) {
      throw operationError(e, 'object search');
    }
  }

  /** @internal */
  attributes(object: Handle, types: number[]): Buffer[] {
    const { lib, session } = this.#use();
    try {
      return lib.C_GetAttributeValue(session, object, types.map((type) => ({ type }))).map((a) => (a.value as Buffer | undefined) ?? Buffer.alloc(0));
    } catch (e) {
      throw operationError(e, 'attribute read');
    }
  }

  // ---- root key -----------------------------------------------------------------------------

  /**
   * Finds the AES-256 root key object by CKA_LABEL, or (when `createIfMissing`) generates one:
   * CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE true; CKA_EXTRACTABLE false; encrypt/decrypt only.
   * An existing object that is extractable, not sensitive, or not AES-256 is refused.
   */
  findOrCreateAesRootKey(keyLabel: string, createIfMissing: boolean): Handle {
    const found = this.findObjects([
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_LABEL, value: keyLabel },
    ]);
    if (found.length > 1) {
      throw cryptoError(CryptoErrorCode.RootUnavailable, `more than one root key object is labelled '${keyLabel}' in token '${this.tokenLabel}'`, { keyLabel });
    }
    if (found.length === 1) {
      const key = found[0];
      const [keyType, valueLen, extractable, sensitive] = this.attributes(key, [
        pkcs11js.CKA_KEY_TYPE, pkcs11js.CKA_VALUE_LEN, pkcs11js.CKA_EXTRACTABLE, pkcs11js.CKA_SENSITIVE,
      ]);
      if (readUlong(keyType) !== pkcs11js.CKK_AES || readUlong(valueLen) !== 32 || readBool(extractable) || !readBool(sensitive)) {
        throw cryptoError(
          CryptoErrorCode.RootUnavailable,
          `root key object '${keyLabel}' is not a sensitive, non-extractable AES-256 key; refusing to use it`,
          { keyLabel },
        );
      }
      return key;
    }
    if (!createIfMissing) {
      throw cryptoError(CryptoErrorCode.RootUnavailable, `root key '${keyLabel}' not found in token '${this.tokenLabel}'`, { keyLabel, tokenLabel: this.tokenLabel });
    }
    const { lib, session } = this.#use();
    try {
      return lib.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
        { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
        { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
        { type: pkcs11js.CKA_LABEL, value: keyLabel },
        { type: pkcs11js.CKA_ID, value: Buffer.from(keyLabel, 'utf8') },
        { type: pkcs11js.CKA_TOKEN, value: true },
        { type: pkcs11js.CKA_PRIVATE, value: true },
        { type: pkcs11js.CKA_SENSITIVE, value: true },
        { type: pkcs11js.CKA_EXTRACTABLE, value: false },
        { type: pkcs11js.CKA_ENCRYPT, value: true },
        { type: pkcs11js.CKA_DECRYPT, value: true },
        { type: pkcs11js.CKA_WRAP, value: false },
        { type: pkcs11js.CKA_UNWRAP, value: false },
        { type: pkcs11js.CKA_SIGN, value: false },
        { type: pkcs11js.CKA_VERIFY, value: false },
        { type: pkcs11js.CKA_DERIVE, value: false },
      ]);
    } catch (e) {
      throw operationError(e, 'root key generation', { keyLabel });
    }
  }

  /** AES-256-GCM encryption in the token; returns ciphertext ‖ 16-byte tag. */
  aesGcmEncrypt(key: Handle, iv: Buffer, aad: Buffer, plaintext: Buffer): Buffer {
    const { lib, session } = this.#use();
    try {
      lib.C_EncryptInit(session, this.#gcm(iv, aad), key);
      return lib.C_Encrypt(session, plaintext, Buffer.alloc(plaintext.length + 16));
    } catch (e) {
      throw operationError(e, 'AES-GCM encryption');
    }
  }

  /** AES-256-GCM decryption in the token of ciphertext ‖ tag; `CiphertextInvalid` when authentication fails. */
  aesGcmDecrypt(key: Handle, iv: Buffer, aad: Buffer, ciphertextAndTag: Buffer): Buffer {
    const { lib, session } = this.#use();
    try {
      lib.C_DecryptInit(session, this.#gcm(iv, aad), key);
      return lib.C_Decrypt(session, ciphertextAndTag, Buffer.alloc(ciphertextAndTag.length));
    } catch (e) {
      throw decryptionError(e, 'AES-GCM decryption');
    }
  }

  #gcm(iv: Buffer, aad: Buffer) {
    return {
      mechanism: pkcs11js.CKM_AES_GCM,
      parameter: { type: pkcs11js.CK_PARAMS_GCM, iv, ivBits: iv.length * 8, aad, tagBits: 128 },
    };
  }

  // ---- HSM key pairs ------------------------------------------------------------------------

  /** Generates an RSA key pair (e = 65537) in the token under CKA_ID/CKA_LABEL = `objectId`. */
  generateRsaKeyPair(objectId: string, modulusBits: RsaKeySize, options: HsmKeyOptions = {}): HsmKeyPair {
    if (!(RSA_KEY_SIZES as readonly number[]).includes(modulusBits)) {
      throw badParameter('KeySize', `RSA key size must be one of ${RSA_KEY_SIZES.join(', ')}`, { sizeBits: modulusBits });
    }
    return this.#generateKeyPair(
      objectId,
      pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN,
      pkcs11js.CKK_RSA,
      [
        { type: pkcs11js.CKA_MODULUS_BITS, value: modulusBits },
        { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: Buffer.from([0x01, 0x00, 0x01]) },
        { type: pkcs11js.CKA_VERIFY, value: true },
        { type: pkcs11js.CKA_ENCRYPT, value: true },
        { type: pkcs11js.CKA_WRAP, value: false },
      ],
      [{ type: pkcs11js.CKA_DECRYPT, value: true }],
      'RSA key pair generation',
      { objectId },
      options,
    );
  }

  /** Generates an EC key pair in the token under CKA_ID/CKA_LABEL = `objectId`. */
  generateEcKeyPair(objectId: string, crv: CurveName, options: HsmKeyOptions = {}): HsmKeyPair {
    const params = EC_PARAMS[crv];
    if (!params) throw badParameter('Curve', `unsupported curve '${String(crv).slice(0, 20)}'`);
    return this.#generateKeyPair(
      objectId,
      pkcs11js.CKM_EC_KEY_PAIR_GEN,
      pkcs11js.CKK_EC,
      [
        { type: pkcs11js.CKA_EC_PARAMS, value: params },
        { type: pkcs11js.CKA_VERIFY, value: true },
      ],
      [{ type: pkcs11js.CKA_DERIVE, value: false }],
      `EC ${crv} key pair generation`,
      { objectId, crv },
      options,
    );
  }

  /**
   * One generation path for every HSM key pair: the public half carries the id, class and
   * key type plus `publicAttrs`; the private half the id, the non-extractable template, the
   * key type and `privateAttrs`. Returns the pair found again by its id.
   */
  #generateKeyPair(
    objectId: string,
    mechanism: number,
    keyType: number,
    publicAttrs: pkcs11js.Template,
    privateAttrs: pkcs11js.Template,
    what: string,
    details: Record<string, string | number | boolean>,
    options: HsmKeyOptions,
  ): HsmKeyPair {
    this.#assertFreeId(objectId);
    const { lib, session } = this.#use();
    const common = this.#idTemplate(objectId);
    try {
      lib.C_GenerateKeyPair(
        session,
        { mechanism },
        [...common, { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY }, { type: pkcs11js.CKA_KEY_TYPE, value: keyType }, ...publicAttrs],
        [...common, ...this.#privateTemplate(options.extractableWrapped === true), { type: pkcs11js.CKA_KEY_TYPE, value: keyType }, ...privateAttrs],
      );
    } catch (e) {
      throw operationError(e, what, details);
    }
    return this.findKeyPair(objectId);
  }

  #idTemplate(objectId: string): Template {
    const id = Buffer.from(objectId ?? '', 'utf8');
    if (id.length === 0 || id.length > 255) throw badParameter('ObjectId', 'HSM object ids must be 1..255 bytes of UTF-8');
    return [
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_ID, value: id },
      { type: pkcs11js.CKA_LABEL, value: objectId },
    ];
  }

  #privateTemplate(extractableWrapped: boolean): Template {
    return [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
      { type: pkcs11js.CKA_PRIVATE, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: true },
      { type: pkcs11js.CKA_EXTRACTABLE, value: extractableWrapped },
      { type: pkcs11js.CKA_SIGN, value: true },
      { type: pkcs11js.CKA_UNWRAP, value: false },
    ];
  }

  #assertFreeId(objectId: string): void {
    if (this.findObjects([{ type: pkcs11js.CKA_ID, value: Buffer.from(objectId, 'utf8') }], 1).length > 0) {
      throw badParameter('ObjectId', `an object with id '${objectId}' already exists in the token`, { objectId });
    }
  }

  /** Looks up a key pair by CKA_ID; `HsmObjectNotFound` if absent. */
  findKeyPair(objectId: string): HsmKeyPair {
    const id = Buffer.from(objectId, 'utf8');
    const priv = this.findObjects([{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY }, { type: pkcs11js.CKA_ID, value: id }], 2);
    const pub = this.findObjects([{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY }, { type: pkcs11js.CKA_ID, value: id }], 2);
    if (priv.length !== 1 || pub.length !== 1) {
      throw cryptoError(CryptoErrorCode.HsmObjectNotFound, `no single HSM key pair with id '${objectId}' in token '${this.tokenLabel}'`, { objectId });
    }
    const [keyType] = this.attributes(priv[0], [pkcs11js.CKA_KEY_TYPE]);
    const kt = readUlong(keyType);
    if (kt === pkcs11js.CKK_RSA) {
      const [modulus, exponent] = this.attributes(pub[0], [pkcs11js.CKA_MODULUS, pkcs11js.CKA_PUBLIC_EXPONENT]);
      const n = stripLeadingZeros(modulus);
      const jwk: RsaPublicJwk = { kty: 'RSA', n: toBase64Url(n), e: toBase64Url(stripLeadingZeros(exponent)) };
      return new HsmKeyPair(this, objectId, priv[0], pub[0], { kty: 'RSA-HSM', sizeBits: n.length * 8 }, jwk);
    }
    if (kt === pkcs11js.CKK_EC) {
      const [params, point] = this.attributes(pub[0], [pkcs11js.CKA_EC_PARAMS, pkcs11js.CKA_EC_POINT]);
      const crv = curveFromEcParams(params);
      if (!crv) throw cryptoError(CryptoErrorCode.NotSupported, `HSM key '${objectId}' is on an unsupported curve`, { objectId });
      const { x, y } = decodeEcPoint(point, crv);
      const jwk: EcPublicJwk = { kty: 'EC', crv, x: toBase64Url(x), y: toBase64Url(y) };
      return new HsmKeyPair(this, objectId, priv[0], pub[0], { kty: 'EC-HSM', crv, sizeBits: CURVE_BITS[crv] }, jwk);
    }
    throw cryptoError(CryptoErrorCode.NotSupported, `HSM object '${objectId}' is not an RSA or EC key`, { objectId });
  }

  /** Destroys every object with this CKA_ID (crypto-shredding of an HSM key); returns how many. */
  destroyObjects(objectId: string): number {
    const { lib, session } = this.#use();
    const objects = this.findObjects([{ type: pkcs11js.CKA_ID, value: Buffer.from(objectId, 'utf8') }], 16);
    try {
      for (const o of objects) lib.C_DestroyObject(session, o);
    } catch (e) {
      throw operationError(e, 'object destruction', { objectId });
    }
    return objects.length;
  }

  /** @internal single-part sign. */
  signRaw(mechanism: pkcs11js.Mechanism, key: Handle, data: Buffer, maxOut: number): Buffer {
    const { lib, session } = this.#use();
    lib.C_SignInit(session, mechanism, key);
    return lib.C_Sign(session, data, Buffer.alloc(maxOut));
  }

  /** @internal single-part verify. */
  verifyRaw(mechanism: pkcs11js.Mechanism, key: Handle, data: Buffer, signature: Buffer): boolean {
    const { lib, session } = this.#use();
    lib.C_VerifyInit(session, mechanism, key);
    return lib.C_Verify(session, data, signature);
  }

  /** @internal single-part decrypt. */
  decryptRaw(mechanism: pkcs11js.Mechanism, key: Handle, data: Buffer, maxOut: number): Buffer {
    const { lib, session } = this.#use();
    lib.C_DecryptInit(session, mechanism, key);
    return lib.C_Decrypt(session, data, Buffer.alloc(maxOut));
  }
}

/** A non-extractable key pair inside the token. Every private operation runs in the token. */
export class HsmKeyPair {
  constructor(
    private readonly token: Pkcs11Token,
    readonly objectId: string,
    private readonly privateHandle: Handle,
    private readonly publicHandle: Handle,
    readonly descriptor: KeyDescriptor,
    private readonly jwk: RsaPublicJwk | EcPublicJwk,
  ) {}

  get kty(): 'RSA-HSM' | 'EC-HSM' {
    return this.descriptor.kty === 'EC-HSM' ? 'EC-HSM' : 'RSA-HSM';
  }

  /** Public key as a JWK (kty RSA/EC, Azure curve names). */
  publicJwk(): RsaPublicJwk | EcPublicJwk {
    return { ...this.jwk };
  }

  /** Signs a caller-supplied digest in the token (RS*: CKM_RSA_PKCS over DigestInfo; PS*: CKM_RSA_PKCS_PSS; ES*: CKM_ECDSA, raw r‖s). */
  sign(algorithm: string, digest: Uint8Array): Buffer {
    const scheme = checkSignature(algorithm, this.descriptor, digest.byteLength);
    const d = Buffer.from(digest);
    const maxOut = Math.ceil(this.descriptor.sizeBits / 8) * 2 + 16;
    try {
      switch (scheme.kind) {
        case 'pkcs1':
          return this.token.signRaw({ mechanism: pkcs11js.CKM_RSA_PKCS }, this.privateHandle, digestInfo(scheme.hash, d), maxOut);
        case 'pss':
          return this.token.signRaw(this.#pss(scheme.hash, scheme.digestBytes), this.privateHandle, d, maxOut);
        case 'ecdsa':
          return this.token.signRaw({ mechanism: pkcs11js.CKM_ECDSA }, this.privateHandle, d, maxOut);
        case 'hmac':
          break;
      }
    } catch (e) {
      throw operationError(e, `${algorithm} signing`, { objectId: this.objectId });
    }
    throw new Error('unreachable: HMAC on an HSM key pair');
  }

  /** Verifies a signature over a digest in the token; false for a wrong signature. */
  verify(algorithm: string, digest: Uint8Array, signature: Uint8Array): boolean {
    const scheme = checkSignature(algorithm, this.descriptor, digest.byteLength);
    const d = Buffer.from(digest);
    const s = Buffer.from(signature);
    try {
      switch (scheme.kind) {
        case 'pkcs1':
          return this.token.verifyRaw({ mechanism: pkcs11js.CKM_RSA_PKCS }, this.publicHandle, digestInfo(scheme.hash, d), s);
        case 'pss':
          return this.token.verifyRaw(this.#pss(scheme.hash, scheme.digestBytes), this.publicHandle, d, s);
        case 'ecdsa':
          return this.token.verifyRaw({ mechanism: pkcs11js.CKM_ECDSA }, this.publicHandle, d, s);
        case 'hmac':
          break;
      }
    } catch (e) {
      const name = ckrOf(e)?.name;
      if (name === 'CKR_SIGNATURE_INVALID' || name === 'CKR_SIGNATURE_LEN_RANGE') return false;
      throw operationError(e, `${algorithm} verification`, { objectId: this.objectId });
    }
    throw new Error('unreachable: HMAC on an HSM key pair');
  }

  #pss(hash: 'sha256' | 'sha384' | 'sha512', saltLen: number): pkcs11js.Mechanism {
    const parameter: pkcs11js.RsaPSS = { type: pkcs11js.CK_PARAMS_RSA_PSS, hashAlg: HASH_MECHANISM[hash], mgf: MGF1[hash], saltLen };
    return { mechanism: pkcs11js.CKM_RSA_PKCS_PSS, parameter };
  }

  /** RSA-OAEP (SHA-1) / RSA-OAEP-256 decryption in the token (CKM_RSA_PKCS_OAEP, MGF1 with the same hash, empty label). */
  decrypt(algorithm: string, ciphertext: Uint8Array): Buffer {
    if (algorithm === 'RSA1_5') {
      throw cryptoError(CryptoErrorCode.NotSupported, 'RSA1_5 decryption is disabled (Marvin attack); use RSA-OAEP or RSA-OAEP-256', { algorithm });
    }
    if (algorithm !== 'RSA-OAEP' && algorithm !== 'RSA-OAEP-256') {
      throw cryptoError(CryptoErrorCode.UnsupportedAlgorithm, `'${String(algorithm).slice(0, 40)}' is not a supported HSM decryption algorithm`, { operation: 'decrypt' });
    }
    if (this.descriptor.kty !== 'RSA-HSM') {
      throw cryptoError(CryptoErrorCode.AlgorithmNotAllowedForKey, `algorithm ${algorithm} cannot be used with this key: it needs an RSA key`, { algorithm, kty: this.descriptor.kty });
    }
    const k = Math.ceil(this.descriptor.sizeBits / 8);
    if (ciphertext.byteLength !== k) throw badParameter('InputLength', `${algorithm} ciphertext must be ${k} bytes for this key`, { algorithm });
    const hash = algorithm === 'RSA-OAEP' ? 'sha1' : 'sha256';
    const input = Buffer.from(ciphertext);
    const details = { objectId: this.objectId, algorithm };
    if (hash === 'sha1' || this.token.oaepSha256Native !== false) {
      const parameter: pkcs11js.RsaOAEP = { type: pkcs11js.CK_PARAMS_RSA_OAEP, hashAlg: HASH_MECHANISM[hash], mgf: MGF1[hash], source: CKZ_DATA_SPECIFIED };
      try {
        const out = this.token.decryptRaw({ mechanism: pkcs11js.CKM_RSA_PKCS_OAEP, parameter }, this.privateHandle, input, k);
        if (hash === 'sha256') this.token.oaepSha256Native = true;
        return out;
      } catch (e) {
        const name = ckrOf(e)?.name;
        const paramsRefused = name === 'CKR_ARGUMENTS_BAD' || name === 'CKR_MECHANISM_PARAM_INVALID';
        if (!(hash === 'sha256' && paramsRefused && this.token.oaepSha256Native === undefined)) throw decryptionError(e, `${algorithm} decryption`, details);
        this.token.oaepSha256Native = false;
      }
    }
    // The token has no OAEP with SHA-256: raw RSA (CKM_RSA_X_509) in the token, OAEP decoding here.
    let em: Buffer;
    try {
      em = this.token.decryptRaw({ mechanism: pkcs11js.CKM_RSA_X_509 }, this.privateHandle, input, k);
    } catch (e) {
      const err = decryptionError(e, `${algorithm} decryption`, details);
      if (isDomainError(err) && err.code === CryptoErrorCode.NotSupported) {
        throw cryptoError(CryptoErrorCode.NotSupported, `the PKCS#11 token supports neither OAEP with SHA-256 nor raw RSA: ${algorithm} is unavailable`, details);
      }
      throw err;
    }
    const padded = em.length === k ? em : Buffer.concat([Buffer.alloc(k - em.length), em]);
    const plain = oaepDecode('sha256', padded, k);
    zeroize(em, padded);
    if (!plain) throw cryptoError(CryptoErrorCode.CiphertextInvalid, `${algorithm} decryption failed: the ciphertext is not valid for this key`, details);
    return plain;
  }

  /** Destroys both objects in the token. */
  destroy(): void {
    this.token.destroyObjects(this.objectId);
  }
}
