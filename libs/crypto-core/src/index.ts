/**
 * @module crypto-core — Keyledger's pure cryptographic core (no I/O except the PKCS#11 token).
 *
 * - `envelope`: self-describing AES-256-GCM ciphertext bound to an object identity.
 * - `key-hierarchy`: RootKey (DevRootKey from an unseal secret, Pkcs11RootKey in an HSM) →
 *   per-vault KEK → per-object data key (GenerateDataKey style).
 * - `software-key`: Azure Key Vault operations on software RSA / EC / oct keys with Azure's
 *   exact algorithm names and byte formats, on reusable `SoftwareKey` handles.
 * - `pkcs11-token` / `pkcs11-root`: typed PKCS#11 wrapper (SoftHSM2 locally), HSM root key and
 *   non-extractable HSM key pairs.
 * - `byok`: Azure BYOK transfer blob (CKM_RSA_AES_KEY_WRAP) import.
 *
 * Errors are `DomainError`s (from `#libs/kernel`) with these stable codes; messages never
 * carry key material, plaintext, digests, PINs or secrets:
 *
 * | code                        | meaning                                                                  | suggested Azure wire mapping |
 * |-----------------------------|--------------------------------------------------------------------------|------------------------------|
 * | `BadParameter`              | malformed/out-of-range input; `details.reason` ∈ DigestLength, IvLength,  | 400 BadParameter             |
 * |                             | TagLength, InputLength, KeySize, Curve, MalformedKey, MalformedByok,      |                              |
 * |                             | Encoding, Identity, KeyId, Count, UnexpectedParameter, UnsealSecret,      |                              |
 * |                             | KeyType, KeyDestroyed, Context                                            |                              |
 * | `UnsupportedAlgorithm`      | not one of Azure's algorithm names for this operation                     | 400 BadParameter             |
 * | `AlgorithmNotAllowedForKey` | known algorithm, wrong key type / curve / key size                       | 400 BadParameter             |
 * | `NotSupported`              | valid, but not available in this runtime or token (RSA1_5 decrypt on      | 400 BadParameter (or 501)    |
 * |                             | Node 20; a curve the token lacks)                                         |                              |
 * | `CiphertextInvalid`         | authentication / unwrap integrity / padding failure, malformed envelope,  | 400 BadParameter             |
 * |                             | ciphertext moved to another identity or key id                           |                              |
 * | `RootUnavailable`           | root key unusable: PKCS#11 module, token missing, PIN wrong, root object | 503 (service sealed)         |
 * |                             | unusable, or a destroyed (sealed) in-memory root/KEK                     |                              |
 * | `HsmObjectNotFound`         | no token object with that id                                             | 500 (state inconsistent)     |
 * | `HsmFailure`                | any other PKCS#11 error; `details.ckr` = CKR_* name                      | 500                          |
 */
export { CryptoErrorCode, DomainError, isDomainError, type CryptoErrorDetails } from './crypto.errors.js';

export {
  ContextPurpose,
  ENVELOPE_FORMAT_V1,
  ENVELOPE_NONCE_BYTES,
  ENVELOPE_TAG_BYTES,
  encodeContext,
  encodeEnvelopeHeader,
  encodeObjectIdentity,
  open,
  openWithContext,
  parseEnvelope,
  peekKeyId,
  seal,
  sealWithContext,
  type EnvelopeKey,
  type ObjectIdentity,
  type OpenOptions,
  type ParsedEnvelope,
} from './envelope.js';

export {
  createVaultKek,
  DEV_ROOT_HKDF,
  DevRootKey,
  encodeVaultKekContext,
  generateDataKey,
  unwrapDataKey,
  unwrapVaultKek,
  VaultKek,
  type DataKey,
  type RootKey,
  type VaultRef,
  type WrappedVaultKek,
} from './key-hierarchy.js';

export {
  checkEncryption,
  checkKeyWrap,
  checkSignature,
  CURVES,
  ENCRYPTION_ALGORITHMS,
  KEY_WRAP_ALGORITHMS,
  keyFamily,
  OCT_KEY_SIZES,
  parseEncryptionAlgorithm,
  parseKeyWrapAlgorithm,
  parseSignatureAlgorithm,
  RSA_KEY_SIZES,
  SIGNATURE_ALGORITHMS,
  SIGNATURE_SCHEMES,
  type AzureKeyType,
  type CurveName,
  type EncryptionAlgorithm,
  type KeyDescriptor,
  type KeyFamily,
  type KeyWrapAlgorithm,
  type OctKeySize,
  type RsaKeySize,
  type SignatureAlgorithm,
} from './algorithms.js';

export {
  generateSoftwareKey,
  getRandomBytes,
  isRsa15DecryptSupported,
  loadSoftwareKey,
  publicKeyObjectFromJwk,
  SoftwareKey,
  type DecryptOptions,
  type EcPrivateJwk,
  type EcPublicJwk,
  type EncryptOptions,
  type EncryptResult,
  type OctPrivateJwk,
  type OctPublicJwk,
  type PrivateJwk,
  type PublicJwk,
  type RsaPrivateJwk,
  type RsaPublicJwk,
  type SoftwareKeySpec,
} from './software-key.js';

export {
  BYOK_ENC,
  BYOK_SCHEMA_VERSION,
  byokKidMatches,
  createByokTransferBlob,
  parseByokBlob,
  softwareKeyExchangeKey,
  unwrapByokBlob,
  type ByokKeyExchangeKey,
  type ByokTransferBlob,
} from './byok.js';

export { ckrOf, HsmKeyPair, Pkcs11Token, type HsmKeyOptions, type Pkcs11TokenOptions } from './pkcs11-token.js';
export { Pkcs11RootKey, type Pkcs11RootOptions } from './pkcs11-root.js';

export { combineShares, gfInv, gfMul, splitSecret, type SecretShare } from './shamir.js';
