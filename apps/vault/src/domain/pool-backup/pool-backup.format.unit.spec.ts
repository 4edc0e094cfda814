import { randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import type { PoolAdministrationState } from '../pool-administration/pool-administration.decider.js';
import {
  ADMINISTRATION_BLOB,
  BackupFormatError,
  backupFolderName,
  buildManifest,
  decodeAdministration,
  openAdministrationBlob,
  openKeyBlob,
  openManifest,
  sealAdministrationBlob,
  sealKeyBlob,
  sha256,
} from './pool-backup.format.js';

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
    const manifest = buildManifest(key, { pool: 'hsm-one', domainId: D1, created: 1_800_000_000, keys: [{ name: 'signer', blob: 'keys/signer', versions: 2, sha256: sha256(blob) }], administration: { blob: ADMINISTRATION_BLOB, sha256: 'x' } });
    expect(openManifest(key, D1, manifest).keys).toEqual([{ name: 'signer', blob: 'keys/signer', versions: 2, sha256: sha256(blob) }]);
    expect(kindOf(() => openManifest(key, D2, manifest))).toBe('OtherDomain');
    const altered = Buffer.from(manifest.toString('utf8').replace('"versions": 2', '"versions": 3'), 'utf8');
    expect(kindOf(() => openManifest(key, D1, altered))).toBe('Tampered');
    expect(kindOf(() => openManifest(randomBytes(32), D1, manifest))).toBe('Tampered');
    expect(kindOf(() => openManifest(key, D1, Buffer.from('{}')))).toBe('Malformed');
  });

  const CUSTOM = '3f0c7a2e-5b1d-4e8f-9c6a-2d4b8e1f0a77';
  const APP = '0b5c2c4e-8f0a-4c51-9a43-3c0a2b1d9e01';
  const CRYPTO_USER = '21dbd100-6940-42c2-9190-5d6cb909625b';
  const state: PoolAdministrationState = {
    definitions: new Map([[CUSTOM, { roleDefinitionId: CUSTOM, roleName: 'Signer', description: 'signs', assignableScopes: ['/keys'], permissions: [{ actions: [], notActions: [], dataActions: ['Microsoft.KeyVault/managedHsm/keys/sign/action'], notDataActions: [] }] }]]),
    assignments: new Map([
      ['11111111-1111-4111-8111-111111111111', { assignmentId: '11111111-1111-4111-8111-111111111111', principalId: APP, roleDefinitionId: CUSTOM, scope: '/keys' }],
      ['22222222-2222-4222-8222-222222222222', { assignmentId: '22222222-2222-4222-8222-222222222222', principalId: APP, roleDefinitionId: CRYPTO_USER, scope: '/keys/signer' }],
    ]),
    settings: new Map([['AllowKeyManagementOperationsThroughARM', 'true']]),
  };
  const folderOf = (administration: Buffer): Buffer =>
    buildManifest(key, { pool: 'hsm-one', domainId: D1, created: 1_800_000_000, keys: [], administration: { blob: ADMINISTRATION_BLOB, sha256: sha256(administration) } });

  it('a version 2 manifest names the administration blob, which holds the pool\'s role definitions, assignments and settings, encrypted', () => {
    const admin = sealAdministrationBlob(key, D1, state);
    const manifest = openManifest(key, D1, folderOf(admin));
    expect([manifest.version, manifest.administration]).toEqual([2, { blob: ADMINISTRATION_BLOB, sha256: sha256(admin) }]);
    expect(admin.includes(Buffer.from(APP, 'utf8')) || admin.includes(Buffer.from('Signer', 'utf8'))).toBe(false);
    const opened = openAdministrationBlob(key, D1, admin);
    expect([...opened.definitions.values()]).toEqual([...state.definitions.values()]);
    expect([...opened.assignments.values()]).toEqual([...state.assignments.values()]);
    expect([...opened.settings.entries()]).toEqual([['AllowKeyManagementOperationsThroughARM', 'true']]);
    const empty = openAdministrationBlob(key, D1, sealAdministrationBlob(key, D1, { definitions: new Map(), assignments: new Map(), settings: new Map() }));
    expect([empty.definitions.size, empty.assignments.size, empty.settings.size]).toEqual([0, 0, 0]);
  });

  it('a tampered administration blob or manifest entry is refused; a key blob is no administration blob', () => {
    const admin = sealAdministrationBlob(key, D1, state);
    const flipped = Buffer.from(admin);
    flipped[flipped.length - 20]! ^= 1;
    expect(kindOf(() => openAdministrationBlob(key, D1, flipped))).toBe('Tampered');
    expect(kindOf(() => openAdministrationBlob(randomBytes(32), D1, admin))).toBe('Tampered');
    expect(kindOf(() => openAdministrationBlob(key, D2, admin))).toBe('Tampered');
    expect(kindOf(() => openAdministrationBlob(key, D1, sealKeyBlob(key, D1, 'administration', plain)))).toBe('Malformed');
    // The manifest's digest of the blob is under its MAC: changing it, or dropping the entry (a downgrade to version 1), is refused.
    const manifest = folderOf(admin).toString('utf8');
    expect(kindOf(() => openManifest(key, D1, Buffer.from(manifest.replace(sha256(admin), sha256(flipped)), 'utf8')))).toBe('Tampered');
    const downgraded = JSON.parse(manifest) as Record<string, unknown>;
    delete downgraded.administration;
    downgraded.version = 1;
    expect(kindOf(() => openManifest(key, D1, Buffer.from(JSON.stringify(downgraded), 'utf8')))).toBe('Tampered');
    const unnamed = JSON.parse(manifest) as Record<string, unknown>;
    delete unnamed.administration;
    expect(kindOf(() => openManifest(key, D1, Buffer.from(JSON.stringify(unnamed), 'utf8')))).toBe('Malformed');
    expect(kindOf(() => decodeAdministration(Buffer.from('{"kind":"keyledger.managedhsm.administration","version":1,"definitions":[{}],"assignments":[],"settings":[]}')))).toBe('Malformed');
  });

  it('a backup made before role assignments were backed up (version 1 manifest, no administration) still opens', () => {
    // Written by the format as it was before this change (main at f78df0c), domain key 32 × 0x07.
    const oldKey = Buffer.alloc(32, 7);
    const oldBlob = Buffer.from('S0xNSFNNQjGWWDyYPYpd6mCt+bXMZYlA4sk/CKSQhavGrrZ6M3Yeb88fKqxkTmEQNkOV1Fpi/GfYPnSeHGDa2MaFU3yyn5uUPA==', 'base64');
    const old = Buffer.from(
      '{"kind":"keyledger.managedhsm.backup","version":1,"pool":"hsm-one","domainId":"6b1d2c3e-4f50-4a61-8b72-9c83d4e5f607","created":1800000000,"keys":[{"name":"signer","blob":"keys/signer","versions":1,"sha256":"JMLEfs_pQyhL3kiuhGa8VD2qnjZNVMK-hduWY8Q3Gao"}],"mac":"whoEoMMZwNuccxGDVJQYjWzCVN-dtkJayuM2P7PDM-U"}',
      'utf8',
    );
    const m = openManifest(oldKey, D1, old);
    expect([m.version, m.administration, m.keys.map((k) => k.name), m.keys[0]?.sha256 === sha256(oldBlob)]).toEqual([1, undefined, ['signer'], true]);
    expect(openKeyBlob(oldKey, D1, 'signer', oldBlob).equals(plain)).toBe(true);
    // A version 1 manifest naming an administration blob is no manifest Keyledger wrote.
    const smuggled = { ...(JSON.parse(old.toString('utf8')) as Record<string, unknown>), administration: { blob: ADMINISTRATION_BLOB, sha256: 'x' } };
    expect(kindOf(() => openManifest(oldKey, D1, Buffer.from(JSON.stringify(smuggled), 'utf8')))).toBe('Malformed');
  });

  it('names the folder as Azure does: mhsm-{pool}-{yyyyMMddHHmmss}{2 digits}', () => {
    expect(backupFolderName('Hsm-One', new Date(Date.UTC(2025, 1, 24, 18, 38, 0, 680)))).toBe('mhsm-hsm-one-2025022418380068');
  });
});
