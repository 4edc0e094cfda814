import { randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { BackupFormatError, backupFolderName, buildManifest, openKeyBlob, openManifest, sealKeyBlob, sha256 } from './pool-backup.format.js';

const D1 = '6b1d2c3e-4f50-4a61-8b72-9c83d4e5f607';
const D2 = '7c2e3d4f-5061-4b72-9c83-ad94e5f60718';
const kindOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof BackupFormatError ? err.kind : String(err);
  }
};

describe('Managed HSM full backup folder format', () => {
  const key = randomBytes(32);
  const plain = Buffer.from('KeyledgerKeyBackupV1.sealed-by-crypto', 'utf8');

  it('a key blob opens under the same domain key, domain id and key name only', () => {
    const blob = sealKeyBlob(key, D1, 'signer', plain);
    expect(blob.includes(plain)).toBe(false);
    expect(openKeyBlob(key, D1, 'Signer', blob).equals(plain)).toBe(true);
    expect(kindOf(() => openKeyBlob(randomBytes(32), D1, 'signer', blob))).toBe('Tampered');
    expect(kindOf(() => openKeyBlob(key, D2, 'signer', blob))).toBe('Tampered');
    expect(kindOf(() => openKeyBlob(key, D1, 'other', blob))).toBe('Tampered');
    const flipped = Buffer.from(blob);
    flipped[flipped.length - 20]! ^= 1;
    expect(kindOf(() => openKeyBlob(key, D1, 'signer', flipped))).toBe('Tampered');
    expect(kindOf(() => openKeyBlob(key, D1, 'signer', Buffer.from('short')))).toBe('Malformed');
  });

  it('the manifest is refused from another security domain, when altered, or when not a manifest', () => {
    const blob = sealKeyBlob(key, D1, 'signer', plain);
    const manifest = buildManifest(key, { pool: 'hsm-one', domainId: D1, created: 1_800_000_000, keys: [{ name: 'signer', blob: 'keys/signer', versions: 2, sha256: sha256(blob) }] });
    expect(openManifest(key, D1, manifest).keys).toEqual([{ name: 'signer', blob: 'keys/signer', versions: 2, sha256: sha256(blob) }]);
    expect(kindOf(() => openManifest(key, D2, manifest))).toBe('OtherDomain');
    const altered = Buffer.from(manifest.toString('utf8').replace('"versions": 2', '"versions": 3'), 'utf8');
    expect(kindOf(() => openManifest(key, D1, altered))).toBe('Tampered');
    expect(kindOf(() => openManifest(randomBytes(32), D1, manifest))).toBe('Tampered');
    expect(kindOf(() => openManifest(key, D1, Buffer.from('{}')))).toBe('Malformed');
  });

  it('names the folder as Azure does: mhsm-{pool}-{yyyyMMddHHmmss}{2 digits}', () => {
    expect(backupFolderName('Hsm-One', new Date(Date.UTC(2025, 1, 24, 18, 38, 0, 680)))).toBe('mhsm-hsm-one-2025022418380068');
  });
});
