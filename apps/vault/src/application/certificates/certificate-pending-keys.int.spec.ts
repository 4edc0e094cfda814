import { createPrivateKey, createPublicKey, privateEncrypt, randomBytes, constants, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CryptoError, CryptoErrorCode, GrpcStatus, type CryptoClient, type DecryptDataKeyRequest, type DestroyDataKeysRequest, type GenerateDataKeyRequest, type ImportKeyRequest, type KeyOperationRequest, type KeyVersion, type ObjectRef } from '#libs/crypto-client';
import { open as openEnvelope } from '#libs/crypto-core';
import type { EventStore } from '#libs/eventstore';
import { REPO_ROOT } from '#libs/platform';
import { testDb, type TestDb } from '#libs/testing';
import { csrPublicKey } from '#libs/x509';
import { CertificatesRepository } from '../../adapters/persistence/certificates.repository.js';
import { KeysRepository } from '../../adapters/persistence/keys.repository.js';
import { SecretsRepository } from '../../adapters/persistence/secrets.repository.js';
import { VaultsRepository, type VaultRecord } from '../../adapters/persistence/vaults.repository.js';
import { certificateStreamId, type PendingRecord } from '../../domain/certificate/certificate.events.js';
import { parseCreateCertificate } from '../../domain/certificate/certificate.rules.js';
import { vaultEventRegistry } from '../../vault.module.js';
import { systemCaller, type Caller } from '../access/caller.js';
import { DataKeyCache } from '../keyring/data-key.cache.js';
import { InMemoryKeyring } from '../keyring/in-memory.keyring.fixture.js';
import { KeysService } from '../keys/keys.service.js';
import { SecretsService } from '../secrets/secrets.service.js';
import { VaultsService } from '../vaults/vaults.service.js';
import { BuiltInIssuerDirectory } from './certificate-issuers.js';
import { CertificatesService } from './certificates.service.js';

const TENANT = '0f3c8a51-6d2e-4c7b-9a41-2b8e5d7c6f10';
const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');

const refKey = (r: ObjectRef): string => [r.tenant, r.vault, r.collection, r.name, r.version ?? ''].join('/').toLowerCase();
const notFound = (code: CryptoErrorCode): CryptoError => new CryptoError(code, GrpcStatus.NOT_FOUND, 'not found');

/**
 * The part of the crypto service certificates use, in memory: imported RSA keys that sign
 * (PKCS#1 v1.5 over the digest, as RS256 in crypto), and data keys bound to their object that
 * are gone once destroyed — as the real service's custody behaves (its own tests: crypto e2e
 * and test/e2e/vault/certificates-pending.e2e.spec.ts against the running service).
 */
class InMemoryCrypto {
  private readonly keys = new Map<string, KeyObject>();
  private readonly versions = new Map<string, KeyVersion>();
  private readonly dataKeys = new Map<string, { ref: string; key: Buffer }>();
  readonly destroyedKeyRefs: string[] = [];

  async importKey(req: ImportKeyRequest): Promise<{ key: KeyVersion }> {
    const priv = createPrivateKey({ key: JSON.parse(req.jwkJson) as import('node:crypto').JsonWebKey, format: 'jwk' });
    this.keys.set(refKey(req.ref), priv);
    const pub = createPublicKey(priv).export({ format: 'jwk' });
    const empty = Buffer.alloc(0);
    const version: KeyVersion = {
      ref: { tenant: req.ref.tenant, vault: req.ref.vault, collection: req.ref.collection, name: req.ref.name, version: req.ref.version ?? '' },
      key: { kty: 'RSA', keyOps: [...(req.keyOps ?? [])], n: Buffer.from(pub.n!, 'base64url'), e: Buffer.from(pub.e!, 'base64url'), crv: '', x: empty, y: empty },
      attributes: { enabled: true, notBefore: 0, expires: 0, exportable: req.attributes?.exportable ?? false },
      hsm: false,
      created: 1,
      updated: 1,
      deleted: 0,
    };
    this.versions.set(refKey(req.ref), version);
    return { key: version };
  }

  async getKey(req: { ref: ObjectRef }): Promise<{ key: KeyVersion }> {
    const version = this.versions.get(refKey(req.ref));
    if (!version) throw notFound(CryptoErrorCode.KeyNotFound);
    return { key: version };
  }

  async sign(req: KeyOperationRequest): Promise<{ result: Buffer }> {
    const key = this.keys.get(refKey(req.ref));
    if (!key) throw notFound(CryptoErrorCode.KeyNotFound);
    return { result: privateEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, Buffer.concat([SHA256_DIGEST_INFO, req.value])) };
  }

  async deleteKey(): Promise<{ deleted: number; versions: number }> {
    return { deleted: 1, versions: 1 };
  }

  async destroyKey(req: { ref: ObjectRef }): Promise<{ destroyed: number }> {
    this.destroyedKeyRefs.push(refKey(req.ref));
    return { destroyed: 1 };
  }

  async generateDataKey(req: GenerateDataKeyRequest): Promise<{ keyId: string; plaintext: Buffer }> {
    const keyId = randomBytes(16).toString('hex');
    const key = randomBytes(32);
    this.dataKeys.set(keyId, { ref: refKey(req.ref), key });
    return { keyId, plaintext: Buffer.from(key) };
  }

  async decryptDataKey(req: DecryptDataKeyRequest): Promise<{ plaintext: Buffer }> {
    const k = this.dataKeys.get(req.keyId);
    if (!k || k.ref !== refKey(req.ref)) throw notFound(CryptoErrorCode.DataKeyNotFound);
    return { plaintext: Buffer.from(k.key) };
  }

  /** `ref.version` '' (and no key ids): every data key of the object, all versions. */
  async destroyDataKeys(req: DestroyDataKeysRequest): Promise<{ destroyed: number }> {
    const exact = refKey(req.ref);
    const prefix = exact.endsWith('/') ? exact : null;
    let destroyed = 0;
    for (const [id, k] of this.dataKeys) {
      const hit = req.keyIds?.length ? req.keyIds.includes(id) : prefix ? k.ref.startsWith(prefix) : k.ref === exact;
      if (hit) {
        k.key.fill(0);
        this.dataKeys.delete(id);
        destroyed++;
      }
    }
    return { destroyed };
  }
}

/**
 * Crypto-shredding of an exportable pending operation's private key on real PostgreSQL: the
 * envelope recorded in `CertificateOperationStarted` opens (to the CSR's key) while the
 * operation waits, and can no longer be opened once the operation is cancelled, deleted, or
 * the certificate purged — the envelope itself stays in the immutable log. GETs append nothing.
 */
describe('pending certificate keys: sealed under their own data key, shredded when the operation or the certificate goes', () => {
  let t: TestDb;
  let store: EventStore;
  let vault: VaultRecord;
  let certificates: CertificatesService;
  const crypto = new InMemoryCrypto();
  const keyring = new InMemoryKeyring();
  const caller: Caller = systemCaller(TENANT, 'test');

  async function sealedInLog(name: string): Promise<PendingRecord> {
    const rows = await t.db.query<{ p: PendingRecord }>(`SELECT data->'pending' AS p FROM ${t.schema}.events WHERE stream_id = $1 AND type = 'CertificateOperationStarted'`, [certificateStreamId(vault.vaultId, name.toLowerCase())]);
    expect(rows).toHaveLength(1);
    return rows[0]!.p;
  }

  async function eventsOf(name: string): Promise<number> {
    const rows = await t.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${t.schema}.events WHERE stream_id = $1`, [certificateStreamId(vault.vaultId, name.toLowerCase())]);
    return Number(rows[0]!.n);
  }

  /** Opens the logged envelope as the vault does; the error code when it cannot. */
  async function openLogged(name: string, p: PendingRecord): Promise<Buffer | string> {
    const ref = { tenant: TENANT, vault: vault.nameKey, collection: 'certificates', name: name.toLowerCase(), version: p.version };
    try {
      const key = (await crypto.decryptDataKey({ ctx: undefined as never, ref, keyId: p.sealedKeyId! })).plaintext;
      return openEnvelope(key, Buffer.from(p.sealedKey!, 'base64'), ref, { expectedKeyId: p.sealedKeyId! });
    } catch (err) {
      return (err as { code?: string }).code ?? 'error';
    }
  }

  async function waiting(name: string): Promise<PendingRecord> {
    await certificates.create(vault, name, parseCreateCertificate({ policy: { issuer: { name: 'Unknown' }, x509_props: { subject: `CN=${name}.internal` } } }, Math.floor(Date.now() / 1000)), caller);
    const p = await sealedInLog(name);
    const opened = await openLogged(name, p);
    expect(Buffer.isBuffer(opened)).toBe(true);
    // The sealed key is the private key of the CSR.
    const spki = createPublicKey(createPrivateKey({ key: opened as Buffer, format: 'der', type: 'pkcs8' })).export({ format: 'der', type: 'spki' });
    expect(Buffer.from(spki).equals(Buffer.from(csrPublicKey(new Uint8Array(Buffer.from(p.csr, 'base64')))))).toBe(true);
    return p;
  }

  beforeAll(async () => {
    t = await testDb('t_cert_pending_keys');
    await t.db.migrate(join(REPO_ROOT, 'apps', 'vault', 'migrations'));
    store = t.eventStore(vaultEventRegistry(), { source: 'vault' });
    const secrets = new SecretsService(store, new SecretsRepository(t.db), keyring, new DataKeyCache({ maxEntries: 10, ttlMs: 60_000 }));
    vault = await new VaultsService(store, new VaultsRepository(t.db), secrets, 0).create({ name: 'int-pending-keys', tenantId: TENANT, retentionDays: 7, purgeProtection: false, tags: {} }, caller);
    const cryptoClient = crypto as unknown as CryptoClient;
    certificates = new CertificatesService(store, new CertificatesRepository(t.db), new KeysService(store, new KeysRepository(t.db), cryptoClient), secrets, cryptoClient, new BuiltInIssuerDirectory());
  });

  afterAll(async () => {
    keyring.close();
    await t.drop();
  });

  it('a waiting operation\'s key opens; GETs append nothing; cancelling shreds it', async () => {
    const p = await waiting('Cancelled');
    expect(p.sealedKey).not.toContain('PRIVATE');
    const before = await eventsOf('Cancelled');
    for (let i = 0; i < 3; i++) {
      expect((await certificates.getPending(vault, 'Cancelled')).pending.status).toBe('inProgress');
      await certificates.get(vault, 'Cancelled', null);
    }
    expect(await eventsOf('Cancelled')).toBe(before);
    expect((await certificates.cancelPending(vault, 'Cancelled', caller)).pending.status).toBe('cancelled');
    expect(await openLogged('Cancelled', p)).toBe(CryptoErrorCode.DataKeyNotFound);
  });

  it('deleting the operation shreds its key', async () => {
    const p = await waiting('Dropped');
    await certificates.deletePending(vault, 'Dropped', caller);
    expect(await openLogged('Dropped', p)).toBe(CryptoErrorCode.DataKeyNotFound);
  });

  it('soft delete keeps the key (recoverable); purge shreds every data key of the certificate and purges the managed key in crypto', async () => {
    const p = await waiting('Purged');
    await certificates.delete(vault, 'Purged', caller);
    expect(Buffer.isBuffer(await openLogged('Purged', p))).toBe(true);
    expect(await certificates.purge(vault, 'Purged', 'request', caller)).toBe(true);
    expect(await openLogged('Purged', p)).toBe(CryptoErrorCode.DataKeyNotFound);
    expect(crypto.destroyedKeyRefs).toContain(`${TENANT}/${vault.nameKey}/keys/purged/`);
    // The envelope is still in the immutable log: only its key is gone.
    expect((await sealedInLog('Purged')).sealedKey).toBe(p.sealedKey);
  });
});
