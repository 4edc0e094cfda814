import { describe, expect, it } from '@jest/globals';
import { BackupStorageError, storageLocation } from './backup-storage.js';

const NOW = Date.parse('2026-12-07T08:00:00Z');
const SAS = 'sv=2025-01-05&se=2026-12-08T00%3A00%3A00Z&sr=c&sp=racwdl&sig=abc%3D';
const problem = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof BackupStorageError ? `${err.kind}: ${err.message}` : String(err);
  }
};

describe('backup storage location (storageResourceUri + SAS token)', () => {
  it('takes an Azure container URL or an Azurite path-style one, with or without a leading ?', () => {
    expect(storageLocation('https://acct.blob.core.windows.net/backups', SAS, undefined, NOW).location.containerUrl).toBe('https://acct.blob.core.windows.net/backups');
    expect(storageLocation('http://127.0.0.1:10000/devstoreaccount1/backups', `?${SAS}`, undefined, NOW).location.sas).toContain('sig=abc%3D');
  });

  it('splits a folder as the SDKs send it: with a path-style URL the container arrives in the folder', () => {
    const azure = storageLocation('https://acct.blob.core.windows.net/backups', SAS, 'mhsm-p-2026120708000000', NOW);
    expect([azure.location.containerUrl, azure.folder]).toEqual(['https://acct.blob.core.windows.net/backups', 'mhsm-p-2026120708000000']);
    const azurite = storageLocation('http://127.0.0.1:10000/devstoreaccount1', SAS, 'backups/mhsm-p-2026120708000000', NOW);
    expect([azurite.location.containerUrl, azurite.folder]).toEqual(['http://127.0.0.1:10000/devstoreaccount1/backups', 'mhsm-p-2026120708000000']);
  });

  it("refuses a SAS without expiry in Azure's words, an expired one, one without signature, and bad URLs or folders", () => {
    expect(problem(() => storageLocation('https://a.blob.core.windows.net/c', 'sv=2025-01-05&sig=x', undefined, NOW))).toBe(
      'BadRequest: The customer provided SAS token is malformed. The SAS token does not contain the expiry field',
    );
    expect(problem(() => storageLocation('https://a.blob.core.windows.net/c', 'se=2020-01-01T00%3A00%3A00Z&sig=x', undefined, NOW))).toMatch(/expired/);
    expect(problem(() => storageLocation('https://a.blob.core.windows.net/c', 'se=2030-01-01', undefined, NOW))).toMatch(/signature/);
    expect(problem(() => storageLocation('ftp://a/c', SAS, undefined, NOW))).toMatch(/^BadRequest/);
    expect(problem(() => storageLocation('https://a.blob.core.windows.net', SAS, undefined, NOW))).toMatch(/container/);
    expect(problem(() => storageLocation('https://a.blob.core.windows.net/c?x=1', SAS, undefined, NOW))).toMatch(/query/);
    expect(problem(() => storageLocation('https://a.blob.core.windows.net/c', SAS, '../etc', NOW))).toMatch(/folder/);
  });
});
