import { describe, expect, it } from '@jest/globals';
import { toAuditDocument } from '../../domain/audit-document.js';
import { sampleRecord } from '../../domain/audit-test.fixtures.js';
import { AUDIT_MAPPING_VERSION, AUDIT_MAPPINGS, auditComponentTemplates, auditIndexTemplate, mappedFields } from './audit-index.template.js';

const AT = { chain: 'tenant-a', seq: 7, hash: 'ab'.repeat(32), appendedAt: '2026-01-01T00:00:01.000Z' };

/** Leaf paths of a document, with arrays of scalars counted as their field. */
function leafPaths(o: unknown, prefix = ''): string[] {
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return [prefix.slice(0, -1)];
  return Object.entries(o).flatMap(([k, v]) => leafPaths(v, `${prefix}${k}.`));
}

describe('audit index template', () => {
  it('writes only fields the index template maps (dynamic: false would silently drop the rest)', () => {
    const fields = mappedFields();
    const r = sampleRecord({ properties: { ...sampleRecord().properties, errorCode: 'X', algorithm: 'RS256', extra: { k1: 'v' } } });
    const paths = leafPaths(toAuditDocument(r, AT));
    const unmapped = paths.filter((p) => !fields.has(p) && ![...fields.keys()].some((f) => fields.get(f) === 'flattened' && p.startsWith(`${f}.`)));
    expect(unmapped).toEqual([]);
  });

  it('composes a settings and a mappings component for the versioned monthly indices', () => {
    const o = { alias: 'keyledger-audit', refreshInterval: '250ms', replicas: 0 };
    expect(auditIndexTemplate(o)).toMatchObject({ name: 'keyledger-audit', index_patterns: ['keyledger-audit-v*'], composed_of: ['keyledger-audit@settings', 'keyledger-audit@mappings'] });
    expect(auditComponentTemplates(o)[0]!.template.settings).toMatchObject({ refresh_interval: '250ms', number_of_replicas: 0 });
    expect(mappedFields().get('@timestamp')).toBe('date');
    expect(mappedFields().get('azure.id')).toBe('keyword:stored');
  });

  it('keeps no doc values for the per-record unique values only filters name, and versions the mapping', () => {
    const fields = mappedFields();
    for (const f of ['keyledger.hash', 'keyledger.correlation_id', 'keyledger.object.id', 'url.original']) expect(`${f} ${fields.get(f)}`).toBe(`${f} keyword:filter-only`);
    // What sorts and aggregations use keeps them (the search service's spec checks its own requests).
    for (const f of ['event.id', 'event.action', 'event.outcome', 'user.id', 'keyledger.object.ref', 'keyledger.algorithm']) expect(`${f} ${fields.get(f)}`).toBe(`${f} keyword`);
    expect(AUDIT_MAPPINGS._meta).toEqual({ mapping_version: AUDIT_MAPPING_VERSION });
    expect(AUDIT_MAPPING_VERSION).toBeGreaterThanOrEqual(2);
  });
});
