/**
 * GET /audit/chain-status: the caller's chain at a glance for the console — the head, the last
 * signed checkpoint (time, sequence, signing key, signature checked) and a verification of the
 * stretch since the checkpoint before it. Read-only, role-checked and audited like every
 * other audit API route.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { closeDb, createServicePrincipal, installLocalhostDns, suffix, type ServicePrincipal } from '../vault/vault-e2e.support.js';
import { audit, bootstrap, searchUntil } from './audit-e2e.support.js';

jest.setTimeout(90_000);
installLocalhostDns();

type Status = {
  chain: string;
  head: { seq: number; hash: string } | null;
  lastCheckpoint: { number: number; headSeq: number; headHash: string; createdAt: string; keyId: string; algorithm: string; signature: string } | null;
  signer: string;
  unsealedRecords: number;
  verification: { ok: boolean; fromSeq: number; toSeq: number; records: number; checkpoints: number; scope: string };
};

describe('the chain status of the audit API', () => {
  let stranger: ServicePrincipal;

  beforeAll(async () => {
    stranger = await createServicePrincipal(`e2e-chain-status-${suffix()}`);
  });

  afterAll(() => closeDb());

  it('answers the head, the last signed checkpoint with a valid signature, and a verified latest stretch', async () => {
    const res = await audit('/audit/chain-status');
    expect(res.status).toBe(200);
    const s = res.json as Status;
    expect(s.chain).toBe(bootstrap.tenantId);
    expect(s.verification).toMatchObject({ ok: true });
    expect(s.lastCheckpoint).toMatchObject({ algorithm: 'ES256', signature: 'valid' });
    expect(Number.isNaN(Date.parse(s.lastCheckpoint!.createdAt))).toBe(false);
    expect(s.head!.seq).toBeGreaterThanOrEqual(s.lastCheckpoint!.headSeq);
    expect(s.unsealedRecords).toBe(s.head!.seq - s.lastCheckpoint!.headSeq);
    // The stretch reaches the head and includes the last checkpoint.
    expect(s.verification.toSeq).toBe(s.head!.seq);
    expect(s.verification.fromSeq).toBeLessThanOrEqual(s.lastCheckpoint!.headSeq);
    expect(s.verification.checkpoints).toBeGreaterThanOrEqual(1);
    expect(['local', 'crypto']).toContain(s.signer);
  });

  it('answers 401 without a token and 403 to a principal without the Keyledger Auditor role, and audits the request', async () => {
    expect((await audit('/audit/chain-status', { token: null })).status).toBe(401);
    const forbidden = await audit('/audit/chain-status', { creds: stranger.credentials });
    expect([forbidden.status, (forbidden.json as { error: { code: string } }).error.code]).toEqual([403, 'Forbidden']);
    const docs = await searchUntil({ operation: 'AuditChainStatusGet', since: '10m' }, (d) => d.some((x) => x.event.outcome === 'failure') && d.some((x) => x.event.outcome === 'success'));
    expect(docs.find((d) => d.event.outcome === 'success')?.azure.properties).toMatchObject({ extra: { verified: 'true' } });
  });
});
