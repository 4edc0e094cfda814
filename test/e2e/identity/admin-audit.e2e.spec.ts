import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { bootstrap, createServicePrincipal, httpsRequest, tokenFor } from '../../support/identity.js';
import { stackEnv, suffix } from '../../support/stack-env.js';

type Row = { operationName: string; resultSignature: string; resultType: string; correlationId: string; identity: { oid?: string }; properties: { isRbacAuthorized?: boolean } };

const pool = new pg.Pool({ connectionString: stackEnv.databaseUrl, max: 2 });
afterAll(() => pool.end());

/** Identity's audit records of the request that carried this client request id (its correlation id). */
async function recordsOf(correlationId: string): Promise<Row[]> {
  const res = await pool.query<{ data: Row }>(`SELECT payload->'data' AS data FROM identity.outbox WHERE topic = 'keyledger.audit.records.v1' AND payload->'data'->>'correlationId' = $1`, [correlationId]);
  return res.rows.map((r) => r.data);
}

async function admin(path: string, token: string | null, method = 'GET', body?: unknown): Promise<{ status: number; correlationId: string }> {
  const correlationId = randomUUID();
  const res = await httpsRequest(`${bootstrap().authorityHost}${path}`, {
    method,
    headers: {
      'x-ms-client-request-id': correlationId,
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, correlationId };
}

describe('identity admin API: every request goes through the gate and leaves exactly one audit record', () => {
  it('a read, an anonymous request, a denied request and a change: one record each, with the outcome', async () => {
    const b = bootstrap();
    const adminToken = await tokenFor(b.clientId, b.clientSecret, 'https://identity.localhost');

    const read = await admin('/admin/principals', adminToken);
    expect(read.status).toBe(200);
    const anonymous = await admin('/admin/principals', null);
    expect(anonymous.status).toBe(401);
    const sp = await createServicePrincipal(`e2e-admin-audit-${suffix()}`);
    const denied = await admin('/admin/principals', await tokenFor(sp.appId, sp.clientSecret, 'https://identity.localhost'));
    expect(denied.status).toBe(403);
    const change = await admin('/admin/principals', adminToken, 'POST', { displayName: `e2e-admin-audit-change-${suffix()}`, kind: 'servicePrincipal' });
    expect(change.status).toBe(201);

    const [r, a, d, c] = await Promise.all([read, anonymous, denied, change].map((x) => recordsOf(x.correlationId)));
    expect(r).toHaveLength(1);
    expect(r[0]).toMatchObject({ operationName: 'AdminGetPrincipals', resultSignature: '200', resultType: 'Success', properties: { isRbacAuthorized: true } });
    expect(a).toHaveLength(1);
    expect(a[0]).toMatchObject({ operationName: 'AdminGetPrincipals', resultSignature: '401', resultType: 'Failure' });
    expect(d).toHaveLength(1);
    expect(d[0]).toMatchObject({ operationName: 'AdminGetPrincipals', resultSignature: '403', resultType: 'Failure', identity: { oid: sp.objectId } });
    // The change committed the gate's record with its events: the operation it did, the status it answered.
    expect(c).toHaveLength(1);
    expect(c[0]).toMatchObject({ operationName: 'ServicePrincipalCreate', resultSignature: '201', resultType: 'Success' });
  });

  it('a refused change (bad input) writes nothing but its one Failure record', async () => {
    const b = bootstrap();
    const adminToken = await tokenFor(b.clientId, b.clientSecret, 'https://identity.localhost');
    const bad = await admin('/admin/roleAssignments', adminToken, 'POST', { principal: randomUUID(), role: 'Key Vault Reader', scope: '/vaults/dev' });
    expect(bad.status).toBeGreaterThanOrEqual(400);
    expect(bad.status).toBeLessThan(500);
    const records = await recordsOf(bad.correlationId);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ resultType: 'Failure', resultSignature: String(bad.status) });
  });
});
