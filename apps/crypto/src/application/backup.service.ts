import { randomBytes } from 'node:crypto';
import { encodeContext, openWithContext, sealWithContext } from '#libs/crypto-core';
import { badParameter, ErrorCode, serviceError } from '../domain/crypto.errors.js';
import type { RootKeyService } from './root-key.service.js';

const MAGIC = Buffer.from('KLBK', 'ascii');
const FORMAT_V1 = 0x01;
const BACKUP_KEY_PURPOSE = 'keyledger/backup-key/v1';
const BACKUP_PAYLOAD_PURPOSE = 'keyledger/backup/v1';
const PURPOSE = /^[A-Za-z0-9._:/-]{1,200}$/;

function invalid(): Error {
  return serviceError(ErrorCode.CiphertextInvalid, 'the backup blob is malformed, was sealed for another purpose, or by a deployment with another root');
}

/**
 * Backup blobs that only a deployment holding the same root can open:
 *
 *   "KLBK" | 0x01 | u16 length | root.wrap(K, AAD = backup-key ‖ purpose) | envelope(K, payload, AAD = backup ‖ purpose)
 *
 * K is a fresh AES-256 key per blob; the root (in the token, or the dev root) wraps it, so
 * the blob carries everything but the root. `purpose` binds a blob to what it is for (a key
 * backup cannot be opened as a secret backup).
 */
export class BackupService {
  constructor(
    private readonly root: RootKeyService,
    private readonly maxBytes: number,
  ) {}

  private checkPurpose(purpose: string): void {
    if (!PURPOSE.test(purpose)) throw badParameter('purpose must be 1..200 characters of [A-Za-z0-9._:/-]', { field: 'purpose' });
  }

  async seal(purpose: string, payload: Buffer): Promise<Buffer> {
    const root = this.root.root();
    this.checkPurpose(purpose);
    if (payload.length > this.maxBytes) throw badParameter(`payload is larger than ${this.maxBytes} bytes`, { field: 'payload', limit: this.maxBytes });
    const key = randomBytes(32);
    try {
      const wrappedKey = await root.wrap(key, encodeContext(BACKUP_KEY_PURPOSE, [purpose]));
      const body = sealWithContext(key, 'backup', payload, encodeContext(BACKUP_PAYLOAD_PURPOSE, [purpose]));
      const len = Buffer.alloc(2);
      len.writeUInt16BE(wrappedKey.length, 0);
      return Buffer.concat([MAGIC, Buffer.from([FORMAT_V1]), len, wrappedKey, body]);
    } finally {
      key.fill(0);
    }
  }

  async open(purpose: string, blob: Buffer): Promise<Buffer> {
    const root = this.root.root();
    this.checkPurpose(purpose);
    if (blob.length > this.maxBytes + 1024) throw badParameter(`blob is larger than ${this.maxBytes} bytes`, { field: 'blob', limit: this.maxBytes });
    if (blob.length < 7 || !blob.subarray(0, 4).equals(MAGIC) || blob[4] !== FORMAT_V1) throw invalid();
    const len = blob.readUInt16BE(5);
    if (blob.length < 7 + len) throw invalid();
    let key: Buffer;
    try {
      key = await root.unwrap(blob.subarray(7, 7 + len), encodeContext(BACKUP_KEY_PURPOSE, [purpose]));
    } catch (err) {
      if (err instanceof Error && (err as { code?: unknown }).code === 'CiphertextInvalid') throw invalid();
      throw err;
    }
    try {
      if (key.length !== 32) throw invalid();
      return openWithContext(key, blob.subarray(7 + len), encodeContext(BACKUP_PAYLOAD_PURPOSE, [purpose]), { expectedKeyId: 'backup' });
    } catch (err) {
      if (err instanceof Error && (err as { code?: unknown }).code === 'CiphertextInvalid') throw invalid();
      throw err;
    } finally {
      key.fill(0);
    }
  }
}
