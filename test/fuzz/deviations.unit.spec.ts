import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { stackEnv } from '../support/stack-env.js';
import { DEVIATIONS, pinApiVersion, type Spec } from './deviations.js';

const load = (file: string): Spec => JSON.parse(readFileSync(join(stackEnv.repoRoot, 'test', 'fuzz', 'openapi', file), 'utf8')) as Spec;

describe('fuzz deviations (the reviewed list of places where Azure differs from its specification)', () => {
  it('each deviation has a reason and still changes something in a vendored specification', () => {
    for (const d of DEVIATIONS) {
      expect(d.reason.length).toBeGreaterThan(40);
      expect(d.azure.length).toBeGreaterThan(20);
      const changed = ['2025-07-01/secrets.json', '2025-07-01/keys.json', '7.5/secrets.json', '7.5/keys.json'].map((f) => d.apply(load(f)));
      expect(changed.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    }
  });

  it('nextLink of every list result becomes nullable, nothing else', () => {
    const spec = load('2025-07-01/secrets.json');
    const before = JSON.stringify(spec).length;
    const n = DEVIATIONS.find((d) => d.id === 'nextlink-null')?.apply(spec) ?? 0;
    expect(n).toBe(2); // SecretListResult and DeletedSecretListResult (versions share SecretListResult)
    expect(spec.definitions?.SecretListResult?.properties?.nextLink?.['x-nullable']).toBe(true);
    expect(JSON.stringify(spec).length).toBe(before + n * '"x-nullable":true,'.length);
  });

  it("pins api-version to the file's own version", () => {
    const spec = load('7.5/keys.json');
    pinApiVersion(spec);
    expect(spec.parameters?.['Azure.Core.Foundations.ApiVersionParameter']?.enum).toEqual(['7.5']);
  });

  it('the vendored specifications are the byte-for-byte copies the README names', () => {
    const sums: Record<string, string> = {
      '2025-07-01/secrets.json': '4067ebb5c1b53813',
      '2025-07-01/keys.json': '97826264faaf1dfb',
      '7.5/secrets.json': '2714ef346ad82c28',
      '7.5/keys.json': '24cea70f079a63c9',
    };
    for (const [file, sum] of Object.entries(sums)) {
      const bytes = readFileSync(join(stackEnv.repoRoot, 'test', 'fuzz', 'openapi', file));
      expect(createHash('sha256').update(bytes).digest('hex').slice(0, 16)).toBe(sum);
    }
  });
});
