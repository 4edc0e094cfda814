/**
 * The local stack's retention (deploy/local/retention.mjs): which audit search indices a prune
 * deletes, and the audit topics' Kafka settings.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { REPO_ROOT } from '#libs/platform';

type Retention = {
  indicesToPrune: (indices: string[], aliased: Set<string>, keepMonths: number, now: Date, alias?: string) => string[];
  auditTopicConfig: (env: Record<string, string>) => { name: string; value: string }[];
};
const load = async (): Promise<Retention> => (await import(pathToFileURL(join(REPO_ROOT, 'deploy/local/retention.mjs')).href)) as Retention;

describe('local stack retention', () => {
  it('prunes audit months older than the kept ones and indices of generations the alias left, nothing else', async () => {
    const { indicesToPrune } = await load();
    const live = ['keyledger-audit-v2-2026.09', 'keyledger-audit-v2-2026.11', 'keyledger-audit-v2-2026.12'];
    const all = [...live, 'keyledger-audit-v1-2026.12', 'keyledger-objects-v1', 'keyledger-audit-v2-2026.10-restored'];
    const doomed = indicesToPrune(all, new Set(live), 1, new Date('2026-12-07T00:00:00Z'));
    expect(doomed.sort()).toEqual(['keyledger-audit-v1-2026.12', 'keyledger-audit-v2-2026.09']);
    expect(indicesToPrune(all, new Set(live), 0, new Date('2026-12-07T00:00:00Z')).sort()).toEqual(['keyledger-audit-v1-2026.12', 'keyledger-audit-v2-2026.09', 'keyledger-audit-v2-2026.11']);
    // January keeps the December before it.
    expect(indicesToPrune(live, new Set(live), 1, new Date('2027-01-03T00:00:00Z'))).toEqual(['keyledger-audit-v2-2026.09', 'keyledger-audit-v2-2026.11']);
  });

  it('keeps the audit topics 72 h and 1 GiB per partition by default, in 64 MiB segments; both configurable', async () => {
    const { auditTopicConfig } = await load();
    expect(auditTopicConfig({})).toEqual([
      { name: 'retention.ms', value: String(72 * 3_600_000) },
      { name: 'retention.bytes', value: String(1024 * 1024 * 1024) },
      { name: 'segment.bytes', value: String(64 * 1024 * 1024) },
    ]);
    expect(auditTopicConfig({ KEYLEDGER_KAFKA_AUDIT_RETENTION_HOURS: '24', KEYLEDGER_KAFKA_AUDIT_RETENTION_MB: '256' }).slice(0, 2).map((e) => e.value)).toEqual([String(24 * 3_600_000), String(256 * 1024 * 1024)]);
    expect(() => auditTopicConfig({ KEYLEDGER_KAFKA_AUDIT_RETENTION_HOURS: 'x' })).toThrow(/positive/);
  });
});
