/**
 * Test support only (never wired in production): a SecretKeyring held in memory, with the
 * crypto service's contract — data keys bound to the ref they were generated for, destroy =
 * gone for good, backups sealed under a root only this instance holds. Counts its calls so
 * tests can see the cache and the shredding at work.
 */
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import { DomainError } from '#libs/kernel';
import { KeyringErrorCode, type CallContext, type GeneratedDataKey, type ObjectRef, type SecretKeyring } from './secret-keyring.js';

const refKey = (r: ObjectRef): string => [r.tenant, r.vault, r.collection, r.name, r.version].map((s) => s.toLowerCase()).join('/');

export class InMemoryKeyring implements SecretKeyring {
  readonly calls = { generate: 0, decrypt: 0, destroy: 0, seal: 0, open: 0 };
  readonly destroyed: string[] = [];
  private readonly keys = new Map<string, { ref: string; key: Buffer }>();
  private readonly root = randomBytes(32);

  async generateDataKey(ref: ObjectRef, _ctx: CallContext): Promise<GeneratedDataKey> {
    this.calls.generate++;
    const keyId = `dk-${randomUUID()}`;
    const key = randomBytes(32);
    this.keys.set(keyId, { ref: refKey(ref), key: Buffer.from(key) });
    return { keyId, plaintext: key };
  }

  async decryptDataKey(ref: ObjectRef, keyId: string, _ctx: CallContext): Promise<Buffer> {
    this.calls.decrypt++;
    const k = this.keys.get(keyId);
    if (!k) throw new DomainError(KeyringErrorCode.DataKeyNotFound, 'data key not found');
    if (k.ref !== refKey(ref)) throw new DomainError(KeyringErrorCode.Rejected, 'data key belongs to another object');
    return Buffer.from(k.key);
  }

  async destroyDataKeys(ref: ObjectRef, keyIds: readonly string[], _ctx: CallContext): Promise<number> {
    this.calls.destroy++;
    let n = 0;
    for (const id of keyIds) {
      const k = this.keys.get(id);
      if (k && k.ref === refKey(ref)) {
        k.key.fill(0);
        this.keys.delete(id);
        this.destroyed.push(id);
        n++;
      }
    }
    return n;
  }

  async sealBackup(purpose: string, payload: Buffer, _ctx: CallContext): Promise<Buffer> {
    this.calls.seal++;
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.root, iv);
    c.setAAD(Buffer.from(purpose));
    const body = Buffer.concat([c.update(payload), c.final()]);
    return Buffer.concat([iv, c.getAuthTag(), body]);
  }

  async openBackup(purpose: string, blob: Buffer, _ctx: CallContext): Promise<Buffer> {
    this.calls.open++;
    try {
      const d = createDecipheriv('aes-256-gcm', this.root, blob.subarray(0, 12));
      d.setAAD(Buffer.from(purpose));
      d.setAuthTag(blob.subarray(12, 28));
      return Buffer.concat([d.update(blob.subarray(28)), d.final()]);
    } catch {
      throw new DomainError(KeyringErrorCode.Rejected, 'backup blob rejected');
    }
  }

  has(keyId: string): boolean {
    return this.keys.has(keyId);
  }

  async health(): Promise<string> {
    return 'in-memory keyring';
  }

  close(): void {
    for (const k of this.keys.values()) k.key.fill(0);
    this.keys.clear();
  }
}
