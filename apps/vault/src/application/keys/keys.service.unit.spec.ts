import { describe, expect, it } from '@jest/globals';
import { CryptoError, CryptoErrorCode, GrpcStatus, type CryptoClient, type KeyVersion } from '#libs/crypto-client';
import type { EventStore } from '#libs/eventstore';
import type { KeysRepository, KeyVersionRow } from '../../adapters/persistence/keys.repository.js';
import type { VaultRecord } from '../../adapters/persistence/vaults.repository.js';
import { keyDecider, type KeyState } from '../../domain/key/key.decider.js';
import type { KeyEvent } from '../../domain/key/key.events.js';
import { parseCreateKey, parseUpdateKey } from '../../domain/key/key.rules.js';
import type { Caller } from '../access/caller.js';
import { KeysService } from './keys.service.js';

/**
 * The write order of KeysService (crypto first, then the vault's events) with in-memory stand-ins
 * for the event store, the read model and the crypto service: a failed append after crypto
 * succeeded leaves nothing a retry of the same request cannot fix.
 */
const VAULT = { vaultId: '5f0c1f9e-3f7a-4a43-9d1c-6c1f0e0b7a11', nameKey: 'dev', name: 'dev', tenantId: 'tenant-1', retentionDays: 7, purgeProtection: false } as VaultRecord;
const CALLER: Caller = { objectId: 'oid', tenantId: 'tenant-1', ip: '127.0.0.1', correlationId: 'c', requestUri: 'https://dev/keys', operationName: 'Test' };

type CryptoKey = { version: string; enabled: boolean; keyOps: string[]; deleted: boolean };

function world() {
  const streams = new Map<string, KeyEvent[]>();
  let failNextAppend = false;
  const store = {
    async appendToStream(streamId: string, _expected: unknown, events: readonly KeyEvent[]) {
      if (failNextAppend) {
        failNextAppend = false;
        throw new Error('database connection lost');
      }
      streams.set(streamId, [...(streams.get(streamId) ?? []), ...events]);
      return {};
    },
  };
  const fold = (nameKey: string): KeyState => (streams.get(`key-${VAULT.vaultId}-${nameKey}`) ?? []).reduce(keyDecider.evolve, keyDecider.initialState());
  const repo = {
    async loadState(_vaultId: string, nameKey: string) {
      return { state: fold(nameKey), streamVersion: streams.get(`key-${VAULT.vaultId}-${nameKey}`)?.length ?? 0 };
    },
    async findVersion(_vaultId: string, nameKey: string, version: string | null): Promise<KeyVersionRow | undefined> {
      const s = fold(nameKey);
      const v = version ?? s.latest;
      if (s.status === 'absent' || v === null || !s.versions[v]) return undefined;
      return { ...s.versions[v]!, version: v, vaultId: VAULT.vaultId, nameKey, name: s.name!, status: s.status, managed: s.managed, deletedDate: s.deletedDate, scheduledPurgeDate: s.scheduledPurgeDate };
    },
    async rotationPolicy() {
      return undefined;
    },
  };
  /** crypto's side: versions of one key name, its delete flag. */
  const material = new Map<string, CryptoKey[]>();
  const notFound = (): CryptoError => new CryptoError(CryptoErrorCode.KeyNotFound, GrpcStatus.NOT_FOUND, 'no such key');
  const keyVersion = (name: string, k: CryptoKey): { key: KeyVersion } => ({
    key: {
      ref: { tenant: 'tenant-1', vault: 'dev', collection: 'keys', name, version: k.version },
      key: { kty: 'EC', keyOps: k.keyOps, n: Buffer.alloc(0), e: Buffer.alloc(0), crv: 'P-256', x: Buffer.alloc(32, 1), y: Buffer.alloc(32, 2) },
      attributes: { enabled: k.enabled, notBefore: 0, expires: 0, exportable: false },
      hsm: false,
      created: 1,
      updated: 1,
      deleted: k.deleted ? 1 : 0,
    },
  });
  const crypto = {
    async createKey(r: { ref: { name: string; version?: string }; keyOps?: readonly string[] }) {
      const list = material.get(r.ref.name) ?? [];
      if (list.some((k) => k.deleted)) throw new CryptoError(CryptoErrorCode.KeyConflict, GrpcStatus.ALREADY_EXISTS, 'deleted');
      const k = { version: r.ref.version!, enabled: true, keyOps: r.keyOps?.length ? [...r.keyOps] : ['sign', 'verify'], deleted: false };
      material.set(r.ref.name, [...list, k]);
      return keyVersion(r.ref.name, k);
    },
    async getKey(r: { ref: { name: string; version?: string }; deleted?: boolean }) {
      const list = material.get(r.ref.name) ?? [];
      const k = r.ref.version ? list.find((x) => x.version === r.ref.version) : list[list.length - 1];
      if (!k || k.deleted !== (r.deleted === true)) throw notFound();
      return keyVersion(r.ref.name, k);
    },
    async updateKey(r: { ref: { name: string; version?: string }; attributes?: { enabled: boolean }; keyOps?: readonly string[] }) {
      const k = (material.get(r.ref.name) ?? []).find((x) => x.version === r.ref.version && !x.deleted);
      if (!k) throw notFound();
      if (r.attributes) k.enabled = r.attributes.enabled;
      if (r.keyOps?.length) k.keyOps = [...r.keyOps];
      return keyVersion(r.ref.name, k);
    },
    async deleteKey(r: { ref: { name: string } }) {
      const list = material.get(r.ref.name) ?? [];
      if (list.length === 0 || list.some((k) => k.deleted)) throw notFound();
      for (const k of list) k.deleted = true;
      return { deleted: 1, versions: list.length };
    },
    async recoverKey(r: { ref: { name: string } }) {
      const list = material.get(r.ref.name) ?? [];
      if (list.length === 0 || !list.some((k) => k.deleted)) throw notFound();
      for (const k of list) k.deleted = false;
      return keyVersion(r.ref.name, list[list.length - 1]!);
    },
    async destroyKey(r: { ref: { name: string } }) {
      if (!material.delete(r.ref.name)) throw notFound();
      return { destroyed: 1 };
    },
  };
  const service = new KeysService(store as unknown as EventStore, repo as unknown as KeysRepository, crypto as unknown as CryptoClient);
  return { service, material, fold, failOnce: () => (failNextAppend = true) };
}

describe('KeysService: crypto first, then the vault events; a retry converges', () => {
  it('create: a failed append leaves an unlisted crypto version; the retry creates the version both agree on', async () => {
    const w = world();
    w.failOnce();
    await expect(w.service.create(VAULT, 'k1', parseCreateKey({ kty: 'EC' }), CALLER)).rejects.toThrow('database connection lost');
    expect(w.fold('k1').status).toBe('absent');
    const created = await w.service.create(VAULT, 'k1', parseCreateKey({ kty: 'EC' }), CALLER);
    expect(w.fold('k1').latest).toBe(created.version);
    expect(w.material.get('k1')!.at(-1)!.version).toBe(created.version);
  });

  it('update: crypto gets full values computed from the vault state; the retry sends them again, then records them', async () => {
    const w = world();
    const created = await w.service.create(VAULT, 'k2', parseCreateKey({ kty: 'EC' }), CALLER);
    w.failOnce();
    await expect(w.service.update(VAULT, 'k2', null, parseUpdateKey({ attributes: { enabled: false }, key_ops: ['verify'] }), CALLER)).rejects.toThrow();
    // Crypto already enforces the tighter state (the safe side); the vault still shows the old one.
    expect(w.material.get('k2')![0]!.enabled).toBe(false);
    expect(w.fold('k2').versions[created.version]!.enabled).toBe(true);
    const updated = await w.service.update(VAULT, 'k2', null, parseUpdateKey({ attributes: { enabled: false }, key_ops: ['verify'] }), CALLER);
    expect(updated.enabled).toBe(false);
    expect(w.fold('k2').versions[created.version]).toMatchObject({ enabled: false, keyOps: ['verify'] });
    expect(w.material.get('k2')![0]!.keyOps).toEqual(['verify']);
  });

  it('delete, recover and purge: crypto already in the target state is accepted on retry', async () => {
    const w = world();
    await w.service.create(VAULT, 'k3', parseCreateKey({ kty: 'EC' }), CALLER);
    w.failOnce();
    await expect(w.service.delete(VAULT, 'k3', CALLER)).rejects.toThrow();
    expect(w.material.get('k3')![0]!.deleted).toBe(true);
    expect(w.fold('k3').status).toBe('active');
    expect((await w.service.delete(VAULT, 'k3', CALLER)).deletedDate).toBeDefined();
    expect(w.fold('k3').status).toBe('deleted');

    w.failOnce();
    await expect(w.service.recover(VAULT, 'k3', CALLER)).rejects.toThrow();
    expect(w.material.get('k3')![0]!.deleted).toBe(false);
    await w.service.recover(VAULT, 'k3', CALLER);
    expect(w.fold('k3').status).toBe('active');

    await w.service.delete(VAULT, 'k3', CALLER);
    w.failOnce();
    await expect(w.service.purge(VAULT, 'k3', 'request', CALLER)).rejects.toThrow();
    expect(w.material.has('k3')).toBe(false);
    expect(await w.service.purge(VAULT, 'k3', 'request', CALLER)).toBe(true);
    expect(w.fold('k3').status).toBe('absent');
  });

  it('a refusal by the decider reaches neither crypto nor the store', async () => {
    const w = world();
    await w.service.create(VAULT, 'k4', parseCreateKey({ kty: 'EC' }), CALLER);
    await w.service.delete(VAULT, 'k4', CALLER);
    const before = w.material.get('k4')!.length;
    await expect(w.service.create(VAULT, 'k4', parseCreateKey({ kty: 'EC' }), CALLER)).rejects.toMatchObject({ code: 'KeyIsDeletedButRecoverable' });
    await expect(w.service.update(VAULT, 'k4', null, parseUpdateKey({ attributes: { enabled: false } }), CALLER)).rejects.toMatchObject({ code: 'KeyNotFound' });
    expect(w.material.get('k4')!.length).toBe(before);
    expect(w.material.get('k4')!.every((k) => k.enabled)).toBe(true);
  });
});
