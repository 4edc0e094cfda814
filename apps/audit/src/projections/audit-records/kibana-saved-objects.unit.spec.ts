import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { REPO_ROOT } from '#libs/platform';
import { auditSchema } from '../../config/audit.config.js';
import { OBJECT_MAPPINGS } from '../object-state/object-index.definition.js';
import { AUDIT_MAPPINGS, mappedFields } from './audit-index.template.js';

type SavedObject = { type: string; id: string; attributes: Record<string, unknown>; references: { name: string; type: string; id: string }[] };

const lines = readFileSync(join(REPO_ROOT, 'deploy', 'kibana', 'keyledger.ndjson'), 'utf8').split('\n').filter((l) => l.trim() !== '');
const objects = lines.map((l) => JSON.parse(l) as SavedObject);
const fieldsByView: Record<string, Map<string, string>> = { [auditSchema.AUDIT_ES_ALIAS.default]: mappedFields(AUDIT_MAPPINGS), [auditSchema.AUDIT_OBJECTS_ALIAS.default]: mappedFields(OBJECT_MAPPINGS) };
const views = new Map(objects.filter((o) => o.type === 'index-pattern').map((o) => [o.id, String(o.attributes['title'])]));

/** Field names a KQL query names (`field:value`, `field:(a or b)`, `field:*x*`). */
function kqlFields(query: string): string[] {
  return [...query.matchAll(/([A-Za-z@_][\w.@]*)\s*:/g)].map((m) => m[1]!);
}

function searchSource(o: SavedObject): { query: { query: string; language: string }; indexRefName?: string } {
  const meta = o.attributes['kibanaSavedObjectMeta'] as { searchSourceJSON: string };
  return JSON.parse(meta.searchSourceJSON) as { query: { query: string; language: string }; indexRefName?: string };
}

/** The mapped fields of the data view an object's search source points at. */
function fieldsOf(o: SavedObject): Map<string, string> {
  const src = searchSource(o);
  const ref = o.references.find((r) => r.name === src.indexRefName);
  expect(ref?.type).toBe('index-pattern');
  const title = views.get(ref!.id);
  expect(title).toBeDefined();
  return fieldsByView[title!]!;
}

describe('deploy/kibana/keyledger.ndjson', () => {
  it('parses: one saved object per line with type, id, attributes and references', () => {
    expect(objects.length).toBeGreaterThanOrEqual(8);
    for (const o of objects) {
      expect(typeof o.type).toBe('string');
      expect(typeof o.id).toBe('string');
      expect(Array.isArray(o.references)).toBe(true);
    }
    expect(new Set(objects.map((o) => `${o.type}/${o.id}`)).size).toBe(objects.length);
  });

  it('has a data view on the audit alias with @timestamp as its time field, typed date by the template', () => {
    const audit = objects.find((o) => o.type === 'index-pattern' && o.attributes['title'] === auditSchema.AUDIT_ES_ALIAS.default);
    expect(audit?.attributes['timeFieldName']).toBe('@timestamp');
    for (const [, title] of views) expect(fieldsByView[title]?.get('@timestamp')).toBe('date');
  });

  it('has the saved searches and the dashboard the audit trail needs', () => {
    const titles = objects.map((o) => `${o.type}: ${String(o.attributes['title'])}`);
    expect(titles).toEqual(
      expect.arrayContaining([
        'search: Keyledger: denied requests',
        'search: Keyledger: key usage by principal',
        'search: Keyledger: purges and deletes',
        'visualization: Keyledger: operations over time',
        'visualization: Keyledger: top keys',
        'visualization: Keyledger: top callers',
        'visualization: Keyledger: failures',
        'dashboard: Keyledger audit overview',
      ]),
    );
  });

  it('references only fields the index templates define (columns, sort, KQL, aggregations)', () => {
    const unknown: string[] = [];
    // Columns only display _source; queries and sorts need an indexed field.
    const check = (o: SavedObject, fields: Map<string, string>, names: readonly string[], indexed = true): void => {
      for (const f of names) if (!fields.has(f) || (indexed && fields.get(f)!.endsWith(':stored'))) unknown.push(`${o.type}/${o.id}: ${f}`);
    };
    for (const o of objects) {
      if (o.type === 'search') {
        const fields = fieldsOf(o);
        check(o, fields, o.attributes['columns'] as string[], false);
        check(o, fields, (o.attributes['sort'] as [string, string][]).map((s) => s[0]));
        // Sorting needs doc values.
        for (const [f] of o.attributes['sort'] as [string, string][]) if (fields.get(f)?.includes(':')) unknown.push(`${o.type}/${o.id}: sort on ${f} (${fields.get(f)})`);
        check(o, fields, kqlFields(searchSource(o).query.query));
      }
      if (o.type === 'visualization') {
        const fields = fieldsOf(o);
        const vis = JSON.parse(String(o.attributes['visState'])) as { aggs: { params: { field?: string } }[] };
        check(o, fields, vis.aggs.flatMap((a) => (a.params.field ? [a.params.field] : [])));
        check(o, fields, kqlFields(searchSource(o).query.query));
      }
    }
    expect(unknown).toEqual([]);
  });

  it('aggregates only on fields that can be aggregated (keyword, numbers, dates, booleans, ips)', () => {
    const aggregatable = new Set(['keyword', 'long', 'integer', 'date', 'boolean', 'ip']);
    for (const o of objects.filter((x) => x.type === 'visualization')) {
      const fields = fieldsOf(o);
      const vis = JSON.parse(String(o.attributes['visState'])) as { aggs: { params: { field?: string } }[] };
      for (const a of vis.aggs) if (a.params.field) expect(`${a.params.field}:${aggregatable.has(fields.get(a.params.field)!)}`).toBe(`${a.params.field}:true`);
    }
  });

  it('resolves every reference and every dashboard panel to an object in the file', () => {
    const ids = new Set(objects.map((o) => `${o.type}/${o.id}`));
    for (const o of objects) for (const r of o.references) expect(ids.has(`${r.type}/${r.id}`) ? `${r.type}/${r.id}` : `missing ${r.type}/${r.id}`).toBe(`${r.type}/${r.id}`);
    const dashboard = objects.find((o) => o.type === 'dashboard')!;
    const panels = JSON.parse(String(dashboard.attributes['panelsJSON'])) as { panelRefName: string }[];
    expect(panels.length).toBeGreaterThanOrEqual(4);
    for (const p of panels) expect(dashboard.references.map((r) => r.name)).toContain(p.panelRefName);
  });
});
