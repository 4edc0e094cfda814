/** The audit record the benches write: a vault's secret GET (every 4th a SET, every 50th refused). */
import { randomUUID } from 'node:crypto';
import { newAuditRecord, type AuditRecord } from '#libs/contracts';

export function benchAuditRecord(tenant: string, i: number): AuditRecord {
  return newAuditRecord({
    tenant,
    source: 'vault',
    resourceId: '/vaults/bench',
    operationName: i % 4 === 0 ? 'SecretSet' : 'SecretGet',
    operationVersion: '7.6',
    resultType: i % 50 === 0 ? 'Failure' : 'Success',
    resultSignature: i % 50 === 0 ? '403' : '200',
    durationMs: 2,
    callerIpAddress: '127.0.0.1',
    correlationId: randomUUID(),
    identity: { oid: `00000000-0000-4000-8000-${String(i % 16).padStart(12, '0')}`, tid: tenant, idtyp: 'app' },
    properties: { vault: 'bench', collection: 'secrets', objectName: `s${i % 100}`, httpMethod: i % 4 === 0 ? 'PUT' : 'GET', requestUri: `/secrets/s${i % 100}?api-version=7.6`, isRbacAuthorized: true },
  });
}
