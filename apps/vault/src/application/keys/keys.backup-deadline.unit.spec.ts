import { describe, expect, it } from '@jest/globals';
import type { CryptoClient } from '#libs/crypto-client';
import type { EventStore } from '#libs/eventstore';
import type { KeysRepository } from '../../adapters/persistence/keys.repository.js';
import type { VaultRecord } from '../../adapters/persistence/vaults.repository.js';
import type { Caller } from '../access/caller.js';
import { backupDeadline, KeysService } from './keys.service.js';

/**
 * Regression (found by `npm run fuzz`): backing up a key with a few hundred versions (the fuzzer
 * rotates and re-creates its seeded keys) outlasted crypto's default 5 s deadline and answered
 * 503. The backup and restore calls now get a deadline that grows with the versions.
 */
const VAULT = { vaultId: 'v1', nameKey: 'dev', name: 'dev', tenantId: 't1', retentionDays: 7, purgeProtection: false } as VaultRecord;
const CALLER: Caller = { objectId: 'oid', tenantId: 't1', ip: '127.0.0.1', correlationId: 'c', requestUri: 'https://dev/keys/k/backup', operationName: 'KeyBackup' };

describe('key backup deadline', () => {
  it('keeps the default for a few versions and grows with many, up to Azure 500', () => {
    expect(backupDeadline(1)).toBeUndefined();
    expect(backupDeadline(10)).toBeUndefined();
    expect(backupDeadline(300)).toEqual({ deadlineMs: 35_000 });
    expect(backupDeadline(500)).toEqual({ deadlineMs: 55_000 });
  });

  it('gives crypto that deadline for the material and the seal of a key with 300 versions', async () => {
    const rows = Array.from({ length: 300 }, (_, i) => ({ version: `v${i}`, vaultId: 'v1', nameKey: 'k', name: 'k', status: 'active', managed: false, deletedDate: null, scheduledPurgeDate: null }));
    const deadlines: Record<string, unknown> = {};
    const repo = { allVersions: async () => rows, rotationPolicy: async () => undefined } as unknown as KeysRepository;
    const crypto = {
      backupKey: async (_r: unknown, options?: { deadlineMs?: number }) => {
        deadlines.backupKey = options?.deadlineMs;
        return { blob: Buffer.from('material') };
      },
      sealBackup: async (_r: unknown, options?: { deadlineMs?: number }) => {
        deadlines.sealBackup = options?.deadlineMs;
        return { blob: Buffer.from('sealed') };
      },
    } as unknown as CryptoClient;
    const blob = await new KeysService({} as EventStore, repo, crypto).backup(VAULT, 'k', CALLER);
    expect(blob.length).toBeGreaterThan(0);
    expect(deadlines).toEqual({ backupKey: 35_000, sealBackup: 35_000 });
  });
});
