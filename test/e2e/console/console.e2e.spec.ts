import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createHash } from 'node:crypto';
import { CryptographyClient, KeyClient } from '@azure/keyvault-keys';
import { chromium, type Browser, type Page } from 'playwright-core';
import { REPO_ROOT } from '#libs/platform';
import { ensureConsoleClient } from '../../../apps/console/src/console-client.js';
import { startConsoleServer } from '../../../apps/console/src/console-server.js';
import { CA, HOME, assignRole, bootstrap, closeDb, createVault, credential, dropVault, identityAdmin, installLocalhostDns, secretClient, suffix, vaultUrl } from '../vault/vault-e2e.support.js';

// The web console in a real headless Chromium (Debian's package, driven by playwright-core):
// sign in through identity's authorization-code page, browse to a secret, reveal it, find the
// reveal in the audit view with its chain proof, and a user without the role sees the 403.
// Screenshots go to test/e2e/console/results/ (gitignored).
jest.setTimeout(180_000);

const PORT = Number(process.env.CONSOLE_TEST_PORT ?? 8446);
const RESULTS = join(REPO_ROOT, 'test', 'e2e', 'console', 'results');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

type User = { objectId: string; displayName: string; password: string };

describe('the web console in headless Chromium', () => {
  let vault: string;
  let reader: User;
  let stranger: User;
  let server: { url: string; close: () => Promise<void> };
  let browser: Browser;

  beforeAll(async () => {
    installLocalhostDns();
    mkdirSync(RESULTS, { recursive: true });
    vault = await createVault('e2e-console');
    await secretClient(vaultUrl(vault)).setSecret('db-password', 'console-revealed-value', { tags: { team: 'payments' }, contentType: 'text/plain' });
    const make = async (name: string): Promise<User> => (await identityAdmin('/admin/principals', 'POST', { displayName: `${name}-${suffix()}`, kind: 'user' })).json as User;
    reader = await make('carol');
    stranger = await make('dave');
    await assignRole(reader.objectId, 'Key Vault Secrets User', `/vaults/${vault}`);
    await assignRole(reader.objectId, 'Keyledger Auditor', '/');
    await assignRole(reader.objectId, 'Key Vault Crypto User', `/vaults/${vault}`);
    const origin = `https://localhost:${PORT}`;
    const tls = { cert: readFileSync(join(HOME, 'tls', 'server.crt')), key: readFileSync(join(HOME, 'tls', 'server.key')), ca: CA };
    const clientId = await ensureConsoleClient(bootstrap, origin, CA);
    server = await startConsoleServer({
      port: PORT,
      bindHost: '127.0.0.1',
      webRoot: join(REPO_ROOT, 'apps', 'console', 'web-dist'),
      tls,
      identityUrl: bootstrap.authorityHost,
      auditUrl: 'https://localhost:8444',
      vaultPort: 8443,
      domain: 'localhost',
      tenantId: bootstrap.tenantId,
      clientId,
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await dropVault(vault);
    await closeDb();
  });

  async function signedIn(user: User): Promise<Page> {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await page.goto(server.url);
    await page.getByTestId('sign-in').click();
    await page.waitForURL(/\/oauth2\/v2\.0\/authorize/);
    await page.locator('#username').fill(user.displayName);
    await page.locator('#password').fill(user.password);
    await page.locator('#submit').click();
    await page.getByTestId('signed-in-user').waitFor();
    expect(await page.getByTestId('signed-in-user').textContent()).toBe(user.displayName);
    return page;
  }

  const shot = (page: Page, name: string) => page.screenshot({ path: join(RESULTS, `${name}.png`), fullPage: true });

  it('signs in with the sign-in page, browses to a secret, reveals it and finds the reveal in the audit view', async () => {
    const page = await signedIn(reader);
    await page.getByTestId('open-vault-name').fill(vault);
    await page.getByTestId('open-vault').click();
    await page.getByTestId('secrets-table').getByText('db-password').waitFor();
    await shot(page, 'vault-secrets');
    await page.getByTestId('secrets-table').getByText('db-password').click();
    await page.getByTestId('versions-table').waitFor();
    await page.getByTestId('reveal').click();
    await page.getByTestId('secret-value').waitFor();
    expect(await page.getByTestId('secret-value').textContent()).toBe('console-revealed-value');
    await shot(page, 'secret-revealed');

    await page.getByTestId('nav-audit').click();
    await page.getByTestId('filter-object').fill(`${vault}/secrets/db-password`);
    await page.getByTestId('filter-operation').fill('SecretGet');
    // The audit index follows the ledger within seconds: search until the reveal is there.
    const row = page.getByTestId('audit-table').getByRole('row').filter({ hasText: 'SecretGet' });
    for (let i = 0; i < 40 && (await row.count()) === 0; i++) {
      await page.getByTestId('audit-search').click();
      await page.waitForTimeout(500);
    }
    expect(await row.count()).toBeGreaterThanOrEqual(1);
    await shot(page, 'audit-search');
    await row.first().click();
    await page.getByTestId('record-detail').waitFor();
    const detail = await page.getByTestId('record-detail').textContent();
    expect([detail?.includes('SecretGet'), detail?.includes(reader.objectId), detail?.includes('console-revealed-value')]).toEqual([true, true, false]);
    expect(await page.getByTestId('proof-status').textContent()).toMatch(/chain proof/);
    await shot(page, 'audit-record-proof');
    await page.context().close();
  });

  it("opens a key's usage chart after the test made signatures, and follows the live tail while the test reads a secret", async () => {
    const sdk = { tlsOptions: { ca: CA.toString() }, retryOptions: { maxRetries: 0 } };
    const key = await new KeyClient(vaultUrl(vault), credential(), sdk).createEcKey('signer', { curve: 'P-256' });
    const signer = new CryptographyClient(key, credential(), sdk);
    for (let i = 0; i < 3; i++) await signer.sign('ES256', createHash('sha256').update(`message ${i}`).digest());
    const page = await signedIn(reader);
    await page.goto(`${server.url}#/vaults/${vault}/keys/signer`);
    const usage = page.getByTestId('usage-total');
    await usage.waitFor();
    // The usage aggregation follows the audit index within seconds: reload until the signatures are counted.
    for (let i = 0; i < 40 && !/^[3-9]\d* operations|^\d{2,} operations/.test((await usage.textContent().catch(() => '')) ?? ''); i++) {
      await page.waitForTimeout(500);
      await page.getByTestId('usage-reload').click();
    }
    expect(await usage.textContent()).toMatch(/^([3-9]|\d{2,}) operations/);
    expect(await page.getByTestId('usage').textContent()).toContain('KeySign');
    await shot(page, 'key-usage');

    await page.goto(`${server.url}#/audit`);
    await page.getByTestId('live-tail').click({ force: true });
    await page.getByTestId('live-table').waitFor();
    await page.waitForTimeout(500);
    await secretClient(vaultUrl(vault)).getSecret('db-password');
    const live = page.getByTestId('live-table').getByRole('row').filter({ hasText: 'SecretGet' });
    await live.first().waitFor({ timeout: 20_000 });
    await shot(page, 'audit-live-tail');
    await page.context().close();
  });

  it('a user without a role on the vault sees the 403 the API answered', async () => {
    const page = await signedIn(stranger);
    await page.getByTestId('open-vault-name').fill(vault);
    await page.getByTestId('open-vault').click();
    const error = page.getByTestId('api-error').first();
    await error.waitFor();
    expect(await error.textContent()).toContain('403');
    await shot(page, 'forbidden');
    await page.context().close();
  });
});
