import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { newAuditRecord, type AuditRecord } from '#libs/contracts';
import { REPO_ROOT } from '#libs/platform';
import { waitFor } from '#libs/testing';
import { audit, closeKafka, closeSql, publishRecords, sql } from './audit-e2e.support.js';

jest.setTimeout(180_000);

/** The shared audit service's schema (AUDIT_INSTANCE). */
const SCHEMA = process.env.AUDIT_INSTANCE ?? 'audit';
const tenant = `tenant-e2e-tamper-${randomUUID()}`;
const records: AuditRecord[] = Array.from({ length: 12 }, (_, i) =>
  newAuditRecord({
    tenant,
    source: 'vault',
    resourceId: '/vaults/dev',
    operationName: i % 2 ? 'SecretGet' : 'SecretSet',
    operationVersion: '7.6',
    resultType: 'Success',
    resultSignature: '200',
    durationMs: i,
    callerIpAddress: '127.0.0.1',
    correlationId: randomUUID(),
    identity: { oid: randomUUID(), tid: tenant },
    properties: { vault: 'dev', collection: 'secrets', objectName: `tamper-${i}`, httpMethod: i % 2 ? 'GET' : 'PUT' },
  }),
);

type Verdict = { ok: boolean; records: number; checkpoints: number; brokenLink?: { kind: string; seq: number; recordId: string | null; reason: string; recordIdSource?: string } };

async function verify(): Promise<Verdict> {
  const res = await audit('/audit/verify', { method: 'POST', body: { tenant } });
  expect(res.status).toBe(200);
  return res.json as Verdict;
}

const q = (text: string, params: readonly unknown[] = []) => sql().query(text.replaceAll('$S', SCHEMA), params as unknown[]);

beforeAll(async () => {
  await publishRecords(records);
  // In the ledger, and sealed by the first signed checkpoint (a new chain gets one within a second).
  await waitFor(async () => ((await q(`SELECT 1 FROM $S.ledger_checkpoints WHERE chain = $1 AND head_seq = 12`, [tenant])).rowCount ? true : undefined), { timeoutMs: 60_000, what: 'the chain and its checkpoint' });
  // And in the search index (a deleted record is named from there).
  await waitFor(async () => ((await audit(`/audit/records?${new URLSearchParams({ tenant, pageSize: '50' })}`)).json as { value: unknown[] }).value.length === 12 || undefined, { what: 'the index' });
});

afterAll(async () => {
  await closeKafka();
  await closeSql();
});

describe('tamper evidence: rows edited directly in PostgreSQL make verify fail and name the record', () => {
  it('the untouched chain verifies', async () => {
    expect(await verify()).toMatchObject({ ok: true, records: 12 });
  });

  it('an altered row', async () => {
    const before = (await q(`SELECT record FROM $S.ledger_entries WHERE chain = $1 AND seq = 4`, [tenant])).rows[0] as { record: string };
    await q(`UPDATE $S.ledger_entries SET record = replace(record, '"SecretGet"', '"SecretList"') WHERE chain = $1 AND seq = 4`, [tenant]);
    try {
      const v = await verify();
      expect(v.ok).toBe(false);
      expect(v.brokenLink).toMatchObject({ kind: 'RecordAltered', seq: 4, recordId: records[3]!.id });
    } finally {
      await q(`UPDATE $S.ledger_entries SET record = $2 WHERE chain = $1 AND seq = 4`, [tenant, before.record]);
    }
    expect((await verify()).ok).toBe(true);
  });

  it('a deleted row (the search index still names it)', async () => {
    const row = (await q(`SELECT * FROM $S.ledger_entries WHERE chain = $1 AND seq = 7`, [tenant])).rows[0] as Record<string, unknown>;
    await q(`DELETE FROM $S.ledger_entries WHERE chain = $1 AND seq = 7`, [tenant]);
    try {
      const v = await verify();
      expect(v.ok).toBe(false);
      expect(v.brokenLink).toMatchObject({ kind: 'RecordMissing', seq: 7, recordId: records[6]!.id, recordIdSource: 'search-index' });
      // The CLI exits 1 and prints the break.
      const cli = await promisify(execFile)(process.execPath, [join(REPO_ROOT, 'bin', 'keyledger.mjs'), 'audit', 'verify', '--tenant', tenant]).then(
        () => ({ code: 0, stdout: '' }),
        (err: { code: number; stdout: string }) => ({ code: err.code, stdout: err.stdout }),
      );
      expect(cli.code).toBe(1);
      expect(cli.stdout).toContain(`BROKEN chain ${tenant} at seq 7: RecordMissing — record ${records[6]!.id}`);
    } finally {
      await q(
        `INSERT INTO $S.ledger_entries (chain, seq, record_id, appended_at, record, entry_digest, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [row['chain'], row['seq'], row['record_id'], row['appended_at'], row['record'], row['entry_digest'], row['prev_hash'], row['hash']],
      );
    }
    expect((await verify()).ok).toBe(true);
  });

  it('reordered rows', async () => {
    const swap = async (): Promise<void> => {
      await q(`UPDATE $S.ledger_entries SET seq = -2 WHERE chain = $1 AND seq = 2`, [tenant]);
      await q(`UPDATE $S.ledger_entries SET seq = 2 WHERE chain = $1 AND seq = 3`, [tenant]);
      await q(`UPDATE $S.ledger_entries SET seq = 3 WHERE chain = $1 AND seq = -2`, [tenant]);
    };
    await swap();
    try {
      const v = await verify();
      expect(v.ok).toBe(false);
      expect(v.brokenLink?.seq).toBe(2);
      expect(v.brokenLink?.recordId).toBe(records[2]!.id);
    } finally {
      await swap();
    }
    expect((await verify()).ok).toBe(true);
  });

  it('a forged checkpoint signature', async () => {
    const cp = (await q(`SELECT number, signature FROM $S.ledger_checkpoints WHERE chain = $1 ORDER BY number LIMIT 1`, [tenant])).rows[0] as { number: string; signature: string };
    const forged = Buffer.from(cp.signature, 'base64url');
    forged[0] = forged[0]! ^ 0x01;
    await q(`UPDATE $S.ledger_checkpoints SET signature = $3 WHERE chain = $1 AND number = $2`, [tenant, cp.number, forged.toString('base64url')]);
    try {
      const v = await verify();
      expect(v.ok).toBe(false);
      expect(v.brokenLink).toMatchObject({ kind: 'CheckpointSignatureInvalid', seq: 12, recordId: records[11]!.id });
    } finally {
      await q(`UPDATE $S.ledger_checkpoints SET signature = $3 WHERE chain = $1 AND number = $2`, [tenant, cp.number, cp.signature]);
    }
    expect((await verify()).ok).toBe(true);
  });
});
