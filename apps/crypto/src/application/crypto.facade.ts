import { badParameter, classifyError, ErrorCode, isRootLoss, serviceError } from '../domain/crypto.errors.js';
import type { RefInput } from '../domain/object-ref.js';
import type { BackupService } from './backup.service.js';
import type { DataKeysService } from './data-keys.service.js';
import type { KeyBackupService } from './key-backup.service.js';
import type { KeyReleaseService, ReleaseKeyInput, ReleaseKeyOutput } from './key-release.service.js';
import type { KeyOperation, KeyOperationInput, KeyOperationOutput, KeyOperationsService } from './key-operations.service.js';
import type { KeyVersionView } from './key-view.js';
import type { CreateKeyInput, ImportKeyInput, KeysService, UpdateKeyInput } from './keys.service.js';
import type { AuditScope, CallerContext, OperationAuditor } from './operation-auditor.js';
import type { RootKeyService, RootStatus } from './root-key.service.js';

type WithCtx = { readonly ctx?: CallerContext | null };
type WithRef = WithCtx & { readonly ref?: RefInput | null };

const OPERATION_NAMES: Readonly<Record<KeyOperation, string>> = {
  encrypt: 'KeyEncrypt',
  decrypt: 'KeyDecrypt',
  wrapKey: 'KeyWrap',
  unwrapKey: 'KeyUnwrap',
  sign: 'KeySign',
  verify: 'KeyVerify',
};

const zero = (...buffers: (Buffer | undefined)[]): void => {
  for (const b of buffers) b?.fill(0);
};

/**
 * One method per RPC: each runs under the OperationAuditor (exactly one durable audit record
 * before the answer, fail closed) and seals the service when the root disappears mid-call.
 */
export class CryptoFacade {
  constructor(
    private readonly auditor: OperationAuditor,
    private readonly root: RootKeyService,
    private readonly keys: KeysService,
    private readonly operations: KeyOperationsService,
    private readonly dataKeys: DataKeysService,
    private readonly backups: BackupService,
    private readonly keyBackups: KeyBackupService,
    private readonly releases: KeyReleaseService | null = null,
  ) {}

  private async guarded<T>(scope: AuditScope, body: (scope: AuditScope) => Promise<T>): Promise<T> {
    try {
      return await body(scope);
    } catch (err) {
      if (isRootLoss(err)) this.root.reportRootLost(err instanceof Error ? err.message : String(err));
      throw err;
    }
  }

  generateDataKey(req: WithRef): Promise<{ keyId: string; plaintext: Buffer }> {
    return this.auditor.run(
      { operationName: 'DataKeyGenerate', ctx: req.ctx, ref: req.ref },
      (s) => this.guarded(s, () => this.dataKeys.generate(req, s)),
      async (r) => {
        zero(r.plaintext);
        await this.dataKeys.discard(r.keyId);
      },
    );
  }

  async decryptDataKey(req: WithRef & { readonly keyId?: string | null }): Promise<{ plaintext: Buffer }> {
    const plaintext = await this.auditor.run(
      { operationName: 'DataKeyDecrypt', ctx: req.ctx, ref: req.ref },
      (s) => this.guarded(s, () => this.dataKeys.decrypt(req, s)),
      (p) => zero(p),
    );
    return { plaintext };
  }

  async destroyDataKeys(req: WithRef & { readonly keyIds?: readonly string[] | null }): Promise<{ destroyed: number }> {
    const destroyed = await this.auditor.run({ operationName: 'DataKeyDestroy', ctx: req.ctx, ref: req.ref }, (s) => this.guarded(s, () => this.dataKeys.destroy(req, s)));
    return { destroyed };
  }

  async sealBackup(req: WithCtx & { readonly purpose?: string | null; readonly payload?: Buffer | null }): Promise<{ blob: Buffer }> {
    const purpose = req.purpose ?? '';
    const blob = await this.auditor.run(
      { operationName: 'BackupSeal', ctx: req.ctx },
      (s) =>
        this.guarded(s, () => {
          s.extra.purpose = purpose.slice(0, 200);
          return this.backups.seal(purpose, req.payload ?? Buffer.alloc(0));
        }),
    );
    return { blob };
  }

  async openBackup(req: WithCtx & { readonly purpose?: string | null; readonly blob?: Buffer | null }): Promise<{ payload: Buffer }> {
    const purpose = req.purpose ?? '';
    const payload = await this.auditor.run(
      { operationName: 'BackupOpen', ctx: req.ctx },
      (s) =>
        this.guarded(s, () => {
          s.extra.purpose = purpose.slice(0, 200);
          return this.backups.open(purpose, req.blob ?? Buffer.alloc(0));
        }),
      (p) => zero(p),
    );
    return { payload };
  }

  async createKey(req: CreateKeyInput): Promise<{ key: KeyVersionView }> {
    const key = await this.auditor.run({ operationName: 'KeyCreate', ctx: req.ctx, ref: req.ref }, (s) => this.guarded(s, () => this.keys.create(req, s)));
    return { key };
  }

  async importKey(req: ImportKeyInput): Promise<{ key: KeyVersionView }> {
    const key = await this.auditor.run({ operationName: 'KeyImport', ctx: req.ctx, ref: req.ref }, (s) => this.guarded(s, () => this.keys.import(req, s)));
    return { key };
  }

  async getKey(req: WithRef & { readonly deleted?: boolean | null }): Promise<{ key: KeyVersionView }> {
    const key = await this.auditor.run({ operationName: 'KeyGet', ctx: req.ctx, ref: req.ref }, (s) => this.guarded(s, () => this.keys.get(req, s)));
    return { key };
  }

  async updateKey(req: UpdateKeyInput): Promise<{ key: KeyVersionView }> {
    const key = await this.auditor.run({ operationName: 'KeyUpdate', ctx: req.ctx, ref: req.ref }, (s) => this.guarded(s, () => this.keys.update(req, s)));
    return { key };
  }

  async deleteKey(req: WithRef): Promise<{ deleted: number; versions: number }> {
    return this.auditor.run({ operationName: 'KeyDelete', ctx: req.ctx, ref: req.ref }, (s) => this.guarded(s, () => this.keys.delete(req, s)));
  }

  async recoverKey(req: WithRef): Promise<{ key: KeyVersionView }> {
    const key = await this.auditor.run({ operationName: 'KeyRecover', ctx: req.ctx, ref: req.ref }, (s) => this.guarded(s, () => this.keys.recover(req, s)));
    return { key };
  }

  async backupKey(req: WithRef): Promise<{ blob: Buffer }> {
    const blob = await this.auditor.run({ operationName: 'KeyBackup', ctx: req.ctx, ref: req.ref }, (s) => this.guarded(s, () => this.keyBackups.backup(req, s)));
    return { blob };
  }

  restoreKey(req: WithRef & { readonly blob?: Buffer | null }): Promise<{ key: KeyVersionView; versions: string[] }> {
    return this.auditor.run({ operationName: 'KeyRestore', ctx: req.ctx, ref: req.ref }, (s) => this.guarded(s, () => this.keyBackups.restore(req, s)));
  }

  /** Secure key release (the vault checked attestation and policy); the wrapped blob is withheld (zeroed) if the record cannot be made durable. */
  releaseKey(req: ReleaseKeyInput): Promise<ReleaseKeyOutput> {
    return this.auditor.run(
      { operationName: 'KeyRelease', ctx: req.ctx, ref: req.ref, algorithm: req.enc ?? '' },
      (s) =>
        this.guarded(s, async () => {
          if (!this.releases) throw serviceError(ErrorCode.NotSupported, 'key release is not configured');
          return this.releases.release(req, s);
        }),
      (r) => zero(r.wrapped),
    );
  }

  async destroyKey(req: WithRef): Promise<{ destroyed: number }> {
    const destroyed = await this.auditor.run({ operationName: 'KeyDestroy', ctx: req.ctx, ref: req.ref }, (s) => this.guarded(s, () => this.keys.destroy(req, s)));
    return { destroyed };
  }

  keyOperation(operation: KeyOperation, req: KeyOperationInput): Promise<KeyOperationOutput> {
    return this.auditor.run(
      { operationName: OPERATION_NAMES[operation], ctx: req.ctx, ref: req.ref, algorithm: req.algorithm ?? '' },
      (s) => this.guarded(s, () => this.operations.run(operation, req, s)),
      (r) => {
        if (operation === 'decrypt' || operation === 'unwrapKey') zero(r.result);
      },
    );
  }

  async getRandomBytes(req: WithCtx & { readonly count?: number | null }): Promise<{ value: Buffer }> {
    const value = await this.auditor.run(
      { operationName: 'RandomBytesGet', ctx: req.ctx },
      (s) =>
        this.guarded(s, async () => {
          s.extra.count = String(req.count ?? 0);
          return this.operations.random(req.count ?? 0);
        }),
      (v) => zero(v),
    );
    return { value };
  }

  health(): RootStatus {
    return this.root.status();
  }

  /**
   * Many key operations of one kind in one call. Each item runs (concurrently) and is audited
   * on its own, exactly like the unary call: its own record with its own ctx and outcome. The
   * records of the batch commit together (one commit): all are durable before the response
   * leaves, or none is and the whole call fails with AuditUnavailable, every result of the
   * batch withheld (plaintexts zeroed). An item that fails carries its error code.
   */
  async keyOperationBatch(req: { readonly operation?: string | null; readonly items?: readonly KeyOperationInput[] | null }): Promise<{ results: KeyOperationBatchItem[] }> {
    const operation = req.operation ?? '';
    const items = req.items ?? [];
    if (!isKeyOperation(operation) || items.length === 0 || items.length > KEY_OPERATION_BATCH_MAX_ITEMS) {
      // A malformed batch is refused as a whole; the refusal is audited like any other.
      return this.auditor.run({ operationName: 'KeyOperationBatch', ctx: items[0]?.ctx ?? null }, async () => {
        if (!isKeyOperation(operation)) throw badParameter(`operation must be one of ${Object.keys(OPERATION_NAMES).join(', ')}`, { field: 'operation' });
        throw badParameter(`a batch carries 1 to ${KEY_OPERATION_BATCH_MAX_ITEMS} items`, { field: 'items', limit: KEY_OPERATION_BATCH_MAX_ITEMS });
      });
    }
    const secret = operation === 'decrypt' || operation === 'unwrapKey';
    const name = OPERATION_NAMES[operation];
    // Every item's record commits in the same commit as the others': all durable, or the
    // whole call fails (AuditUnavailable) with every result withheld.
    const settled = await this.auditor.runAll(
      items.map((item) => ({ operationName: name, ctx: item.ctx, ref: item.ref, algorithm: item.algorithm ?? '' })),
      (i, s) => this.guarded(s, () => this.operations.run(operation, items[i]!, s, true)),
      (r) => {
        if (secret) zero(r.result);
      },
    );
    return {
      results: settled.map((r) => {
        if (r.status === 'fulfilled') return { response: r.value, errorCode: '', errorMessage: '' };
        const { code, message } = classifyError(r.reason);
        return { response: null, errorCode: code, errorMessage: message };
      }),
    };
  }
}

/** Largest number of items in one KeyOperationBatch call (crypto.proto). */
export const KEY_OPERATION_BATCH_MAX_ITEMS = 1000;

/** One item's outcome in a KeyOperationBatch response. */
export interface KeyOperationBatchItem {
  readonly response: KeyOperationOutput | null;
  readonly errorCode: string;
  readonly errorMessage: string;
}

const isKeyOperation = (op: string): op is KeyOperation => Object.prototype.hasOwnProperty.call(OPERATION_NAMES, op);
