import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pino from 'pino';
import type { CryptoClient } from '#libs/crypto-client';
import type { EventStore } from '#libs/eventstore';
import { REPO_ROOT } from '#libs/platform';
import { testDb, type TestDb } from '#libs/testing';
import { CertificateIssuersRepository } from '../../adapters/persistence/certificate-issuers.repository.js';
import { CertificatesRepository } from '../../adapters/persistence/certificates.repository.js';
import { SecretsRepository } from '../../adapters/persistence/secrets.repository.js';
import { VaultsRepository, type VaultRecord } from '../../adapters/persistence/vaults.repository.js';
import { evolveCertificate } from '../../domain/certificate/certificate.decider.js';
import { certificateStreamId, type CertificateEvent, type NearExpiryData } from '../../domain/certificate/certificate.events.js';
import { parsePolicy } from '../../domain/certificate/certificate.rules.js';
import { vaultEventRegistry } from '../../vault.module.js';
import { systemCaller, type Caller } from '../access/caller.js';
import { CertificateIssuersService } from '../certificate-issuers/certificate-issuers.service.js';
import { DataKeyCache } from '../keyring/data-key.cache.js';
import { InMemoryKeyring } from '../keyring/in-memory.keyring.fixture.js';
import type { KeysService } from '../keys/keys.service.js';
import { SecretsService } from '../secrets/secrets.service.js';
import { VaultsService } from '../vaults/vaults.service.js';
import { CertificateLifetimeScheduler } from './certificate-lifetime.scheduler.js';
import { CertificatesService } from './certificates.service.js';

const TENANT = '6a0c3f57-21f4-4e4b-9d6e-0b9f1b3c2d11';
const DAY = 86_400;
const T0 = 1_800_000_000;

/**
 * EmailContacts on real PostgreSQL, through the lifetime scheduler with an injected clock: the
 * vault accepts the action whether or not it has contacts (as Azure does), and the
 * CertificateNearExpiry event carries the contacts, or none with `noContacts`, plus what a
 * subscriber needs without them (name, thumbprint, expiry, trigger) — in the log and in the
 * copy published through the outbox. The near-expiry path needs no managed key, secret or
 * crypto call, so those collaborators are not given.
 */
describe('CertificateNearExpiry with and without the vault\'s contacts', () => {
  let t: TestDb;
  let store: EventStore;
  let repo: CertificatesRepository;
  let issuers: CertificateIssuersService;
  let scheduler: CertificateLifetimeScheduler;
  let vault: VaultRecord;
  const keyring = new InMemoryKeyring();
  const caller: Caller = systemCaller(TENANT, 'test');

  async function importedExpiringAt(name: string, version: string, exp: number): Promise<void> {
    const policy = parsePolicy({ x509_props: { subject: `CN=${name}`, validity_months: 1 }, issuer: { name: 'Unknown' }, lifetime_actions: [{ trigger: { days_before_expiry: 10 }, action: { action_type: 'EmailContacts' } }] }, T0);
    const events: CertificateEvent[] = [
      { type: 'CertificatePolicySet', data: { vaultId: vault.vaultId, name, policy } },
      { type: 'CertificateImported', data: { record: { version, cer: 'AA==', x5t: `x5t-${name}`, enabled: true, nbf: exp - 30 * DAY, exp, tags: null, created: T0, updated: T0 } } },
    ];
    const nameKey = name.toLowerCase();
    const after = events.reduce(evolveCertificate, (await repo.loadState(vault.vaultId, nameKey)).state);
    await store.appendToStream<CertificateEvent>(certificateStreamId(vault.vaultId, nameKey), 'no_stream', events, {
      metadata: { actor: 'test', tenant: TENANT },
      object: { vault: vault.nameKey, collection: 'certificates', name: nameKey },
      inTransaction: (tx, recorded) => repo.save(tx, vault.vaultId, nameKey, after, recorded[recorded.length - 1]!.streamVersion),
    });
  }

  async function recorded(name: string): Promise<{ logged: NearExpiryData[]; published: NearExpiryData[] }> {
    const logged = await t.db.query<{ data: NearExpiryData }>(`SELECT data FROM ${t.schema}.events WHERE type = 'CertificateNearExpiry' AND stream_id = $1`, [certificateStreamId(vault.vaultId, name.toLowerCase())]);
    const published = await t.db.query<{ data: NearExpiryData }>(`SELECT payload->'data' AS data FROM ${t.schema}.outbox WHERE payload->>'type' = 'CertificateNearExpiry' AND payload->'data'->>'name' = $1`, [name]);
    return { logged: logged.map((r) => r.data), published: published.map((r) => r.data) };
  }

  beforeAll(async () => {
    t = await testDb('t_cert_near_expiry');
    await t.db.migrate(join(REPO_ROOT, 'apps', 'vault', 'migrations'));
    store = t.eventStore(vaultEventRegistry(), { source: 'vault' });
    const secrets = new SecretsService(store, new SecretsRepository(t.db), keyring, new DataKeyCache({ maxEntries: 10, ttlMs: 60_000 }));
    const vaultsRepo = new VaultsRepository(t.db);
    vault = await new VaultsService(store, vaultsRepo, secrets, 0).create({ name: 'int-near-expiry', tenantId: TENANT, retentionDays: 7, purgeProtection: false, tags: {} }, caller);
    repo = new CertificatesRepository(t.db);
    issuers = new CertificateIssuersService(store, new CertificateIssuersRepository(t.db), keyring);
    const certificates = new CertificatesService(store, repo, undefined as unknown as KeysService, secrets, undefined as unknown as CryptoClient, issuers);
    scheduler = new CertificateLifetimeScheduler({ repo, vaultsRepo, certificates, logger: pino({ level: 'silent' }), intervalMs: 60_000 });
  });

  afterAll(async () => {
    keyring.close();
    await t.drop();
  });

  it('without contacts: the action fires once, the event says nobody is mailed and carries name, thumbprint, expiry and trigger', async () => {
    const exp = T0 + 40 * DAY;
    await importedExpiringAt('Lonely', '1'.repeat(32), exp);
    expect((await scheduler.runOnce(exp - 11 * DAY)).noticed).toBe(0);
    expect((await scheduler.runOnce(exp - 10 * DAY)).noticed).toBe(1);
    expect((await scheduler.runOnce(exp - 9 * DAY)).noticed).toBe(0);
    const { logged, published } = await recorded('Lonely');
    const want = { version: '1'.repeat(32), exp, notifiedDate: exp - 10 * DAY, name: 'Lonely', x5t: 'x5t-Lonely', trigger: { days_before_expiry: 10 }, contacts: [], noContacts: true };
    expect(logged).toEqual([want]);
    expect(published).toEqual([want]);
  });

  it('with contacts: the event lists them as the vault holds them when the action fires', async () => {
    const contacts = [{ email: 'pki@example.com', name: 'PKI team' }, { email: 'oncall@example.com', phone: '+1 555 0100' }];
    await issuers.setContacts(vault, contacts, caller);
    const exp = T0 + 60 * DAY;
    await importedExpiringAt('Watched', '2'.repeat(32), exp);
    expect((await scheduler.runOnce(exp - 10 * DAY)).noticed).toBe(1);
    const { logged } = await recorded('Watched');
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ name: 'Watched', contacts, noContacts: false });
  });
});
