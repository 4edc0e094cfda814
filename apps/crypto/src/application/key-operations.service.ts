import { constants, publicEncrypt } from 'node:crypto';
import { checkEncryption, checkKeyWrap, getRandomBytes, publicKeyObjectFromJwk, type SoftwareKey } from '#libs/crypto-core';
import { TokenKey } from '../adapters/hsm/hsm-keys.adapter.js';
import type { TokenSecretKey } from '../adapters/hsm/token-aes.adapter.js';
import type { RsaWorkerPool } from '../adapters/workers/rsa-worker.pool.js';
import type { WorkerOperation } from '../adapters/workers/rsa-worker.protocol.js';
import { badParameter } from '../domain/crypto.errors.js';
import { assertKeyUsable, type KeyUse } from '../domain/key.model.js';
import { canonicalRef, type RefInput } from '../domain/object-ref.js';
import type { KeyDirectory } from './key-directory.js';
import type { KeyMaterialService } from './key-material.service.js';
import type { AuditScope, CallerContext } from './operation-auditor.js';
import type { RootKeyService } from './root-key.service.js';
import { ErrorCode, serviceError } from '../domain/crypto.errors.js';

export type KeyOperation = Exclude<KeyUse, 'import'>;

export interface KeyOperationInput {
  readonly ctx?: CallerContext | null;
  readonly ref?: RefInput | null;
  readonly algorithm?: string | null;
  readonly value?: Buffer | null;
  readonly iv?: Buffer | null;
  readonly aad?: Buffer | null;
  readonly tag?: Buffer | null;
  readonly signature?: Buffer | null;
}

export interface KeyOperationOutput {
  readonly kidVersion: string;
  readonly result: Buffer;
  readonly iv: Buffer;
  readonly tag: Buffer;
  readonly aad: Buffer;
  readonly valid: boolean;
}

const EMPTY = Buffer.alloc(0);
const present = (b: Buffer | null | undefined): Buffer | undefined => (b && b.length > 0 ? b : undefined);
const nowSeconds = (): number => Math.floor(Date.now() / 1000);
const MAX_PARAM_BYTES = 1024;

function rejectExtras(algorithm: string, parts: Record<string, Buffer | undefined>): void {
  for (const [name, value] of Object.entries(parts)) {
    if (value !== undefined) throw badParameter(`${name} is not used by ${algorithm.slice(0, 40)}`, { field: name });
  }
}

/**
 * encrypt, decrypt, wrapKey, unwrapKey, sign, verify on software keys (Node/OpenSSL, handles
 * from the material cache) and HSM keys (private operations in the token; RSA public
 * operations with the public key), after the key policy (enabled, key_ops, nbf/exp).
 */
export class KeyOperationsService {
  constructor(
    private readonly directory: KeyDirectory,
    private readonly material: KeyMaterialService,
    private readonly root: RootKeyService,
    private readonly maxValueBytes: number,
    private readonly workers: RsaWorkerPool | null = null,
  ) {}

  /**
   * `batched`: the call is one item of a batch (many operations arrive in the same turn), so
   * EC signatures go to the worker pool too: handed over many per message, the hand-off costs
   * less than the signature. A lone EC signature (~35 µs) is cheaper inline than handed off.
   */
  async run(operation: KeyOperation, input: KeyOperationInput, scope: AuditScope, batched = false): Promise<KeyOperationOutput> {
    this.root.root();
    const ref = canonicalRef(input.ref, 'keys', 'optional');
    scope.ref = ref;
    const algorithm = input.algorithm ?? '';
    const value = input.value ?? EMPTY;
    if (value.length > this.maxValueBytes) throw badParameter(`value is larger than ${this.maxValueBytes} bytes`, { field: 'value', limit: this.maxValueBytes });
    const iv = present(input.iv);
    const aad = present(input.aad);
    const tag = present(input.tag);
    const signature = present(input.signature);
    if ((iv?.length ?? 0) > MAX_PARAM_BYTES || (tag?.length ?? 0) > MAX_PARAM_BYTES || (signature?.length ?? 0) > MAX_PARAM_BYTES * 2) {
      throw badParameter('iv, tag or signature is too large', { field: 'value' });
    }
    if ((aad?.length ?? 0) > this.maxValueBytes) throw badParameter(`aad is larger than ${this.maxValueBytes} bytes`, { field: 'aad' });
    if (operation !== 'verify' && signature) rejectExtras(algorithm, { signature });

    const record = await this.directory.find(ref.tenant, ref.vault, ref.name, ref.version);
    if (!record) throw serviceError(ErrorCode.KeyNotFound, ref.version === '' ? 'the key does not exist' : 'the key version does not exist');
    scope.ref = { ...ref, version: record.version };
    scope.hsm = record.hsm;
    assertKeyUsable(record, operation, nowSeconds());

    const base = { kidVersion: record.version, result: EMPTY, iv: EMPTY, tag: EMPTY, aad: EMPTY, valid: false };
    if (record.hsm) return { ...base, ...this.onToken(operation, await this.material.hsmKey(record), algorithm, value, { iv, aad, tag, signature }) };
    const key = await this.material.softwareKey(record);
    const offloaded = this.workers && this.workers.size > 0 ? workerOperation(key.kty, operation, batched) : null;
    if (offloaded) {
      // RSA private-key operations (~0.2 ms each), and EC signatures of batches, run on worker threads, off the event loop.
      rejectExtras(algorithm, { iv, aad, tag });
      return { ...base, result: await this.workers!.run(record.materialId, key, offloaded, algorithm, value) };
    }
    return { ...base, ...this.inSoftware(operation, key, algorithm, value, { iv, aad, tag, signature }) };
  }

  random(count: number): Buffer {
    this.root.root();
    return getRandomBytes(count);
  }

  private inSoftware(op: KeyOperation, key: SoftwareKey, algorithm: string, value: Buffer, p: { iv?: Buffer; aad?: Buffer; tag?: Buffer; signature?: Buffer }): Partial<KeyOperationOutput> {
    switch (op) {
      case 'sign':
        rejectExtras(algorithm, { iv: p.iv, aad: p.aad, tag: p.tag });
        return { result: key.sign(algorithm, value) };
      case 'verify':
        rejectExtras(algorithm, { iv: p.iv, aad: p.aad, tag: p.tag });
        return { valid: key.verify(algorithm, value, p.signature ?? EMPTY) };
      case 'encrypt': {
        rejectExtras(algorithm, { tag: p.tag });
        const r = key.encrypt(algorithm, value, { ...(p.iv ? { iv: p.iv } : {}), ...(p.aad ? { additionalAuthenticatedData: p.aad } : {}) });
        return { result: r.ciphertext, iv: r.iv ?? EMPTY, tag: r.authenticationTag ?? EMPTY, aad: r.additionalAuthenticatedData ?? EMPTY };
      }
      case 'decrypt':
        return {
          result: key.decrypt(algorithm, value, {
            ...(p.iv ? { iv: p.iv } : {}),
            ...(p.aad ? { additionalAuthenticatedData: p.aad } : {}),
            ...(p.tag ? { authenticationTag: p.tag } : {}),
          }),
        };
      case 'wrapKey':
        rejectExtras(algorithm, { iv: p.iv, aad: p.aad, tag: p.tag });
        return { result: key.wrapKey(algorithm, value) };
      case 'unwrapKey':
        rejectExtras(algorithm, { iv: p.iv, aad: p.aad, tag: p.tag });
        return { result: key.unwrapKey(algorithm, value) };
    }
  }

  private onToken(op: KeyOperation, key: TokenKey | TokenSecretKey, algorithm: string, value: Buffer, p: { iv?: Buffer; aad?: Buffer; tag?: Buffer; signature?: Buffer }): Partial<KeyOperationOutput> {
    if (!(key instanceof TokenKey)) return this.onTokenSecret(op, key, algorithm, value, p);
    const pair = key;
    switch (op) {
      case 'sign':
        rejectExtras(algorithm, { iv: p.iv, aad: p.aad, tag: p.tag });
        return { result: pair.sign(algorithm, value) };
      case 'verify':
        rejectExtras(algorithm, { iv: p.iv, aad: p.aad, tag: p.tag });
        return { valid: pair.verify(algorithm, value, p.signature ?? EMPTY) };
      case 'encrypt':
      case 'wrapKey': {
        const scheme = op === 'encrypt' ? checkEncryption(algorithm, pair.descriptor) : checkKeyWrap(algorithm, pair.descriptor);
        rejectExtras(algorithm, { iv: p.iv, aad: p.aad, tag: p.tag });
        return { result: rsaPublicEncrypt(pair, algorithm, scheme.kind === 'oaep' ? scheme.hash : null, value) };
      }
      case 'decrypt':
      case 'unwrapKey':
        if (op === 'decrypt') checkEncryption(algorithm, pair.descriptor);
        else checkKeyWrap(algorithm, pair.descriptor);
        rejectExtras(algorithm, { iv: p.iv, aad: p.aad, tag: p.tag });
        return { result: pair.decrypt(algorithm, value) };
    }
  }

  private onTokenSecret(op: KeyOperation, key: TokenSecretKey, algorithm: string, value: Buffer, p: { iv?: Buffer; aad?: Buffer; tag?: Buffer }): Partial<KeyOperationOutput> {
    switch (op) {
      case 'sign':
      case 'verify':
        throw serviceError(ErrorCode.NotSupported, 'HMAC (HS256/384/512) is not available for oct-HSM keys; use a software oct key');
      case 'encrypt': {
        rejectExtras(algorithm, { tag: p.tag });
        const r = key.encrypt(algorithm, value, { ...(p.iv ? { iv: p.iv } : {}), ...(p.aad ? { aad: p.aad } : {}) });
        return { result: r.ciphertext, iv: r.iv ?? EMPTY, tag: r.tag ?? EMPTY, aad: r.aad ?? EMPTY };
      }
      case 'decrypt':
        return { result: key.decrypt(algorithm, value, { ...(p.iv ? { iv: p.iv } : {}), ...(p.aad ? { aad: p.aad } : {}), ...(p.tag ? { tag: p.tag } : {}) }) };
      case 'wrapKey':
        rejectExtras(algorithm, { iv: p.iv, aad: p.aad, tag: p.tag });
        return { result: key.wrapKey(algorithm, value) };
      case 'unwrapKey':
        rejectExtras(algorithm, { iv: p.iv, aad: p.aad, tag: p.tag });
        return { result: key.unwrapKey(algorithm, value) };
    }
  }
}

/** The private-key operations that run on the worker pool: RSA sign/decrypt/unwrapKey (~0.2 ms each), EC sign in batches. */
function workerOperation(kty: string, op: KeyOperation, batched: boolean): WorkerOperation | null {
  if (kty === 'RSA' && (op === 'sign' || op === 'decrypt' || op === 'unwrapKey')) return op;
  if (kty === 'EC' && op === 'sign' && batched) return op;
  return null;
}

/** RSA encryption with the public key of a token key (a public operation; the SDK does it locally too). */
function rsaPublicEncrypt(pair: TokenKey, algorithm: string, oaepHash: 'sha1' | 'sha256' | null, plaintext: Buffer): Buffer {
  const jwk = pair.publicJwk();
  if (jwk.kty !== 'RSA') throw serviceError(ErrorCode.KeyOperationNotAllowed, `algorithm ${algorithm} needs an RSA key`);
  const k = Math.ceil(pair.descriptor.sizeBits / 8);
  const overhead = oaepHash === null ? 11 : oaepHash === 'sha1' ? 42 : 66;
  if (plaintext.length > k - overhead) throw badParameter(`${algorithm} with this key takes at most ${k - overhead} bytes`, { field: 'value' });
  const key = publicKeyObjectFromJwk(jwk);
  return oaepHash === null
    ? publicEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, plaintext)
    : publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, plaintext);
}
