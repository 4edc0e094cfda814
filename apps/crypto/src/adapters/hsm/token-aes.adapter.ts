import { randomBytes } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { checkEncryption, checkKeyWrap, DomainError, type KeyDescriptor } from '#libs/crypto-core';
import { aesKeyTemplate } from './token-import.adapter.js';
import { TokenSessions, type Pkcs11 } from './token-session.js';

export interface AesEncryptResult {
  readonly ciphertext: Buffer;
  readonly iv?: Buffer;
  readonly tag?: Buffer;
  readonly aad?: Buffer;
}

const DECRYPT_FAILED = new Set(['CKR_ENCRYPTED_DATA_INVALID', 'CKR_ENCRYPTED_DATA_LEN_RANGE', 'CKR_GENERAL_ERROR', 'CKR_WRAPPED_KEY_INVALID', 'CKR_WRAPPED_KEY_LEN_RANGE', 'CKR_DATA_INVALID']);

function badParameter(reason: string, message: string): DomainError {
  return new DomainError('BadParameter', message, { reason });
}

function failure(operation: string, decrypting: boolean) {
  return (ckr: string): Error => {
    if (decrypting && DECRYPT_FAILED.has(ckr)) return new DomainError('CiphertextInvalid', `${operation} failed: the ciphertext, iv, tag or aad is not valid for this key`, { ckr });
    if (ckr === 'CKR_DATA_LEN_RANGE') return badParameter('InputLength', `${operation}: the input length is not valid for this algorithm`);
    if (ckr === 'CKR_MECHANISM_INVALID' || ckr === 'CKR_MECHANISM_PARAM_INVALID') return new DomainError('NotSupported', `the PKCS#11 token does not support ${operation} (${ckr})`, { ckr });
    return new DomainError('HsmFailure', `PKCS#11 ${operation} failed (${ckr})`, { ckr });
  };
}

/** A session generic-secret object holding `value` (to wrap arbitrary bytes with C_WrapKey). */
function transientSecret(lib: Pkcs11, session: Buffer, value: Buffer): Buffer {
  return lib.C_CreateObject(session, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_GENERIC_SECRET },
    { type: pkcs11js.CKA_TOKEN, value: false },
    { type: pkcs11js.CKA_SENSITIVE, value: false },
    { type: pkcs11js.CKA_EXTRACTABLE, value: true },
    { type: pkcs11js.CKA_VALUE, value },
  ]);
}

/**
 * An AES key (oct-HSM) in the token: encrypt/decrypt with A*GCM, A*CBC, A*CBCPAD and
 * wrapKey/unwrapKey with A*KW, CKM_AES_KEY_WRAP(_PAD), all in the token. The key never
 * leaves it; HMAC (HS*) is not offered for token AES keys.
 *
 * Gap filled here: crypto-core's Pkcs11Token has no symmetric token keys.
 */
export class TokenSecretKey {
  readonly descriptor: KeyDescriptor;

  constructor(
    private readonly sessions: TokenSessions,
    readonly objectId: string,
    sizeBits: number,
  ) {
    this.descriptor = { kty: 'oct-HSM', sizeBits };
  }

  encrypt(algorithm: string, plaintext: Buffer, options: { iv?: Buffer; aad?: Buffer }): AesEncryptResult {
    const scheme = checkEncryption(algorithm, this.descriptor);
    if (scheme.family !== 'oct' || (scheme.kind !== 'gcm' && scheme.kind !== 'cbc' && scheme.kind !== 'cbcpad')) throw badParameter('Algorithm', `${algorithm} is not an AES encryption algorithm`);
    if (scheme.kind === 'gcm') {
      const iv = options.iv ?? randomBytes(12);
      if (iv.length !== 12) throw badParameter('IvLength', 'AES-GCM needs a 12-byte iv');
      const aad = options.aad ?? Buffer.alloc(0);
      const parameter: pkcs11js.GcmParams = { type: pkcs11js.CK_PARAMS_GCM, iv, ivBits: 96, aad, tagBits: 128 };
      const out = this.sessions.run(
        (lib, session) => {
          lib.C_EncryptInit(session, { mechanism: pkcs11js.CKM_AES_GCM, parameter }, this.handle(lib, session));
          return lib.C_Encrypt(session, plaintext, Buffer.alloc(plaintext.length + 16));
        },
        failure(`${algorithm} encryption`, false),
      );
      return { ciphertext: out.subarray(0, out.length - 16), iv, tag: out.subarray(out.length - 16), ...(aad.length > 0 ? { aad } : {}) };
    }
    if (options.aad) throw badParameter('UnexpectedParameter', `aad is not used by ${algorithm}`);
    const iv = options.iv ?? randomBytes(16);
    if (iv.length !== 16) throw badParameter('IvLength', 'AES-CBC needs a 16-byte iv');
    if (scheme.kind === 'cbc' && plaintext.length % 16 !== 0) throw badParameter('InputLength', `${algorithm} needs a plaintext whose length is a multiple of 16 bytes`);
    const mechanism = scheme.kind === 'cbc' ? pkcs11js.CKM_AES_CBC : pkcs11js.CKM_AES_CBC_PAD;
    const ciphertext = this.sessions.run(
      (lib, session) => {
        lib.C_EncryptInit(session, { mechanism, parameter: iv }, this.handle(lib, session));
        return lib.C_Encrypt(session, plaintext, Buffer.alloc(plaintext.length + 16));
      },
      failure(`${algorithm} encryption`, false),
    );
    return { ciphertext, iv };
  }

  decrypt(algorithm: string, ciphertext: Buffer, options: { iv?: Buffer; aad?: Buffer; tag?: Buffer }): Buffer {
    const scheme = checkEncryption(algorithm, this.descriptor);
    if (scheme.family !== 'oct' || (scheme.kind !== 'gcm' && scheme.kind !== 'cbc' && scheme.kind !== 'cbcpad')) throw badParameter('Algorithm', `${algorithm} is not an AES encryption algorithm`);
    if (scheme.kind === 'gcm') {
      if (options.iv?.length !== 12) throw badParameter('IvLength', 'AES-GCM needs a 12-byte iv');
      if (options.tag?.length !== 16) throw badParameter('TagLength', 'AES-GCM needs a 16-byte tag');
      const iv = options.iv;
      const aad = options.aad ?? Buffer.alloc(0);
      const input = Buffer.concat([ciphertext, options.tag]);
      const parameter: pkcs11js.GcmParams = { type: pkcs11js.CK_PARAMS_GCM, iv, ivBits: 96, aad, tagBits: 128 };
      return this.sessions.run(
        (lib, session) => {
          lib.C_DecryptInit(session, { mechanism: pkcs11js.CKM_AES_GCM, parameter }, this.handle(lib, session));
          return lib.C_Decrypt(session, input, Buffer.alloc(input.length));
        },
        failure(`${algorithm} decryption`, true),
      );
    }
    if (options.aad || options.tag) throw badParameter('UnexpectedParameter', `aad and tag are not used by ${algorithm}`);
    if (options.iv?.length !== 16) throw badParameter('IvLength', 'AES-CBC needs a 16-byte iv');
    if (ciphertext.length === 0 || ciphertext.length % 16 !== 0) throw badParameter('InputLength', `${algorithm} ciphertext must be a non-empty multiple of 16 bytes`);
    const iv = options.iv;
    const mechanism = scheme.kind === 'cbc' ? pkcs11js.CKM_AES_CBC : pkcs11js.CKM_AES_CBC_PAD;
    return this.sessions.run(
      (lib, session) => {
        lib.C_DecryptInit(session, { mechanism, parameter: iv }, this.handle(lib, session));
        return lib.C_Decrypt(session, ciphertext, Buffer.alloc(ciphertext.length));
      },
      failure(`${algorithm} decryption`, true),
    );
  }

  wrapKey(algorithm: string, key: Buffer): Buffer {
    const pad = this.wrapMode(algorithm);
    if (pad ? key.length === 0 : key.length < 16 || key.length % 8 !== 0) {
      throw badParameter('InputLength', pad ? 'the key to wrap must not be empty' : `${algorithm} wraps keys of at least 16 bytes, a multiple of 8`);
    }
    const wrapped = this.sessions.run(
      (lib, session) => {
        const transient = transientSecret(lib, session, key);
        try {
          return lib.C_WrapKey(session, { mechanism: pad ? pkcs11js.CKM_AES_KEY_WRAP_PAD : pkcs11js.CKM_AES_KEY_WRAP }, this.handle(lib, session), transient, Buffer.alloc(key.length + 16));
        } finally {
          lib.C_DestroyObject(session, transient);
        }
      },
      failure(`${algorithm} key wrap`, false),
    );
    // SoftHSM 2.6 zero-pads the key before CKM_AES_KEY_WRAP_PAD (its blob says length 8k, not
    // RFC 5649's exact length): check that the blob unwraps to exactly the input.
    if (pad && key.length % 8 !== 0 && !this.unwrapKey(algorithm, wrapped).equals(key)) {
      throw new DomainError('NotSupported', `this token's ${algorithm} does not follow RFC 5649 for keys whose length is not a multiple of 8 bytes`);
    }
    return wrapped;
  }

  unwrapKey(algorithm: string, wrapped: Buffer): Buffer {
    const pad = this.wrapMode(algorithm);
    if (wrapped.length < (pad ? 16 : 24) || wrapped.length % 8 !== 0) throw badParameter('InputLength', `${algorithm} wrapped keys are at least ${pad ? 16 : 24} bytes, a multiple of 8`);
    return this.sessions.run(
      (lib, session) => {
        const transient = lib.C_UnwrapKey(session, { mechanism: pad ? pkcs11js.CKM_AES_KEY_WRAP_PAD : pkcs11js.CKM_AES_KEY_WRAP }, this.handle(lib, session), wrapped, [
          { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
          { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_GENERIC_SECRET },
          { type: pkcs11js.CKA_TOKEN, value: false },
          { type: pkcs11js.CKA_SENSITIVE, value: false },
          { type: pkcs11js.CKA_EXTRACTABLE, value: true },
        ]);
        try {
          const [attr] = lib.C_GetAttributeValue(session, transient, [{ type: pkcs11js.CKA_VALUE }]);
          return Buffer.from((attr?.value as Buffer | undefined) ?? Buffer.alloc(0));
        } finally {
          lib.C_DestroyObject(session, transient);
        }
      },
      failure(`${algorithm} key unwrap`, true),
    );
  }

  private wrapMode(algorithm: string): boolean {
    const scheme = checkKeyWrap(algorithm, this.descriptor);
    if (scheme.family !== 'oct' || (scheme.kind !== 'kw' && scheme.kind !== 'kwp')) throw badParameter('Algorithm', `${algorithm} is not an AES key wrap algorithm`);
    return scheme.kind === 'kwp';
  }

  private handle(lib: Pkcs11, session: Buffer): Buffer {
    return TokenSessions.findSecretKey(lib, session, this.objectId);
  }
}

/** Generates AES keys (oct-HSM) in the token as sensitive objects (extractable only wrapped, for backups, when `backupable`). */
export class TokenAesAdapter {
  constructor(
    private readonly sessions: TokenSessions,
    private readonly backupable: boolean,
  ) {}

  generate(objectId: string, sizeBits: 128 | 192 | 256): TokenSecretKey {
    this.sessions.run(
      (lib, session) =>
        lib.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
          { type: pkcs11js.CKA_TOKEN, value: true },
          { type: pkcs11js.CKA_ID, value: Buffer.from(objectId, 'utf8') },
          { type: pkcs11js.CKA_LABEL, value: objectId },
          ...aesKeyTemplate(sizeBits / 8, this.backupable),
        ]),
      failure('AES key generation', false),
    );
    return this.key(objectId, sizeBits);
  }

  key(objectId: string, sizeBits: number): TokenSecretKey {
    return new TokenSecretKey(this.sessions, objectId, sizeBits);
  }
}
