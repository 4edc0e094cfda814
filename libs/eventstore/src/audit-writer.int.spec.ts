/**
 * AuditWriter on a real PostgreSQL: a record is committed to the outbox (envelope, headers,
 * topic and key intact, whatever characters its fields hold) before `write` resolves;
 * concurrent writes share group commits; `writeAll` groups commit together or not at all; a
 * failed commit rejects every caller of that batch (fail closed) and the writer recovers.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { newAuditRecord, TOPICS, type AuditRecord, type Envelope } from '#libs/contracts';
import { sleep, testDb, testLogger, uniqueTenant, waitFor, type TestDb } from '#libs/testing';
import { AuditUnavailableError, AuditWriter } from './audit-writer.js';
import { OutboxRelay } from './outbox-relay.js';

let t: TestDb;
const tenant = uniqueTenant();

beforeAll(async () => {
  t = await testDb('t_audit_writer');
});

afterAll(async () => {
  await t?.drop();
});

let n = 0;
function record(overrides: Partial<Parameters<typeof newAuditRecord>[0]> = {}): AuditRecord {
  n++;
  return newAuditRecord({
    tenant,
    source: 'spec',
    resourceId: `/tenants/${tenant}/vaults/v1/keys/k${n}`,
    operationName: 'KeySign',
    operationVersion: 'keyledger.spec.v1',
    resultType: 'Success',
    resultSignature: 'OK',
    durationMs: 1.25,
    callerIpAddress: '192.0.2.1',
    correlationId: `corr-${n}`,
    identity: { oid: 'oid-1', appid: 'app-1', tid: tenant },
    properties: { requestUri: 'https://v1.vault.localhost/keys/k/sign', algorithm: 'RS256', vault: 'v1', extra: { hsm: 'false' } },
    ...overrides,
  });
}

type OutboxRow = { id: string; transaction_id: string; topic: string; message_key: string; headers: Record<string, string>; payload: Envelope<AuditRecord> };

async function rowsOf(correlationIds: readonly string[]): Promise<OutboxRow[]> {
  return t.db.query<OutboxRow>(
    `SELECT id::text, transaction_id::text, topic, message_key, headers, payload FROM ${t.schema}.outbox WHERE payload->>'correlationId' = ANY($1::text[]) ORDER BY id`,
    [correlationIds],
  );
}

describe('AuditWriter', () => {
  it('a record is in the outbox, complete and exact, when write resolves', async () => {
    const writer = new AuditWriter(t.db, 'spec');
    const r = record({
      correlationId: `corr-quotes-${n}`,
      resultType: 'Failure',
      resultSignature: 'INVALID_ARGUMENT',
      resultDescription: 'BadParameter: "quoted", back\\slash, tab\t, newline\n, unicode ✓ é 𝄞, </script>',
    });
    await writer.write(r);
    const [row, ...more] = await rowsOf([r.correlationId]);
    expect(more).toHaveLength(0);
    expect(row!.topic).toBe(TOPICS.auditRecords);
    expect(row!.message_key).toBe(tenant);
    expect(row!.payload.data).toEqual(r);
    expect(row!.payload).toMatchObject({ id: r.id, type: 'AuditRecord', schemaVersion: 1, source: 'spec', subject: tenant, tenant, time: r.time, correlationId: r.correlationId });
    expect(row!.headers).toEqual({ id: r.id, type: 'AuditRecord', schemaVersion: '1', source: 'spec', subject: tenant, time: r.time, correlationId: r.correlationId, tenant });
  });

  it('concurrent writes share group commits (fewer transactions than records), each record once', async () => {
    const writer = new AuditWriter(t.db, 'spec', { maxInFlight: 1 });
    const records = Array.from({ length: 200 }, () => record());
    await Promise.all(records.map((r) => writer.write(r)));
    const rows = await rowsOf(records.map((r) => r.correlationId));
    expect(rows.map((r) => r.payload.id).sort()).toEqual(records.map((r) => r.id).sort());
    const commits = new Set(rows.map((r) => r.transaction_id)).size;
    expect(commits).toBeLessThan(records.length / 4);
  });

  it('batches are capped at maxBatch records', async () => {
    const writer = new AuditWriter(t.db, 'spec', { maxInFlight: 1, maxBatch: 10 });
    const records = Array.from({ length: 45 }, () => record());
    await Promise.all(records.map((r) => writer.write(r)));
    const rows = await rowsOf(records.map((r) => r.correlationId));
    expect(rows).toHaveLength(45);
    const perCommit = new Map<string, number>();
    for (const r of rows) perCommit.set(r.transaction_id, (perCommit.get(r.transaction_id) ?? 0) + 1);
    expect(Math.max(...perCommit.values())).toBeLessThanOrEqual(10);
    expect(perCommit.size).toBeGreaterThanOrEqual(5);
  });

  it('writeAll: the records of a group commit together (one transaction, even beyond maxBatch) or not at all', async () => {
    const writer = new AuditWriter(t.db, 'spec', { maxInFlight: 1, maxBatch: 5 });
    const group = Array.from({ length: 12 }, () => record());
    const singles = Array.from({ length: 6 }, () => record());
    await Promise.all([...singles.slice(0, 3).map((r) => writer.write(r)), writer.writeAll(group), ...singles.slice(3).map((r) => writer.write(r))]);
    const rows = await rowsOf(group.map((r) => r.correlationId));
    expect(rows).toHaveLength(12);
    expect(new Set(rows.map((r) => r.transaction_id)).size).toBe(1);
    expect(await rowsOf(singles.map((r) => r.correlationId))).toHaveLength(6);

    const victim = record();
    const doomed = [record(), victim, record()];
    await t.db.query(`CREATE OR REPLACE FUNCTION ${t.schema}.refuse_one() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.payload->>'correlationId' = '${victim.correlationId}' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$;
      CREATE TRIGGER refuse_one BEFORE INSERT ON ${t.schema}.outbox FOR EACH ROW EXECUTE FUNCTION ${t.schema}.refuse_one()`);
    try {
      await expect(writer.writeAll(doomed)).rejects.toBeInstanceOf(AuditUnavailableError);
    } finally {
      await t.db.query(`DROP TRIGGER IF EXISTS refuse_one ON ${t.schema}.outbox`);
    }
    expect(await rowsOf(doomed.map((r) => r.correlationId))).toHaveLength(0);
    await expect(writer.writeAll([])).resolves.toBeUndefined();
  });

  it('wakes a relay of its schema running in this process directly, with no NOTIFY; with none running here, its commit notifies', async () => {
    const listener = new pg.Client({ connectionString: t.db.url });
    await listener.connect();
    const heard: string[] = [];
    listener.on('notification', (m) => heard.push(m.channel));
    await listener.query(`LISTEN ${t.schema}_outbox`);
    try {
      const writer = new AuditWriter(t.db, 'spec');
      await writer.write(record());
      await waitFor(() => heard.length === 1, { what: 'the NOTIFY of a commit with no relay here' });

      // A relay of the schema in this process (its Kafka unreachable: nothing is published anywhere).
      const kafka = new Kafka({ clientId: 'spec-unreachable', brokers: ['127.0.0.1:9'], retry: { retries: 0 }, connectionTimeout: 200, logLevel: logLevel.NOTHING });
      const relay = new OutboxRelay(t.db, kafka, testLogger('relay'), { pollIntervalMs: 60_000, maxBackoffMs: 60_000 });
      const woken = jest.spyOn(relay, 'committed').mockImplementation(() => undefined);
      await relay.start();
      try {
        const quiet = record();
        await writer.write(quiet);
        expect(await rowsOf([quiet.correlationId])).toHaveLength(1);
        expect(woken).toHaveBeenCalledTimes(1);
        await writer.writeAll([record(), record()]);
        expect(woken).toHaveBeenCalledTimes(2);
        await sleep(300);
        expect(heard).toEqual([`${t.schema}_outbox`]); // no NOTIFY since the relay started
      } finally {
        await relay.stop();
      }
      // Stopped: the next commit notifies again.
      await writer.write(record());
      await waitFor(() => heard.length === 2, { what: 'the NOTIFY once the relay stopped' });
      expect(woken).toHaveBeenCalledTimes(2);
    } finally {
      await listener.end();
    }
  });

  it('a record carrying a sensitive field is refused, and nothing is written', async () => {
    const writer = new AuditWriter(t.db, 'spec');
    const bad = record({ properties: { extra: { plaintext: 'oops' } } });
    await expect(writer.write(bad)).rejects.toThrow(/not allowed/);
    expect(await rowsOf([bad.correlationId])).toHaveLength(0);
  });

  it('fails closed: when the commit fails every caller of the batch is rejected and nothing is written; it recovers', async () => {
    const writer = new AuditWriter(t.db, 'spec', { maxInFlight: 1 });
    await t.db.query(`CREATE OR REPLACE FUNCTION ${t.schema}.audit_down() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit store unavailable'; END $$;
      CREATE TRIGGER audit_down BEFORE INSERT ON ${t.schema}.outbox FOR EACH ROW EXECUTE FUNCTION ${t.schema}.audit_down()`);
    const refused = Array.from({ length: 20 }, () => record());
    let outcomes: PromiseSettledResult<void>[];
    try {
      outcomes = await Promise.allSettled(refused.map((r) => writer.write(r)));
    } finally {
      await t.db.query(`DROP TRIGGER IF EXISTS audit_down ON ${t.schema}.outbox`);
    }
    for (const o of outcomes) {
      expect(o.status).toBe('rejected');
      expect((o as PromiseRejectedResult).reason).toBeInstanceOf(AuditUnavailableError);
    }
    expect(await rowsOf(refused.map((r) => r.correlationId))).toHaveLength(0);
    const after = record();
    await writer.write(after);
    expect(await rowsOf([after.correlationId])).toHaveLength(1);
  });
});
