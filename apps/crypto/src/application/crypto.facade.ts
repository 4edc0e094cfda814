import { isRootLoss } from '../domain/crypto.errors.js';
import type { RefInput } from '../domain/object-ref.js';
import type { BackupService } from './backup.service.js';
import type { DataKeysService } from './data-keys.service.js';
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

  async getKey(req: WithRef): Promise<{ key: KeyVersionView }> {
    const key = await this.auditor.run({ operationName: 'KeyGet', ctx: req.ctx, ref: req.ref }, (s) => this.guarded(s, () => this.keys.get(req, s)));
    return { key };
  }

  async updateKey(req: UpdateKeyInput): Promise<{ key: KeyVersionView }> {
    const key = await this.auditor.run({ operationName: 'KeyUpdate', ctx: req.ctx, ref: req.ref }, (s) => this.guarded(s, () => this.keys.update(req, s)));
    return { key };
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
}
