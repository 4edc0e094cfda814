import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { bootstrap } from '../../support/identity.js';
import { stackEnv, suffix } from '../../support/stack-env.js';

/** The venv `test/e2e/python/setup-venv.sh` creates (CI: `.ci/run` calls it). */
export const VENV_PYTHON = join(stackEnv.repoRoot, '.venv-sdk', 'bin', 'python');
const SCRIPTS = join(stackEnv.repoRoot, 'test', 'e2e', 'python');
const VAULT_PORT = Number(process.env.VAULT_PORT ?? 8443);

/** The dev vault by host name (default challenge verification) and on the bare host. */
export const PYTHON_VAULT_URLS = [`https://dev.vault.localhost:${VAULT_PORT}`, `https://localhost:${VAULT_PORT}`];

export type PythonRun = { readonly code: number | null; readonly stdout: string; readonly stderr: string; readonly checks: string[]; readonly result: { checks: string[]; challenges: { url: string; wwwAuthenticate: string }[]; sdk: string; apiVersion: string } | undefined };

/** Fails with what to do when the venv is missing: the spec never skips. */
export function requireVenv(): void {
  if (!existsSync(VENV_PYTHON)) {
    throw new Error(`The Python SDK venv is missing (${VENV_PYTHON}). Create it with: test/e2e/python/setup-venv.sh (needs python3 with venv; CI runs it from .ci/run).`);
  }
}

/** Runs one script of test/e2e/python with the bootstrap principal against the given vault URLs. */
export function runPythonScript(script: string, urls: readonly string[] = PYTHON_VAULT_URLS, overrides: Readonly<Record<string, string>> = {}): Promise<PythonRun> {
  requireVenv();
  const b = bootstrap();
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    PYTHONDONTWRITEBYTECODE: '1',
    PYTHONUNBUFFERED: '1',
    KEYLEDGER_TENANT_ID: b.tenantId,
    KEYLEDGER_CLIENT_ID: b.clientId,
    KEYLEDGER_CLIENT_SECRET: b.clientSecret,
    KEYLEDGER_AUTHORITY: b.authorityHost,
    KEYLEDGER_CA_FILE: stackEnv.caFile,
    REQUESTS_CA_BUNDLE: stackEnv.caFile,
    KEYLEDGER_VAULT_URLS: urls.join(','),
    KEYLEDGER_SUFFIX: suffix(),
    // A script run as another principal, or told about more (KEYLEDGER_CLIENT_*, KEYLEDGER_APP_*).
    ...overrides,
  };
  return new Promise((resolve) => {
    execFile(VENV_PYTHON, [join(SCRIPTS, script)], { cwd: SCRIPTS, env, timeout: 240_000, maxBuffer: 8 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      const lines = stdout.split('\n');
      const resultLine = lines.find((l) => l.startsWith('RESULT '));
      resolve({
        code,
        stdout,
        stderr,
        checks: lines.filter((l) => l.startsWith('CHECK ')).map((l) => l.slice('CHECK '.length)),
        result: resultLine ? (JSON.parse(resultLine.slice('RESULT '.length)) as PythonRun['result']) : undefined,
      });
    });
  });
}

/** The script's own account of a failure (its traceback), for the assertion message. */
export const explain = (run: PythonRun): string => `exit ${run.code}\n--- stdout\n${run.stdout.slice(-4000)}\n--- stderr\n${run.stderr.slice(-6000)}`;
