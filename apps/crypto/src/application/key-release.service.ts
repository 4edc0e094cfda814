import { createPublicKey, type KeyObject } from 'node:crypto';
import { badParameter, ErrorCode, serviceError } from '../domain/crypto.errors.js';
import { isReleaseEncryption, releaseMaterialOf, RELEASE_ENCRYPTIONS, wrapForRelease, type ReleaseEncryption } from '../domain/key-release.wrap.js';
import { canonicalRef, type RefInput } from '../domain/object-ref.js';
import type { KeyDirectory } from './key-directory.js';
import type { KeyMaterialService } from './key-material.service.js';
import type { AuditScope, CallerContext } from './operation-auditor.js';
import type { RootKeyService } from './root-key.service.js';

export interface ReleaseKeyInput {
  readonly ctx?: CallerContext | null;
  readonly ref?: RefInput | null;
  /** Azure's `enc`: CKM_RSA_AES_KEY_WRAP | RSA_AES_KEY_WRAP_256 | RSA_AES_KEY_WRAP_384. */
  readonly enc?: string | null;
  /** The attested RSA public key (SubjectPublicKeyInfo DER) the material is wrapped for. */
  readonly targetKey?: Buffer | null;
}

export interface ReleaseKeyOutput {
  readonly kidVersion: string;
  /** RSA-OAEP(target, ephemeral AES key) || AES-KWP(ephemeral, material). */
  readonly wrapped: Buffer;
}

const MIN_TARGET_BITS = 2048;

/**
 * Secure key release, the crypto half: the vault has verified the attestation and evaluated
 * the release policy; this service checks the key itself (exists, enabled, nbf/exp, exportable)
 * and exports the material of an exportable software key wrapped for the attested public key
 * (see key-release.wrap.ts). HSM keys are refused (NotSupported): the token's keys are created
 * non-extractable. The plaintext material never leaves this function unwrapped; it is zeroed.
 */
export class KeyReleaseService {
  constructor(
    private readonly directory: KeyDirectory,
    private readonly material: KeyMaterialService,
    private readonly root: RootKeyService,
  ) {}

  async release(input: ReleaseKeyInput, scope: AuditScope): Promise<ReleaseKeyOutput> {
    this.root.root();
    const ref = canonicalRef(input.ref, 'keys', 'optional');
    scope.ref = ref;
    const enc = input.enc ?? '';
    if (!isReleaseEncryption(enc)) throw badParameter(`enc must be one of ${RELEASE_ENCRYPTIONS.join(', ')}`, { field: 'enc' });
    scope.algorithm = enc;
    const target = targetKeyOf(input.targetKey);

    const record = await this.directory.find(ref.tenant, ref.vault, ref.name, ref.version);
    if (!record) throw serviceError(ErrorCode.KeyNotFound, ref.version === '' ? 'the key does not exist' : 'the key version does not exist');
    scope.ref = { ...ref, version: record.version };
    scope.hsm = record.hsm;
    const now = Math.floor(Date.now() / 1000);
    if (!record.enabled) throw serviceError(ErrorCode.KeyDisabled, 'the key is disabled');
    if (record.notBefore !== null && now < record.notBefore) throw serviceError(ErrorCode.KeyNotYetValid, 'the key is not yet valid (nbf)');
    if (record.expires !== null && now >= record.expires) throw serviceError(ErrorCode.KeyExpired, 'the key has expired (exp)');
    if (!record.exportable) throw serviceError(ErrorCode.KeyOperationNotAllowed, 'the key is not exportable', { operation: 'release' });
    if (record.hsm) throw serviceError(ErrorCode.NotSupported, 'release of HSM-protected keys is not supported: token keys are not extractable');

    const plain = await this.material.openPrivateJwk(record);
    let material: Buffer | undefined;
    try {
      const jwk = JSON.parse(plain.toString('utf8')) as { kty: string; k?: string } & Record<string, unknown>;
      material = releaseMaterialOf(jwk);
      return { kidVersion: record.version, wrapped: wrapForRelease(material, target, enc as ReleaseEncryption) };
    } finally {
      plain.fill(0);
      material?.fill(0);
    }
  }
}

function targetKeyOf(der: Buffer | null | undefined): KeyObject {
  if (!der || der.length === 0) throw badParameter('the target public key is required', { field: 'targetKey' });
  let key: KeyObject;
  try {
    key = createPublicKey({ key: der, format: 'der', type: 'spki' });
  } catch {
    throw badParameter('the target public key is not a SubjectPublicKeyInfo', { field: 'targetKey' });
  }
  if (key.asymmetricKeyType !== 'rsa' || (key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_TARGET_BITS) {
    throw badParameter(`the target public key must be an RSA key of at least ${MIN_TARGET_BITS} bits`, { field: 'targetKey' });
  }
  return key;
}
