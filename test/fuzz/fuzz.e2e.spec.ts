/**
 * The bounded fuzz pass CI runs (`npm run fuzz` is the full one): schemathesis drives the vault
 * with Microsoft's OpenAPI description of secrets and keys (api-version 2025-07-01), a few
 * hundred requests per operation family, positive and negative, and the run fails on any 5xx or
 * on any deviation from the specification that test/fuzz/deviations.ts does not document.
 */
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { stackEnv } from '../support/stack-env.js';
import { runFuzz } from './fuzz-runner.js';

describe('fuzzing with Azure OpenAPI description (bounded)', () => {
  it('answers every generated request without a 5xx and as the specification (with its documented deviations) says', async () => {
    const lines: string[] = [];
    const result = await runFuzz({
      maxExamples: 5,
      specs: ['2025-07-01/secrets.json', '2025-07-01/keys.json'],
      outDir: join(stackEnv.home, 'fuzz', 'ci'),
      log: (line) => lines.push(line),
    });
    for (const s of result.specs) console.log(`[fuzz] ${s.spec}: ${s.operations} operations, ${s.requests} requests, ${s.failures.length} failures`);
    expect(result.failures).toEqual([]);
    expect(result.specs.flatMap((s) => s.errors)).toEqual([]);
    // Every operation of both files was exercised, in both passes, a few hundred requests per family.
    expect(result.specs.map((s) => s.operations)).toEqual([12, 11, 25, 24]);
    for (const s of result.specs) expect(s.requests).toBeGreaterThan(200);
    expect(result.deviations['nextlink-null']).toBeGreaterThan(0);
  }, 900_000);
});
