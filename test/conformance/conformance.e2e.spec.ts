import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { bootstrap, ca, tokenFor } from '../support/identity.js';
import { stackEnv, suffix } from '../support/stack-env.js';
import { loadRecordings } from './recording.js';
import { closeReplayConnections, replay, setDocumentedAbsentHeaders, type FileResult } from './replay.js';
import { replayedFolders } from './replayed-folders.js';

/**
 * Microsoft's recorded Azure Key Vault sessions, from the repository's own copy
 * (test/conformance/recordings/, see its README), replayed against the running vault service.
 * The folders replayed are chosen in replayed-folders.ts. Each recording is one test; a
 * recording on the documented difference list (differences.json) passes when it differs and
 * is reported as such.
 */
const root = join(stackEnv.repoRoot, 'test', 'conformance', 'recordings');
const folders = replayedFolders();
type Differences = { recordings: { recording: string; differs: string; reason: string }[]; headers: { header: string; reason: string }[] };
const documented = JSON.parse(readFileSync(join(stackEnv.repoRoot, 'test', 'conformance', 'differences.json'), 'utf8')) as Differences;
const differences = documented.recordings;
setDocumentedAbsentHeaders(documented.headers.map((h) => h.header));
const recordings = loadRecordings(root, folders);
const results: (FileResult & { listed: boolean })[] = [];

const tokens = new Map<string, Promise<string>>();
const target = {
  connectHost: '127.0.0.1',
  port: Number(process.env.VAULT_PORT ?? 8443),
  vaultHost: 'dev.vault.localhost',
  hsmHost: 'dev.managedhsm.localhost',
  ca: ca(),
  token: (resource: string): Promise<string> => {
    let t = tokens.get(resource);
    if (!t) {
      const b = bootstrap();
      t = tokenFor(b.clientId, b.clientSecret, resource);
      tokens.set(resource, t);
    }
    return t;
  },
};

describe('conformance replay of recorded Azure Key Vault sessions', () => {
  it('finds the recordings of every replayed folder in the repository', () => {
    for (const folder of folders) expect([folder, recordings.filter((r) => r.collection === folder).length > 0]).toEqual([folder, true]);
  });

  it.each(recordings.map((r) => [r.file, r] as const))('%s', async (file, recording) => {
    const result = await replay(recording, target, `-k${suffix()}`);
    const listed = differences.some((d) => d.recording === file);
    results.push({ ...result, listed });
    if (!listed && !result.ok) throw new Error(result.firstDifference);
  });

  afterAll(() => {
    closeReplayConnections();
    const byVersion = new Map<string, { passed: number; failed: number; listed: number }>();
    const lines: string[] = [];
    for (const r of results) {
      const v = byVersion.get(r.apiVersion) ?? { passed: 0, failed: 0, listed: 0 };
      if (r.ok) v.passed++;
      else if (r.listed) v.listed++;
      else v.failed++;
      byVersion.set(r.apiVersion, v);
      lines.push(`${r.ok ? 'PASS' : r.listed ? 'DIFF' : 'FAIL'}  ${r.file}${r.ok ? '' : `\n      ${r.firstDifference}`}`);
    }
    const passed = results.filter((r) => r.ok).length;
    const listed = results.filter((r) => !r.ok && r.listed).length;
    const failed = results.length - passed - listed;
    const summary = [
      ...[...byVersion].map(([v, c]) => `api-version ${v}: ${c.passed} passed, ${c.failed} failed, ${c.listed} on the difference list`),
      `conformance: ${passed} passed, ${failed} failed (${listed} documented differences)`,
    ];
    const dir = join(stackEnv.repoRoot, 'test', 'conformance', 'results');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'report.txt'), `${[...lines, '', ...summary].join('\n')}\n`);
    console.log(summary.join('\n'));
  });
});
