/**
 * TypeScript shapes of `keyledger.crypto.v1` (libs/contracts/proto/keyledger/crypto/v1/crypto.proto)
 * as both ends load it (`CRYPTO_PROTO_LOADER_OPTIONS`): field names in camelCase, bytes as
 * Buffer, int64 as number (unix seconds), absent strings as '' and absent messages as null.
 *
 * Requests: optional fields may be left out. Responses: every field is present.
 */

/** Who asked, as the calling service verified it. Crypto copies it into its audit record. */
export interface CallContext {
  /** The caller's tenant (token `tid`). */
  readonly tenantId: string;
  /** The caller's object id (token `oid`). */
  readonly objectId?: string;
  /** The caller's application id (token `appid`). */
  readonly appId?: string;
  readonly callerIp?: string;
  readonly correlationId?: string;
  /** The client's request (for the audit record), e.g. `https://dev.vault.localhost:8443/keys/k1/sign`. */
  readonly requestUri?: string;
  /** The calling service's name for the request, e.g. `KeySign`, `SecretGet`. */
  readonly operationName?: string;
}

export type Collection = 'secrets' | 'keys' | 'certificates';

/**
 * The object a key or data key belongs to; bound into ciphertexts as additional
 * authenticated data. Crypto lower-cases every field (Azure names are case-insensitive).
 * `version` may be '' where the RPC says "latest".
 */
export interface ObjectRef {
  readonly tenant: string;
  readonly vault: string;
  readonly collection: Collection | string;
  readonly name: string;
  readonly version?: string;
}

// ---------- envelope encryption (secret values) ----------

export interface GenerateDataKeyRequest {
  readonly ctx: CallContext;
  /** The object version the data key will encrypt (full ref, version required). */
  readonly ref: ObjectRef;
}
export interface GenerateDataKeyResponse {
  /** Store it beside the ciphertext; needed to decrypt and to destroy. */
  readonly keyId: string;
  /** 32-byte AES-256 key. Use it, then zero it (`plaintext.fill(0)`). */
  readonly plaintext: Buffer;
}

export interface DecryptDataKeyRequest {
  readonly ctx: CallContext;
  /** The same ref the data key was generated for; another ref fails with CiphertextInvalid. */
  readonly ref: ObjectRef;
  readonly keyId: string;
}
export interface DecryptDataKeyResponse {
  readonly plaintext: Buffer;
}

/** Crypto-shredding (purge). `keyIds` empty: every data key of `ref` (all versions when `ref.version` is ''). */
export interface DestroyDataKeysRequest {
  readonly ctx: CallContext;
  readonly ref: ObjectRef;
  readonly keyIds?: readonly string[];
}
export interface DestroyDataKeysResponse {
  readonly destroyed: number;
}

// ---------- backup blobs ----------

/** `purpose` is bound into the blob: open it with the same purpose (e.g. `keyledger/key-backup/v1`). */
export interface SealBackupRequest {
  readonly ctx: CallContext;
  readonly purpose: string;
  readonly payload: Buffer;
}
export interface SealBackupResponse {
  readonly blob: Buffer;
}
export interface OpenBackupRequest {
  readonly ctx: CallContext;
  readonly purpose: string;
  readonly blob: Buffer;
}
export interface OpenBackupResponse {
  readonly payload: Buffer;
}

// ---------- keys ----------

/** Azure key types; the `-HSM` ones are generated in the PKCS#11 token. */
export type KeyType = 'RSA' | 'RSA-HSM' | 'EC' | 'EC-HSM' | 'oct' | 'oct-HSM';
/** Azure key operations (`key_ops`). */
export type KeyOperation = 'encrypt' | 'decrypt' | 'sign' | 'verify' | 'wrapKey' | 'unwrapKey' | 'import' | 'export';

export interface KeyAttributes {
  readonly enabled: boolean;
  /** Unix seconds; 0 = unset. */
  readonly notBefore: number;
  /** Unix seconds; 0 = unset. */
  readonly expires: number;
  readonly exportable: boolean;
}

/** Attributes in a request: `enabled` is required (proto3 cannot tell false from absent); 0 / absent = unset. */
export interface KeyAttributesInput {
  readonly enabled: boolean;
  readonly notBefore?: number;
  readonly expires?: number;
  readonly exportable?: boolean;
}

/** Public parts of a key. Byte fields are raw bytes (base64url-encode them for Azure's JWK). */
export interface JsonWebKey {
  /** RSA, RSA-HSM, EC, EC-HSM, oct, oct-HSM. */
  readonly kty: string;
  readonly keyOps: string[];
  readonly n: Buffer;
  readonly e: Buffer;
  readonly crv: string;
  readonly x: Buffer;
  readonly y: Buffer;
}

export interface KeyVersion {
  /** The canonical (lower-cased) ref, with the version. */
  readonly ref: Required<ObjectRef>;
  readonly key: JsonWebKey;
  readonly attributes: KeyAttributes;
  readonly hsm: boolean;
  /** Unix seconds. */
  readonly created: number;
  readonly updated: number;
  /** Unix seconds of the key's soft delete; 0 while live. */
  readonly deleted: number;
}

export interface CreateKeyRequest {
  readonly ctx: CallContext;
  /** `version` is assigned by the caller: 32 lower-case hex characters. */
  readonly ref: ObjectRef;
  readonly kty: KeyType | string;
  /** RSA: 2048 (default), 3072, 4096; oct: 128, 192, 256 (default). */
  readonly keySize?: number;
  /** EC: P-256 (default), P-256K, P-384, P-521. */
  readonly crv?: string;
  /** Empty: Azure's defaults for the key type. */
  readonly keyOps?: readonly (KeyOperation | string)[];
  /** Absent: enabled, no nbf/exp. */
  readonly attributes?: KeyAttributesInput;
}

export interface ImportKeyRequest {
  readonly ctx: CallContext;
  readonly ref: ObjectRef;
  /**
   * An Azure JWK as JSON text (base64url fields) with its private parts, or with `key_hsm`
   * holding a `.byok` transfer blob (BYOK) made for a key of this vault with key_ops ["import"].
   */
  readonly jwkJson: string;
  readonly hsm?: boolean;
  /** Absent: enabled, no nbf/exp. */
  readonly attributes?: KeyAttributesInput;
  /** Empty: the JWK's own `key_ops`, else Azure's defaults. */
  readonly keyOps?: readonly (KeyOperation | string)[];
}

/** `ref.version` '' = the latest version. */
export interface GetKeyRequest {
  readonly ctx: CallContext;
  readonly ref: ObjectRef;
  /** Read a soft-deleted key (NOT_FOUND while it is live). */
  readonly deleted?: boolean;
}
export interface KeyResponse {
  readonly key: KeyVersion;
}

/**
 * Replaces the version's attributes (when given) and key_ops (when non-empty); the caller
 * merges partial Azure updates. `ref.version` '' = the latest version.
 */
export interface UpdateKeyRequest {
  readonly ctx: CallContext;
  readonly ref: ObjectRef;
  /** Absent: unchanged; present: replaces enabled, notBefore, expires. */
  readonly attributes?: KeyAttributesInput;
  readonly keyOps?: readonly (KeyOperation | string)[];
}

/**
 * encrypt/decrypt/wrapKey/unwrapKey/sign/verify. `ref.version` '' = the latest version.
 * `value`: plaintext, ciphertext, the key to wrap, or the digest to sign/verify (never hashed again).
 */
export interface KeyOperationRequest {
  readonly ctx: CallContext;
  readonly ref: ObjectRef;
  /** Azure names: RSA-OAEP, RSA-OAEP-256, RSA1_5, A256GCM, A256CBCPAD, A256KW, RS256, PS256, ES256K, HS256, ... */
  readonly algorithm: string;
  readonly value: Buffer;
  readonly iv?: Buffer;
  readonly aad?: Buffer;
  readonly tag?: Buffer;
  /** verify only. */
  readonly signature?: Buffer;
}
export interface KeyOperationResponse {
  /** The version that did the work (resolves '' = latest). */
  readonly kidVersion: string;
  /** Ciphertext / plaintext / signature / wrapped or unwrapped key; empty for verify. */
  readonly result: Buffer;
  /** AES encrypt: the iv used. */
  readonly iv: Buffer;
  /** AES-GCM encrypt: the 16-byte tag. */
  readonly tag: Buffer;
  /** AES-GCM encrypt: the aad bound. */
  readonly aad: Buffer;
  /** verify only. */
  readonly valid: boolean;
}

export interface RandomBytesRequest {
  readonly ctx: CallContext;
  /** 1..128 */
  readonly count: number;
}
export interface RandomBytesResponse {
  readonly value: Buffer;
}

/** Purge: destroys every version of `ref.name` (software material and token objects). */
export interface DestroyKeyRequest {
  readonly ctx: CallContext;
  readonly ref: ObjectRef;
}
export interface DestroyKeyResponse {
  readonly destroyed: number;
}

/** Soft delete of every version of `ref.name`: out of use (NOT_FOUND) until recovered or purged (destroyKey). */
export interface DeleteKeyRequest {
  readonly ctx: CallContext;
  readonly ref: ObjectRef;
}
export interface DeleteKeyResponse {
  /** Unix seconds. */
  readonly deleted: number;
  readonly versions: number;
}
export interface RecoverKeyRequest {
  readonly ctx: CallContext;
  readonly ref: ObjectRef;
}

/** A blob with every version of `ref.name`, restorable only by a deployment holding the same root (and token, for HSM keys). */
export interface BackupKeyRequest {
  readonly ctx: CallContext;
  readonly ref: ObjectRef;
}
export interface BackupKeyResponse {
  readonly blob: Buffer;
}
/** Restores into `ref.tenant`/`ref.vault` under the key's own name (`ref.name` optional, must match); KeyConflict if the name is taken. */
export interface RestoreKeyRequest {
  readonly ctx: CallContext;
  readonly ref: ObjectRef;
  readonly blob: Buffer;
}
export interface RestoreKeyResponse {
  /** The latest version. */
  readonly key: KeyVersion;
  readonly versions: string[];
}

/** Secure key release: the material of an exportable software key wrapped for `targetKey` (SPKI DER of an RSA key). */
export interface ReleaseKeyRequest {
  readonly ctx: CallContext;
  readonly ref: ObjectRef;
  /** CKM_RSA_AES_KEY_WRAP | RSA_AES_KEY_WRAP_256 | RSA_AES_KEY_WRAP_384. */
  readonly enc: string;
  readonly targetKey: Buffer;
}
export interface ReleaseKeyResponse {
  readonly kidVersion: string;
  /** RSA-OAEP(target, ephemeral AES-256 key) || AES-KWP(ephemeral, material). */
  readonly wrapped: Buffer;
}

export type HealthRequest = Record<string, never>;
export interface HealthResponse {
  readonly sealed: boolean;
  /** `pkcs11:<token label>/<key label>` or `dev:<key check value>`; '' while sealed. */
  readonly root: string;
  /** Why it is sealed ('' when unsealed). */
  readonly reason: string;
}

/** The key operations a batch can carry (the unary RPC of the same name, per item). */
export type KeyOperationName = 'encrypt' | 'decrypt' | 'wrapKey' | 'unwrapKey' | 'sign' | 'verify';
/** Largest number of items in one `keyOperationBatch` call. */
export const KEY_OPERATION_BATCH_MAX_ITEMS = 1000;
/**
 * Many operations of one kind in one call: each item is run and audited on its own (its own
 * record, with its own ctx); the records commit together before the response leaves.
 */
export interface KeyOperationBatchRequest {
  readonly operation: KeyOperationName;
  readonly items: readonly KeyOperationRequest[];
}
/** One item's outcome: `response` when `errorCode` is '' (else null), in item order. */
export interface KeyOperationBatchResult {
  readonly response: KeyOperationResponse | null;
  /** A `CryptoErrorCode` ('' = success). */
  readonly errorCode: string;
  readonly errorMessage: string;
}
/** The call fails as a whole (AuditUnavailable, no result, no record) if the items' audit records could not be made durable. */
export interface KeyOperationBatchResponse {
  readonly results: KeyOperationBatchResult[];
}
