#!/usr/bin/env node
// Runs jest on the compiled tests (dist/) with what native code and TLS need in the process
// environment before Node starts, then prints one closing line: "N passed, M failed".
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const home = resolve(process.env.KEYLEDGER_HOME ?? join(root, '.keyledger'));
const ca = join(home, 'tls', 'ca.crt');
const env = {
  ...process.env,
  KAFKAJS_NO_PARTITIONER_WARNING: '1',
  SOFTHSM2_CONF: process.env.SOFTHSM2_CONF ?? join(home, 'softhsm', 'softhsm2.conf'),
  ...(existsSync(ca) && !process.env.NODE_EXTRA_CA_CERTS ? { NODE_EXTRA_CA_CERTS: ca } : {}),
};
const results = join(root, 'dist', 'jest-results.json');
rmSync(results, { force: true });
const res = spawnSync(
  process.execPath,
  ['--experimental-vm-modules', '--no-warnings=ExperimentalWarning', '--enable-source-maps', join(root, 'node_modules/jest/bin/jest.js'), '--json', `--outputFile=${results}`, '--forceExit', ...process.argv.slice(2)],
  { cwd: root, env, stdio: 'inherit' },
);
if (existsSync(results)) {
  const r = JSON.parse(readFileSync(results, 'utf8'));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`\n${r.numPassedTests} passed, ${r.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ''}`);
  if (r.numRuntimeErrorTestSuites > 0) console.log(`(${r.numRuntimeErrorTestSuites} test suite(s) failed to run)`);
}
process.exit(res.status ?? 1);
