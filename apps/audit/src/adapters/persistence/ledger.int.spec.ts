import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { EventRegistry } from '#libs/kernel';
import { registerLifecycleEvents, type EventStore } from '#libs/eventstore';
import { REPO_ROOT, createLogger } from '#libs/platform';
import { testDb, uniqueTenant, waitFor, type TestDb } from '#libs/testing';
import { CheckpointService } from '../../application/checkpoint.service.js';
import { VerifyService } from '../../application/verify.service.js';
import { registerAuditEvents } from '../../domain/audit.events.js';
import { sampleRecord } from '../../domain/audit-test.fixtures.js';
import { LedgerRepository } from './ledger.repository.js';
import { LocalEs256CheckpointSigner } from './local-checkpoint-signer.js';

jest.setTimeout(120_000);

let t: TestDb;
let ledger: LedgerRepository;
let store: EventStore;
let signer: LocalEs256CheckpointSigner;
let checkpoints: CheckpointService;
let verify: VerifyService;
const missing = new Map<string, string>();

beforeAll(async () => {
  t = await testDb('t_audit_ledger');
  await t.db.migrate(join(REPO_ROOT, 'apps', 'audit', 'migrations'));
  ledger = new LedgerRepository(t.db);
  store = t.eventStore(registerAuditEvents(registerLifecycleEvents(new EventRegistry())), { source: 'audit' });
  signer = new LocalEs256CheckpointSigner(t.db, randomBytes(32));
  checkpoints = new CheckpointService(t.db, ledger, store, signer, { everyRecords: 5, intervalMs: 3_600_000 }, createLogger('test', 'silent'));
  verify = new VerifyService(ledger, signer, async (chain, seq) => missing.get(`${chain}#${seq}`));
});

afterAll(async () => {
  await t?.drop();
});

async function appendRecords(tenant: string, n: number, prefix = tenant): Promise<string[]> {
  const records = Array.from({ length: n }, (_, i) => sampleRecord({ n: i, tenant, id: `${prefix}-${i + 1}` }));
  await t.db.transaction((tx) => ledger.append(tx, records));
  return records.map((r) => r.id);
}

describe('ledger: appends (real PostgreSQL)', () => {
  it('numbers each tenant\'s chain from 1 without gaps under concurrent writers, and verifies', async () => {
    const a = uniqueTenant();
    const b = uniqueTenant();
    await Promise.all(Array.from({ length: 12 }, (_, i) => appendRecords(i % 2 ? a : b, 7, `${i % 2 ? a : b}-w${i}`)));
    for (const chain of [a, b]) {
      const head = await ledger.head(chain);
      expect(head?.seq).toBe(42);
      const entries = await ledger.entries(chain, 1, 100, 100);
      expect(entries.map((e) => e.seq)).toEqual(Array.from({ length: 42 }, (_, i) => i + 1));
      expect(await verify.verify({ chain })).toMatchObject({ ok: true, records: 42, fromSeq: 1, toSeq: 42 });
    }
  });

  it('appends a record once, however often it is offered', async () => {
    const tenant = uniqueTenant();
    const r = sampleRecord({ tenant, id: `${tenant}-once` });
    await t.db.transaction((tx) => ledger.append(tx, [r, r]));
    await t.db.transaction((tx) => ledger.append(tx, [r]));
    expect((await ledger.head(tenant))?.seq).toBe(1);
  });

  it.each([
    ['a new chain', 0],
    ['a chain with entries', 3],
  ])('appends a redelivered record once when its first append commits while the second waits for %s (no inbox: the ledger dedupes)', async (_, before) => {
    const tenant = uniqueTenant();
    const earlier = await appendRecords(tenant, before, `${tenant}-earlier`);
    const records = Array.from({ length: 12 }, (_, i) => sampleRecord({ n: i, tenant, id: `${tenant}-redelivered-${i + 1}` }));
    let second: Promise<string[]> | undefined;
    await t.db.transaction(async (tx) => {
      // The first delivery holds the chain's head until it commits…
      expect(await ledger.append(tx, records.slice(0, 8))).toHaveLength(8);
      // …the redelivery (records 5-12) waits for that lock, its statement snapshot taken before the commit.
      second = t.db.transaction(async (tx2) => (await ledger.append(tx2, records.slice(4))).map((e) => e.recordId));
      await waitFor(async () => {
        const [row] = await t.db.query<{ n: string }>(
          `SELECT count(*)::text AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE $1`,
          [`%${t.schema}.chain_heads%`],
        );
        return row?.n === '1' ? true : undefined;
      }, { what: 'the second append waiting for the head lock' });
    });
    expect(await second).toEqual(records.slice(8).map((r) => r.id));
    const rows = await t.db.query<{ n: string; ids: string }>(`SELECT count(*)::text AS n, count(DISTINCT record_id)::text AS ids FROM ${t.schema}.ledger_entries WHERE chain = $1`, [tenant]);
    expect(rows[0]).toEqual({ n: String(before + 12), ids: String(before + 12) });
    expect((await ledger.entries(tenant, 1, 100, 100)).map((e) => e.recordId)).toEqual([...earlier, ...records.map((r) => r.id)]);
    expect(await verify.verify({ chain: tenant })).toMatchObject({ ok: true, records: before + 12 });
    // And offered again once both committed: nothing written, the head stays.
    expect(await t.db.transaction((tx) => ledger.append(tx, records))).toEqual([]);
    expect((await ledger.head(tenant))?.seq).toBe(before + 12);
  });
});

describe('ledger: tamper evidence (rows edited directly in PostgreSQL)', () => {
  const s = (): string => t.schema;

  it('an altered record fails verification naming it', async () => {
    const chain = uniqueTenant();
    const ids = await appendRecords(chain, 8);
    await t.db.query(`UPDATE ${s()}.ledger_entries SET record = replace(record, '"Success"', '"Failure"') WHERE chain = $1 AND seq = 5`, [chain]);
    const res = await verify.verify({ chain });
    expect(res.ok).toBe(false);
    expect(res.brokenLink).toMatchObject({ kind: 'RecordAltered', seq: 5, recordId: ids[4] });
  });

  it('a deleted record fails verification; the search index copy names it', async () => {
    const chain = uniqueTenant();
    const ids = await appendRecords(chain, 8);
    await t.db.query(`DELETE FROM ${s()}.ledger_entries WHERE chain = $1 AND seq = 3`, [chain]);
    missing.set(`${chain}#3`, ids[2]!);
    const res = await verify.verify({ chain });
    expect(res.brokenLink).toMatchObject({ kind: 'RecordMissing', seq: 3, recordId: ids[2], recordIdSource: 'search-index' });
  });

  it('reordered records fail verification', async () => {
    const chain = uniqueTenant();
    const ids = await appendRecords(chain, 8);
    await t.db.transaction(async (tx) => {
      await tx.query(`UPDATE ${s()}.ledger_entries SET seq = -1 WHERE chain = $1 AND seq = 4`, [chain]);
      await tx.query(`UPDATE ${s()}.ledger_entries SET seq = 4 WHERE chain = $1 AND seq = 5`, [chain]);
      await tx.query(`UPDATE ${s()}.ledger_entries SET seq = 5 WHERE chain = $1 AND seq = -1`, [chain]);
    });
    const res = await verify.verify({ chain });
    expect(res.ok).toBe(false);
    expect(res.brokenLink?.seq).toBe(4);
    expect(res.brokenLink?.recordId).toBe(ids[4]);
  });

  it('records removed from the end are caught by the signed checkpoint', async () => {
    const chain = uniqueTenant();
    await appendRecords(chain, 6);
    expect(await checkpoints.checkpoint(chain)).toMatchObject({ number: 1, headSeq: 6, count: 6 });
    await t.db.query(`DELETE FROM ${s()}.ledger_entries WHERE chain = $1 AND seq > 4`, [chain]);
    const lastHash = (await ledger.entries(chain, 4, 4, 1))[0]!.hash;
    await t.db.query(`UPDATE ${s()}.chain_heads SET seq = 4, hash = $2 WHERE chain = $1`, [chain, lastHash]);
    expect((await verify.verify({ chain })).brokenLink).toMatchObject({ kind: 'RecordMissing', seq: 5, checkpoint: 1 });
  });
});

describe('ledger: signed checkpoints', () => {
  it('are written every N records and when idle, chained by signature, published as events, and verified', async () => {
    const chain = uniqueTenant();
    await appendRecords(chain, 12);
    const due = await checkpoints.runDue();
    expect(due).toBeGreaterThanOrEqual(1);
    const first = await ledger.lastCheckpoint(chain);
    expect(first).toMatchObject({ number: 1, headSeq: 12, count: 12, fromSeq: 1, previousSignature: null, algorithm: 'ES256' });
    expect(first?.keyId).toMatch(/^local-es256-[0-9a-f]{16}$/);
    // Not due again: fewer than N new records and the interval has not passed.
    await checkpoints.runDue();
    expect((await ledger.lastCheckpoint(chain))?.number).toBe(1);
    // Idle: an interval checkpoint with the same head.
    const idle = await checkpoints.checkpoint(chain, { everyRecords: 5, intervalMs: 0 });
    expect(idle).toMatchObject({ number: 2, headSeq: 12, fromSeq: 13, fromTime: null, previousSignature: first!.signature });
    expect(await verify.verify({ chain })).toMatchObject({ ok: true, checkpoints: 2 });
    const published = await store.readStream(`audit-checkpoints-${chain}`);
    expect(published.map((e) => e.type)).toEqual(['AuditCheckpointSigned', 'AuditCheckpointSigned']);
  });

  it('numbers checkpoints past 9 correctly (numeric, not text, order)', async () => {
    const chain = uniqueTenant();
    await appendRecords(chain, 2);
    for (let i = 0; i < 12; i++) await checkpoints.checkpoint(chain);
    expect((await ledger.lastCheckpoint(chain))?.number).toBe(12);
    expect(await verify.verify({ chain })).toMatchObject({ ok: true, checkpoints: 12 });
  });

  it('a forged checkpoint signature is detected', async () => {
    const chain = uniqueTenant();
    await appendRecords(chain, 3);
    const cp = (await checkpoints.checkpoint(chain))!;
    const sig = Buffer.from(cp.signature, 'base64url');
    sig[5] = (sig[5]! ^ 0xff) & 0xff;
    await t.db.query(`UPDATE ${t.schema}.ledger_checkpoints SET signature = $2 WHERE chain = $1 AND number = 1`, [chain, sig.toString('base64url')]);
    expect((await verify.verify({ chain })).brokenLink).toMatchObject({ kind: 'CheckpointSignatureInvalid', checkpoint: 1 });
  });

  it('a checkpoint re-signed with a key inserted into the key table is not trusted', async () => {
    const chain = uniqueTenant();
    await appendRecords(chain, 3);
    await checkpoints.checkpoint(chain);
    const { generateKeyPairSync } = await import('node:crypto');
    const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
    await t.db.query(`INSERT INTO ${t.schema}.checkpoint_signing_keys (key_id, provider, algorithm, public_jwk, sealed_private) VALUES ('local-es256-attacker', 'local', 'ES256', $1::jsonb, $2)`, [JSON.stringify(jwk), Buffer.from([1, 2, 3])]);
    await t.db.query(`UPDATE ${t.schema}.ledger_checkpoints SET key_id = 'local-es256-attacker' WHERE chain = $1`, [chain]);
    expect((await verify.verify({ chain })).brokenLink).toMatchObject({ kind: 'CheckpointKeyUntrusted' });
  });

  it('gives a record a proof that folds to a signed checkpoint', async () => {
    const chain = uniqueTenant();
    const ids = await appendRecords(chain, 9);
    await checkpoints.checkpoint(chain);
    const entry = (await ledger.entryByRecordId(ids[2]!))!;
    const proof = await verify.proof(entry);
    expect(proof.verified).toBe(true);
    expect(proof.path.map((p) => p.seq)).toEqual([4, 5, 6, 7, 8, 9]);
    expect(proof.checkpoint?.headSeq).toBe(9);
    expect(proof.publicKey).toMatchObject({ kty: 'EC', crv: 'P-256' });
  });

  it('keeps using the sealed key after a restart, and refuses another key-encryption key', async () => {
    const again = new LocalEs256CheckpointSigner(t.db, (signer as unknown as { kek: Buffer }).kek);
    expect(await again.currentKeyId()).toBe(await signer.currentKeyId());
    const wrong = new LocalEs256CheckpointSigner(t.db, randomBytes(32));
    await expect(wrong.init()).rejects.toThrow(/can be opened/);
    expect(await wrong.trustedPublicKey(await signer.currentKeyId())).toBeUndefined();
  });
});
