import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { newAuditRecord } from '#libs/contracts';
import { waitFor } from '#libs/testing';
import { audit, auditInstance, closeKafka, closeSql, untilLive, ES_URL, esCount, ledgerCount, publishRecords, type AuditInstance } from './audit-e2e.support.js';

jest.setTimeout(300_000);

/** A port where nothing answers: Elasticsearch is "down" for one audit instance only (the shared node keeps running). */
async function deadPort(): Promise<{ port: number; close: () => Promise<void> }> {
  // Bound but never accepting: connections are refused once closed; while open, nothing reads them.
  const server: Server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  return { port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe('Elasticsearch down while records flow', () => {
  let inst: AuditInstance;
  let dead: { port: number; close: () => Promise<void> };
  const tenant = `tenant-e2e-esdown-${randomUUID()}`;

  beforeAll(async () => {
    dead = await deadPort();
    inst = await auditInstance('audit_e2e_esdown');
    await inst.start({ ELASTICSEARCH_URL: `http://127.0.0.1:${dead.port}` });
    const probes = `tenant-e2e-probe-${randomUUID()}`;
    await untilLive(inst, (i) => newAuditRecord({ tenant: probes, source: 'vault', resourceId: '/', operationName: 'Probe', operationVersion: '1', resultType: 'Success', resultSignature: '200', durationMs: 0, callerIpAddress: '127.0.0.1', correlationId: `p${i}`, identity: {}, properties: {} }));
  });

  afterAll(async () => {
    await inst?.destroy();
    await dead?.close();
    await closeKafka();
    await closeSql();
  });

  it('the ledger keeps appending; when Elasticsearch returns the index catches up completely', async () => {
    const records = Array.from({ length: 600 }, (_, i) =>
      newAuditRecord({
        tenant,
        source: 'vault',
        resourceId: '/vaults/dev',
        operationName: 'SecretGet',
        operationVersion: '7.6',
        resultType: i % 5 ? 'Success' : 'Failure',
        resultSignature: i % 5 ? '200' : '403',
        durationMs: 2,
        callerIpAddress: '127.0.0.1',
        correlationId: `c-${i}`,
        identity: { oid: randomUUID(), tid: tenant },
        properties: { vault: 'dev', collection: 'secrets', objectName: `s${i % 7}` },
      }),
    );
    await publishRecords(records);
    await waitFor(async () => ((await ledgerCount(inst.name, tenant)).rows === records.length ? true : undefined), { timeoutMs: 180_000, intervalMs: 250, what: 'the ledger to take every record' });
    const health = await audit('/health', { base: inst.url, token: null });
    expect(health.status).toBe(503);
    expect((health.json as { components: Record<string, { status: string }> }).components['elasticsearch']?.status).toBe('down');
    expect(await esCount(inst.alias, tenant)).toBe(0);

    await inst.kill('SIGTERM');
    await inst.start({ ELASTICSEARCH_URL: ES_URL });
    await waitFor(async () => ((await esCount(inst.alias, tenant)) === records.length ? true : undefined), { timeoutMs: 120_000, intervalMs: 500, what: 'the index to catch up' });
    expect(await esCount(inst.alias, tenant)).toBe(records.length);
    const res = await audit(`/audit/records?${new URLSearchParams({ tenant, outcome: 'failure', pageSize: '1000' })}`, { base: inst.url });
    expect((res.json as { value: unknown[] }).value).toHaveLength(120);
  });
});
