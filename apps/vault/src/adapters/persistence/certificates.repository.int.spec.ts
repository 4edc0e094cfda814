import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { EventStore } from '#libs/eventstore';
import { REPO_ROOT } from '#libs/platform';
import { testDb, type TestDb } from '#libs/testing';
import { decideDelete, decidePurge, decideUpdate, evolveCertificate, type CertificateState } from '../../domain/certificate/certificate.decider.js';
import { certificateStreamId, type CertificateEvent } from '../../domain/certificate/certificate.events.js';
import { parsePolicy } from '../../domain/certificate/certificate.rules.js';
import { vaultEventRegistry } from '../../vault.module.js';
import { CertificatesRepository } from './certificates.repository.js';
import { ReadModelRebuilder } from './read-model.rebuilder.js';
import { SecretsRepository } from './secrets.repository.js';
import { VaultsRepository } from './vaults.repository.js';

const VAULT = '7b1d2a0f-4e8b-4b54-8e2d-7d2f1f1c8b33';
const V1 = '0123456789abcdef0123456789abcdef';
const T0 = 1_800_000_000;

/** The certificates read model on real PostgreSQL: states saved in each append, listed, and rebuilt from the log to the same state. */
describe('CertificatesRepository on PostgreSQL', () => {
  let t: TestDb;
  let store: EventStore;
  let repo: CertificatesRepository;

  async function append(nameKey: string, decide: (s: CertificateState) => CertificateEvent[]): Promise<void> {
    const { state, streamVersion } = await repo.loadState(VAULT, nameKey);
    const events = decide(state);
    const after = events.reduce(evolveCertificate, state);
    await store.appendToStream<CertificateEvent>(certificateStreamId(VAULT, nameKey), streamVersion === 0 ? 'no_stream' : streamVersion, events, {
      metadata: { actor: 'test', tenant: 't' },
      object: { vault: 'certs-vault', collection: 'certificates', name: nameKey },
      inTransaction: (tx, recorded) => repo.save(tx, VAULT, nameKey, after, recorded[recorded.length - 1]!.streamVersion),
    });
  }
  const started = (name: string): CertificateEvent[] => [
    { type: 'CertificatePolicySet', data: { vaultId: VAULT, name, policy: parsePolicy({ x509_props: { subject: `CN=${name}` }, issuer: { name: 'Self' } }, T0) } },
    {
      type: 'CertificateOperationStarted',
      data: {
        pending: { version: V1, requestId: 'a'.repeat(32), issuerName: 'Self', csr: 'AA==', cancellationRequested: false, status: 'inProgress', statusDetails: 'in progress', error: null, sealedKey: 'c2VhbGVk' },
        record: { version: V1, cer: null, x5t: null, enabled: false, nbf: null, exp: null, tags: null, created: T0, updated: T0 },
      },
    },
  ];

  beforeAll(async () => {
    t = await testDb('t_vault_certs');
    await t.db.migrate(join(REPO_ROOT, 'apps', 'vault', 'migrations'));
    store = t.eventStore(vaultEventRegistry(), { source: 'vault' });
    repo = new CertificatesRepository(t.db);
  });

  afterAll(async () => {
    await t.drop();
  });

  it('saves create → issue → update → delete, lists by status, forgets a purged certificate', async () => {
    await append('web', () => started('Web'));
    await append('web', () => [{ type: 'CertificateIssued', data: { version: V1, cer: 'AA==', x5t: 'x', enabled: true, nbf: T0 - 600, exp: T0 + 1000, issued: T0 + 1, origin: 'self' } }]);
    await append('web', (s) => decideUpdate(s, 'web', null, { tags: { team: 'a' } }, T0 + 2));
    await append('api', () => started('Api'));
    const web = (await repo.loadState(VAULT, 'web')).state;
    expect(web).toMatchObject({ status: 'active', name: 'Web', latest: V1, pending: { status: 'completed' } });
    expect(web.versions[0]).toMatchObject({ cer: 'AA==', enabled: true, tags: { team: 'a' } });
    expect((await repo.list(VAULT, 'active', undefined, 10)).map((r) => r.nameKey)).toEqual(['api', 'web']);
    await append('api', (s) => decideDelete(s, 'api', T0 + 3, 7));
    expect((await repo.list(VAULT, 'deleted', undefined, 10)).map((r) => r.nameKey)).toEqual(['api']);
    expect(await repo.duePurges(T0 + 3 + 7 * 86_400, 10)).toEqual([{ vaultId: VAULT, nameKey: 'api' }]);
    await append('api', (s) => decidePurge(s, 'api', T0 + 3 + 7 * 86_400, 'scheduled', false));
    expect((await repo.loadState(VAULT, 'api')).state.status).toBe('absent');
    expect((await repo.loadState(VAULT, 'api')).streamVersion).toBe(4);
  });

  it('the certificates read model is rebuilt from the event log to the same state', async () => {
    const snapshot = () => t.db.query(`SELECT * FROM ${t.schema}.certificates ORDER BY vault_id, name_key`);
    const before = await snapshot();
    expect(before.length).toBe(1);
    const { events } = await new ReadModelRebuilder(t.db, vaultEventRegistry(), new VaultsRepository(t.db), new SecretsRepository(t.db), undefined, undefined, repo).rebuild(3);
    expect(events).toBe(8);
    expect(await snapshot()).toEqual(before);
  });

  it('lists operations in progress for the issuance pass once their grace period is over, through the partial index of migration 008', async () => {
    await append('slow', () => started('Slow'));
    expect(await repo.pendingIssuance(T0 - 1, 10)).toEqual([]);
    expect((await repo.pendingIssuance(T0, 10)).map((r) => [r.nameKey, r.state.pending?.status])).toEqual([['slow', 'inProgress']]);
    expect(await repo.pendingIssuance(T0, 10, `${VAULT}/slow`)).toEqual([]);
    await append('slow', () => [{ type: 'CertificateIssued', data: { version: V1, cer: 'AA==', x5t: 'x', enabled: true, nbf: T0 - 600, exp: T0 + 1000, issued: T0 + 1, origin: 'self' } }]);
    expect(await repo.pendingIssuance(T0 + 10, 10)).toEqual([]);
    const idx = await t.db.query<{ indexdef: string }>(`SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname = 'certificates_pending_idx'`, [t.schema]);
    expect(idx[0]?.indexdef).toContain("'inProgress'");
  });
});
