/**
 * The bounded fuzz pass CI runs (`npm run fuzz` is the full one): schemathesis drives the vault
 * and a Managed HSM pool with Microsoft's OpenAPI description (api-version 2025-07-01: secrets
 * and keys in both passes, certificates aimed at seeded objects, the pool's RBAC, settings and
 * full backup / restore in both passes; the security domain, 7.5 only, against an activated pool
 * and one awaiting its domain), a few hundred requests per operation family, positive and
 * negative, and the run fails on any 5xx or on any deviation from the specification that
 * test/fuzz/deviations.ts does not document.
 */
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { stackEnv } from '../support/stack-env.js';
import { runFuzz } from './fuzz-runner.js';

const CI_SPECS = [
  '2025-07-01/secrets.json',
  '2025-07-01/keys.json',
  '2025-07-01/certificates.json:seeded',
  '2025-07-01/rbac.json',
  '2025-07-01/settings.json',
  '2025-07-01/backuprestore.json',
  '7.5/securitydomain.json',
];

describe('fuzzing with Azure OpenAPI description (bounded)', () => {
  it('answers every generated request without a 5xx and as the specification (with its documented deviations) says', async () => {
    const lines: string[] = [];
    const result = await runFuzz({ maxExamples: 5, specs: CI_SPECS, outDir: join(stackEnv.home, 'fuzz', 'ci'), log: (line) => lines.push(line) });
    for (const s of result.specs) console.log(`[fuzz] ${s.spec}: ${s.operations} operations, ${s.requests} requests, ${s.failures.length} failures`);
    expect(result.failures).toEqual([]);
    expect(result.specs.flatMap((s) => s.errors)).toEqual([]);
    // Every operation of every file was exercised in each of its passes, a few hundred requests per family.
    expect(Object.fromEntries(result.specs.map((s) => [s.spec, s.operations]))).toEqual({
      '2025-07-01/secrets.json (any)': 12,
      '2025-07-01/secrets.json (seeded)': 11,
      '2025-07-01/keys.json (any)': 25,
      '2025-07-01/keys.json (seeded)': 24,
      '2025-07-01/certificates.json (seeded)': 25,
      '2025-07-01/rbac.json (any)': 8,
      '2025-07-01/rbac.json (seeded)': 6,
      '2025-07-01/settings.json (any)': 3,
      '2025-07-01/settings.json (seeded)': 3,
      '2025-07-01/backuprestore.json (any)': 7,
      '2025-07-01/backuprestore.json (seeded)': 7,
      '7.5/securitydomain.json (any)': 5,
      '7.5/securitydomain.json (pending)': 5,
    });
    const family = (f: RegExp): number => result.specs.filter((s) => f.test(s.spec)).reduce((n, s) => n + s.requests, 0);
    for (const f of [/secrets/, /keys/, /certificates/, /rbac/, /settings|backuprestore/, /securitydomain/]) expect(family(f)).toBeGreaterThan(150);
    expect(result.deviations['nextlink-null']).toBeGreaterThan(0);
    expect(result.deviations['job-fields-null']).toBeGreaterThan(0);
    expect(result.deviations['data-actions-beyond-enum']).toBeGreaterThan(0);
  }, 900_000);
});
