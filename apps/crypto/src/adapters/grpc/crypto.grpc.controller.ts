import { Controller, Inject, UseFilters } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import type {
  BackupKeyRequest,
  CreateKeyRequest,
  DeleteKeyRequest,
  RecoverKeyRequest,
  ReleaseKeyRequest,
  RestoreKeyRequest,
  DecryptDataKeyRequest,
  DestroyDataKeysRequest,
  DestroyKeyRequest,
  GenerateDataKeyRequest,
  GetKeyRequest,
  HealthResponse,
  ImportKeyRequest,
  KeyOperationBatchRequest,
  KeyOperationRequest,
  OpenBackupRequest,
  RandomBytesRequest,
  SealBackupRequest,
  UpdateKeyRequest,
} from '#libs/crypto-client';
import { CryptoFacade, type KeyOperationBatchItem } from '../../application/crypto.facade.js';
import type { KeyOperationOutput } from '../../application/key-operations.service.js';
import type { KeyVersionView } from '../../application/key-view.js';
import { GrpcErrorFilter } from './grpc-error.filter.js';

const SERVICE = 'Crypto';

/** keyledger.crypto.v1.Crypto: maps messages to the facade, nothing else. */
@Controller()
@UseFilters(GrpcErrorFilter)
export class CryptoGrpcController {
  constructor(@Inject(CryptoFacade) private readonly crypto: CryptoFacade) {}

  @GrpcMethod(SERVICE, 'GenerateDataKey')
  generateDataKey(req: GenerateDataKeyRequest): Promise<{ keyId: string; plaintext: Buffer }> {
    return this.crypto.generateDataKey(req);
  }

  @GrpcMethod(SERVICE, 'DecryptDataKey')
  decryptDataKey(req: DecryptDataKeyRequest): Promise<{ plaintext: Buffer }> {
    return this.crypto.decryptDataKey(req);
  }

  @GrpcMethod(SERVICE, 'DestroyDataKeys')
  destroyDataKeys(req: DestroyDataKeysRequest): Promise<{ destroyed: number }> {
    return this.crypto.destroyDataKeys(req);
  }

  @GrpcMethod(SERVICE, 'SealBackup')
  sealBackup(req: SealBackupRequest): Promise<{ blob: Buffer }> {
    return this.crypto.sealBackup(req);
  }

  @GrpcMethod(SERVICE, 'OpenBackup')
  openBackup(req: OpenBackupRequest): Promise<{ payload: Buffer }> {
    return this.crypto.openBackup(req);
  }

  @GrpcMethod(SERVICE, 'CreateKey')
  createKey(req: CreateKeyRequest): Promise<{ key: KeyVersionView }> {
    return this.crypto.createKey(req);
  }

  @GrpcMethod(SERVICE, 'ImportKey')
  importKey(req: ImportKeyRequest): Promise<{ key: KeyVersionView }> {
    return this.crypto.importKey(req);
  }

  @GrpcMethod(SERVICE, 'GetKey')
  getKey(req: GetKeyRequest): Promise<{ key: KeyVersionView }> {
    return this.crypto.getKey(req);
  }

  @GrpcMethod(SERVICE, 'UpdateKey')
  updateKey(req: UpdateKeyRequest): Promise<{ key: KeyVersionView }> {
    return this.crypto.updateKey(req);
  }

  @GrpcMethod(SERVICE, 'Encrypt')
  encrypt(req: KeyOperationRequest): Promise<KeyOperationOutput> {
    return this.crypto.keyOperation('encrypt', req);
  }

  @GrpcMethod(SERVICE, 'Decrypt')
  decrypt(req: KeyOperationRequest): Promise<KeyOperationOutput> {
    return this.crypto.keyOperation('decrypt', req);
  }

  @GrpcMethod(SERVICE, 'WrapKey')
  wrapKey(req: KeyOperationRequest): Promise<KeyOperationOutput> {
    return this.crypto.keyOperation('wrapKey', req);
  }

  @GrpcMethod(SERVICE, 'UnwrapKey')
  unwrapKey(req: KeyOperationRequest): Promise<KeyOperationOutput> {
    return this.crypto.keyOperation('unwrapKey', req);
  }

  @GrpcMethod(SERVICE, 'Sign')
  sign(req: KeyOperationRequest): Promise<KeyOperationOutput> {
    return this.crypto.keyOperation('sign', req);
  }

  @GrpcMethod(SERVICE, 'Verify')
  verify(req: KeyOperationRequest): Promise<KeyOperationOutput> {
    return this.crypto.keyOperation('verify', req);
  }

  @GrpcMethod(SERVICE, 'GetRandomBytes')
  getRandomBytes(req: RandomBytesRequest): Promise<{ value: Buffer }> {
    return this.crypto.getRandomBytes(req);
  }

  @GrpcMethod(SERVICE, 'DestroyKey')
  destroyKey(req: DestroyKeyRequest): Promise<{ destroyed: number }> {
    return this.crypto.destroyKey(req);
  }

  @GrpcMethod(SERVICE, 'DeleteKey')
  deleteKey(req: DeleteKeyRequest): Promise<{ deleted: number; versions: number }> {
    return this.crypto.deleteKey(req);
  }

  @GrpcMethod(SERVICE, 'RecoverKey')
  recoverKey(req: RecoverKeyRequest): Promise<{ key: KeyVersionView }> {
    return this.crypto.recoverKey(req);
  }

  @GrpcMethod(SERVICE, 'ReleaseKey')
  releaseKey(req: ReleaseKeyRequest): Promise<{ kidVersion: string; wrapped: Buffer }> {
    return this.crypto.releaseKey(req);
  }

  @GrpcMethod(SERVICE, 'BackupKey')
  backupKey(req: BackupKeyRequest): Promise<{ blob: Buffer }> {
    return this.crypto.backupKey(req);
  }

  @GrpcMethod(SERVICE, 'RestoreKey')
  restoreKey(req: RestoreKeyRequest): Promise<{ key: KeyVersionView; versions: string[] }> {
    return this.crypto.restoreKey(req);
  }

  /** Liveness of the root for the calling service; not audited (it touches no object). */
  @GrpcMethod(SERVICE, 'Health')
  health(): HealthResponse {
    return this.crypto.health();
  }

  /** Many key operations of one kind; each item audited on its own (see the facade). */
  @GrpcMethod(SERVICE, 'KeyOperationBatch')
  keyOperationBatch(req: KeyOperationBatchRequest): Promise<{ results: KeyOperationBatchItem[] }> {
    return this.crypto.keyOperationBatch(req);
  }
}
