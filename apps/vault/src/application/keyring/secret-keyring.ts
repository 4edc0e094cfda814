/**
 * What the vault needs from the crypto service for secrets (the envelope-encryption half of
 * `keyledger.crypto.v1.Crypto`): per-secret data keys, crypto-shredding, and backup sealing.
 * The production implementation is the gRPC client (adapters/grpc); tests may use an
 * in-memory one. Plaintext key bytes returned here are the caller's to zero.
 */

/** The object a data key is bound to (crypto's AAD). `version` names the key's incarnation. */
export type ObjectRef = {
  readonly tenant: string;
  readonly vault: string;
  readonly collection: 'secrets' | 'keys' | 'certificates';
  readonly name: string;
  readonly version: string;
};

/** Who asked, as the vault verified it: crypto copies it into its own audit record. */
export type CallContext = {
  readonly tenantId: string;
  readonly objectId: string;
  readonly appId: string;
  readonly callerIp: string;
  readonly correlationId: string;
  readonly requestUri: string;
  readonly operationName: string;
};

/** Codes keyring failures carry (DomainError codes); the HTTP adapter maps them to Azure answers. */
export const KeyringErrorCode = {
  /** Crypto unreachable, sealed, or its audit unavailable: 503, retry later. */
  Unavailable: 'CryptoUnavailable',
  /** The data key was destroyed (purged meanwhile) or never existed. */
  DataKeyNotFound: 'DataKeyNotFound',
  /** Crypto refused the input (a malformed backup blob above all). */
  Rejected: 'CryptoRejected',
  /** Anything else: an internal error. */
  Failure: 'CryptoFailure',
} as const;

export type GeneratedDataKey = { readonly keyId: string; readonly plaintext: Buffer };

export interface SecretKeyring {
  generateDataKey(ref: ObjectRef, ctx: CallContext): Promise<GeneratedDataKey>;
  decryptDataKey(ref: ObjectRef, keyId: string, ctx: CallContext): Promise<Buffer>;
  /** Crypto-shredding: afterwards no ciphertext under these keys can be opened. */
  destroyDataKeys(ref: ObjectRef, keyIds: readonly string[], ctx: CallContext): Promise<number>;
  /** Seals a backup payload under a key only deployments holding the same root can derive. */
  sealBackup(purpose: string, payload: Buffer, ctx: CallContext): Promise<Buffer>;
  openBackup(purpose: string, blob: Buffer, ctx: CallContext): Promise<Buffer>;
  /** Reachability for /health; resolves with a short description. */
  health(): Promise<string>;
  close(): void;
}
