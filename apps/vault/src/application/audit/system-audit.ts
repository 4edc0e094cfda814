import { randomUUID } from 'node:crypto';
import { OperationAudit } from '#libs/gate';

/**
 * The record of work the vault does on its own behalf (scheduled purge, bootstrap): it goes
 * through no transport, so it is opened here, and committed with the work's own events.
 */
export function systemAudit(operationName: string, what: { correlationId: string; ip: string; requestUri: string; agent: string; tenantId: string }): OperationAudit {
  const audit = new OperationAudit('vault', { requestId: randomUUID(), correlationId: what.correlationId, callerIp: what.ip, method: 'SYSTEM', requestUri: what.requestUri, userAgent: what.agent }, performance.now(), () => what.tenantId);
  audit.operationName = operationName;
  return audit;
}
