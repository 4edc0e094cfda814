import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { AUTHORITY, Browser, TENANT, signInRecords } from './sign-in.support.js';
import { HOME, VAULT_PORT, assignRole, closeDb, createVault, dropVault, identityAdmin, installLocalhostDns, secretClient, suffix, vaultUrl, type RawResponse } from '../vault/vault-e2e.support.js';
import { stackEnv } from '../../support/stack-env.js';

// The real Azure CLI (newest from PyPI, in .venv-az: test/e2e/identity/setup-az-venv.sh, run by
// .ci/run) signs in to Keyledger as a user with `az login --use-device-code`, as its first-party
// public client 04b07795-…, against a custom cloud whose authority is identity; the test plays
// the user on the verification page over HTTP; then `az keyvault secret show` reads a secret.
jest.setTimeout(240_000);

const AZ = join(stackEnv.repoRoot, '.venv-az', 'bin', 'az');
const PYTHONPATH = [join(stackEnv.repoRoot, 'test', 'e2e', 'identity', 'az-localhost'), join(stackEnv.repoRoot, 'test', 'e2e', 'python')].join(':');
const AZURE_CLI = '04b07795-8ddb-461a-bbee-02f9e1bf7b46';

type Run = { code: number | null; stdout: string; stderr: string };

describe('az login --use-device-code, then az keyvault secret show', () => {
  let vault: string;
  let user: { objectId: string; displayName: string; password: string };
  let configDir: string;

  const env = (): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: configDir,
    AZURE_CONFIG_DIR: join(configDir, 'azure'),
    // The development CA, and *.localhost resolved to loopback inside the CLI's process.
    REQUESTS_CA_BUNDLE: join(HOME, 'tls', 'ca.crt'),
    PYTHONPATH,
    PYTHONDONTWRITEBYTECODE: '1',
    // `az config set core.…` as environment variables: no Microsoft instance discovery, no telemetry.
    AZURE_CORE_INSTANCE_DISCOVERY: 'false',
    AZURE_CORE_COLLECT_TELEMETRY: 'false',
    AZURE_CORE_SURVEY_MESSAGE: 'false',
    AZURE_CORE_NO_COLOR: 'true',
    AZURE_CORE_LOGIN_EXPERIENCE_V2: 'off',
  });

  /** Runs az; `onStderr` sees its standard error as it comes (the device code prompt). */
  const az = (args: readonly string[], onStderr?: (text: string) => void): Promise<Run> =>
    new Promise((resolve) => {
      const child = spawn(AZ, [...args], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => {
        stderr += c.toString();
        onStderr?.(stderr);
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  const ok = (r: Run): Run => {
    if (r.code !== 0) throw new Error(`az exited ${String(r.code)}:\n${r.stderr.slice(-3000)}`);
    return r;
  };

  beforeAll(async () => {
    if (!existsSync(AZ)) throw new Error(`The Azure CLI venv is missing (${AZ}). Create it with: test/e2e/identity/setup-az-venv.sh (CI runs it from .ci/run).`);
    installLocalhostDns();
    configDir = mkdtempSync(join(tmpdir(), 'keyledger-az-'));
    vault = await createVault('e2e-azcli');
    await secretClient(vaultUrl(vault)).setSecret('db-password', 'from-az-cli');
    const u = await identityAdmin('/admin/principals', 'POST', { displayName: `az-user-${suffix()}`, kind: 'user' });
    expect(u.status).toBe(201);
    user = u.json as typeof user;
    await assignRole(user.objectId, 'Key Vault Secrets User', `/vaults/${vault}`);
  });

  afterAll(async () => {
    rmSync(configDir, { recursive: true, force: true });
    await dropVault(vault);
    await closeDb();
  });

  it('registers Keyledger as a cloud, signs in with the device code as the user, and reads the secret', async () => {
    ok(
      await az([
        'cloud', 'register', '--name', 'Keyledger', '--skip-endpoint-discovery',
        '--endpoint-active-directory', AUTHORITY,
        '--endpoint-active-directory-resource-id', 'https://vault.localhost',
        '--endpoint-resource-manager', `${AUTHORITY}/`,
        '--suffix-keyvault-dns', '.vault.localhost',
      ]),
    );
    ok(await az(['cloud', 'set', '--name', 'Keyledger']));

    let entered: Promise<RawResponse> | undefined;
    const login = await az(['login', '--use-device-code', '--tenant', TENANT, '--allow-no-subscriptions', '--skip-subscription-discovery', '--output', 'json'], (stderr) => {
      const m = /open the page (\S+) and enter the code (\S+)/.exec(stderr);
      if (m && !entered) {
        entered = (async () => {
          const browser = new Browser();
          const page = await browser.request(m[1]!);
          return browser.request(m[1]!, { method: 'POST', form: { ctx: Browser.ctxOf(page), otc: m[2]!, username: user.displayName, password: user.password } });
        })();
      }
    });
    ok(login);
    const page = await entered!;
    expect([page.status, page.text.includes('Microsoft Azure CLI')]).toEqual([200, true]);
    const accounts = JSON.parse(login.stdout) as { tenantId: string; user: { name: string; type: string } }[];
    expect(accounts[0]).toMatchObject({ tenantId: TENANT, user: { name: user.displayName, type: 'user' } });

    const shown = ok(await az(['keyvault', 'secret', 'show', '--id', `https://${vault}.vault.localhost:${VAULT_PORT}/secrets/db-password`, '--query', 'value', '--output', 'tsv']));
    expect(shown.stdout.trim()).toBe('from-az-cli');

    const records = await signInRecords(user.displayName);
    expect(records.map((r) => `${r.resultType}:${r.properties.extra?.flow}:${r.identity.appid}`)).toEqual([`Success:device_code:${AZURE_CLI}`]);
  });
});
