import { describe, expect, it } from '@jest/globals';
import { eventTypes, toAuditDocument } from './audit-document.js';
import { sampleRecord } from './audit-test.fixtures.js';

const AT = { chain: 'tenant-a', seq: 7, hash: 'ab'.repeat(32), appendedAt: '2026-01-01T00:00:01.000Z' };


describe('toAuditDocument (ECS)', () => {
  it('maps an Azure AuditEvent record to ECS names and keeps the original under azure.*', () => {
    const r = sampleRecord();
    const d = toAuditDocument(r, AT);
    expect(d['@timestamp']).toBe(r.time);
    expect(d.event).toMatchObject({ id: r.id, action: 'SecretGet', outcome: 'success', duration: 3_000_000, ingested: AT.appendedAt, provider: 'vault', category: ['api'], type: ['access', 'allowed'] });
    expect(d.user).toEqual({ id: r.identity.oid, domain: 'tenant-a' });
    expect(d.source).toEqual({ ip: '10.0.0.7', address: '::ffff:10.0.0.7' });
    expect(d.http).toEqual({ request: { method: 'GET' }, response: { status_code: 200 } });
    expect(d.keyledger.object).toEqual({ kind: 'secret', collection: 'secrets', name: 'db-password', version: '0123456789abcdef0123456789abcdef', ref: 'dev/secrets/db-password', id: r.properties.id });
    expect(d.keyledger).toMatchObject({ tenant: 'tenant-a', chain: 'tenant-a', seq: 7, vault: 'dev', is_rbac_authorized: true });
    expect(d.azure).toEqual(r);
  });

  it('marks denied and failed requests', () => {
    const d = toAuditDocument(sampleRecord({ resultType: 'Failure', resultSignature: '403', resultDescription: 'ForbiddenByRbac', identity: { appid: 'app-1' } }), AT);
    expect(d.event.outcome).toBe('failure');
    expect(d.event.type).toContain('denied');
    expect(d.event.reason).toBe('ForbiddenByRbac');
    expect(d.user).toEqual({ id: 'app-1' });
    expect(eventTypes('SecretPurge', 204, 'Success')).toEqual(['deletion', 'allowed']);
    expect(eventTypes('Authentication', 401, 'Failure')).toEqual(['info', 'denied']);
  });

});
