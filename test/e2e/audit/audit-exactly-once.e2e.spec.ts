import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { newAuditRecord, type AuditRecord } from '#libs/contracts';
import { waitFor } from '#libs/testing';
import { audit, auditInstance, closeKafka, closeSql, untilLive, esCount, ledgerCount, publishRecords, type AuditInstance } from './audit-e2e.support.js';

jest.setTimeout(300_000);

const record = (tenant: string, i: number): AuditRecord =>
  newAuditRecord({
    tenant,
    source: 'crypto',
    resourceId: '/vaults/dev',
    operationName: 'KeySign',
    operationVersion: '1',
    resultType: 'Success',
    resultSignature: 'OK',
    durationMs: 1,
    callerIpAddress: '127.0.0.1',
    correlationId: `c-${i}`,
    identity: { oid: randomUUID(), tid: tenant },
    properties: { vault: 'dev', collection: 'keys', objectName: `k${i % 10}`, algorithm: 'ES256' },
  });

/**
 * An audit instance of its own: records flow in, it is SIGKILLed mid-stream and restarted;
 * duplicates are delivered on purpose. The ledger and the index must hold each record once
 * and the chain must verify.
 */
describe('exactly once: duplicate delivery and a SIGKILL mid-stream', () => {
  let inst: AuditInstance;
  const tenant = `tenant-e2e-once-${randomUUID()}`;
  const records = Array.from({ length: 4_000 }, (_, i) => record(tenant, i));

  beforeAll(async () => {
    inst = await auditInstance('audit_e2e_once');
    await inst.start();
    const probes = `tenant-e2e-probe-${randomUUID()}`;
    await untilLive(inst, (i) => record(probes, i));
  });

  afterAll(async () => {
    await inst?.destroy();
    await closeKafka();
    await closeSql();
  });

  it('leaves every record once in the ledger and the index, with the chain intact', async () => {
    await publishRecords(records.slice(0, 2_000));
    await publishRecords(records.slice(0, 300)); // duplicates, as a relay retry would send them
    await waitFor(async () => ((await ledgerCount(inst.name, tenant)).rows >= 400 ? true : undefined), { timeoutMs: 120_000, intervalMs: 20, what: 'the ledger to be mid-stream' });
    await inst.kill('SIGKILL');
    const atKill = await ledgerCount(inst.name, tenant);
    await publishRecords(records.slice(2_000));
    await publishRecords(records.slice(1_500, 2_500)); // more duplicates while it is down
    await inst.start();

    await waitFor(async () => ((await ledgerCount(inst.name, tenant)).rows >= records.length ? true : undefined), { timeoutMs: 180_000, intervalMs: 250, what: 'all records in the ledger' });
    const after = await ledgerCount(inst.name, tenant);
    expect(atKill.rows).toBeLessThan(records.length);
    expect(after).toEqual({ rows: records.length, distinct: records.length, head: records.length });

    const v = await audit('/audit/verify', { method: 'POST', body: { tenant }, base: inst.url });
    expect(v.status).toBe(200);
    expect(v.json).toMatchObject({ ok: true, records: records.length });

    await waitFor(async () => ((await esCount(inst.alias, tenant)) >= records.length ? true : undefined), { timeoutMs: 120_000, intervalMs: 500, what: 'the index to catch up' });
    expect(await esCount(inst.alias, tenant)).toBe(records.length);
  });
});
