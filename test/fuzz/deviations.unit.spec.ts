import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { stackEnv } from '../support/stack-env.js';
import { DATA_ACTIONS_BEYOND_ENUM, DEVIATIONS, pinApiVersion, type Spec } from './deviations.js';
import { inlineCommon, SPECS } from './fuzz-runner.js';

/** The vendored specifications and their sha256 (first 16 hex digits), as README.md lists them. */
const SUMS: Record<string, string> = {
  '2025-07-01/secrets.json': '4067ebb5c1b53813',
  '2025-07-01/keys.json': '97826264faaf1dfb',
  '2025-07-01/certificates.json': '2572cf7eba6d460a',
  '2025-07-01/rbac.json': '2e64d895ca7d22f2',
  '2025-07-01/settings.json': '755290ce48ec6be9',
  '2025-07-01/backuprestore.json': 'b9e29f34ec418dbe',
  '7.5/secrets.json': '2714ef346ad82c28',
  '7.5/keys.json': '24cea70f079a63c9',
  '7.5/certificates.json': 'fc09d9df9af9417d',
  '7.5/rbac.json': '343f214fa8578e33',
  '7.5/settings.json': 'c48d303a46d85072',
  '7.5/backuprestore.json': '822fa74084681e30',
  '7.5/securitydomain.json': 'f394b4b70aebf7dd',
  '7.5/common.json': '93d591f02bc338ce',
};

const load = (file: string): Spec => JSON.parse(readFileSync(join(stackEnv.repoRoot, 'test', 'fuzz', 'openapi', file), 'utf8')) as Spec;

describe('fuzz deviations (the reviewed list of places where Azure differs from its specification)', () => {
  it('each deviation has a reason and still changes something in a vendored specification', () => {
    for (const d of DEVIATIONS) {
      expect(d.reason.length).toBeGreaterThan(40);
      expect(d.azure.length).toBeGreaterThan(20);
      const changed = Object.keys(SUMS).filter((f) => !f.endsWith('common.json')).map((f) => d.apply(load(f)));
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

  it('purges lose the document-wide produces (their 204 has no content type), every other operation keeps it', () => {
    const spec = load('7.5/keys.json');
    const ops = Object.values(spec.paths).reduce((n, m) => n + Object.keys(m).filter((k) => k !== 'parameters').length, 0);
    expect(DEVIATIONS.find((d) => d.id === 'purge-204-no-content-type')?.apply(spec)).toBe(1);
    expect(spec.produces).toBeUndefined();
    expect(spec.paths['/deletedkeys/{key-name}']?.delete?.produces).toBeUndefined();
    expect(spec.paths['/deletedkeys/{key-name}']?.get?.produces).toEqual(['application/json']);
    const typed = Object.values(spec.paths).reduce((n, m) => n + Object.values(m).filter((op) => op.produces?.[0] === 'application/json').length, 0);
    expect(typed).toBe(ops - 1);
  });

  it('the job bodies of backup and restore take null statusDetails (and container URI), nothing else', () => {
    for (const file of ['2025-07-01/backuprestore.json', '7.5/backuprestore.json']) {
      const spec = load(file);
      const n = DEVIATIONS.find((d) => d.id === 'job-fields-null')?.apply(spec) ?? 0;
      expect([file, n]).toEqual([file, 4]); // statusDetails of FullBackupOperation, RestoreOperation, SelectiveKeyRestoreOperation; FullBackupOperation's container URI
      expect(spec.definitions?.FullBackupOperation?.properties?.azureStorageBlobContainerUri?.['x-nullable']).toBe(true);
      expect(spec.definitions?.RestoreOperation?.properties?.jobId?.['x-nullable']).toBeUndefined();
    }
  });

  it('the DataAction enum gains the seven data actions of the built-in roles Azure lists, once', () => {
    const spec = load('2025-07-01/rbac.json');
    const before = (spec.definitions?.DataAction?.enum as string[]).length;
    const deviation = DEVIATIONS.find((d) => d.id === 'data-actions-beyond-enum');
    expect(deviation?.apply(spec)).toBe(DATA_ACTIONS_BEYOND_ENUM.length);
    expect(deviation?.apply(spec)).toBe(0);
    expect((spec.definitions?.DataAction?.enum as string[]).length).toBe(before + 7);
  });

  it('a hand-written specification takes common.json in, renamed, and is self-contained', () => {
    const spec = load('7.5/backuprestore.json');
    inlineCommon(spec, join(stackEnv.repoRoot, 'test', 'fuzz', 'openapi', '7.5'));
    const text = JSON.stringify(spec);
    expect(text).not.toContain('common.json#');
    expect(spec.definitions?.['common.KeyVaultError']).toBeDefined();
    pinApiVersion(spec);
    expect(spec.parameters?.['common.ApiVersionParameter']?.enum).toEqual(['7.5']);
  });

  it("pins api-version to the file's own version", () => {
    const spec = load('7.5/keys.json');
    pinApiVersion(spec);
    expect(spec.parameters?.['Azure.Core.Foundations.ApiVersionParameter']?.enum).toEqual(['7.5']);
  });

  it('the vendored specifications are the byte-for-byte copies the README names', () => {
    expect(Object.keys(SUMS).filter((f) => !f.endsWith('common.json')).sort()).toEqual([...SPECS].sort());
    for (const [file, sum] of Object.entries(SUMS)) {
      const bytes = readFileSync(join(stackEnv.repoRoot, 'test', 'fuzz', 'openapi', file));
      expect(createHash('sha256').update(bytes).digest('hex').slice(0, 16)).toBe(sum);
    }
  });
});
