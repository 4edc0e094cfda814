import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createHash } from 'node:crypto';
import { CertificateClient, type CertificatePolicy } from '@azure/keyvault-certificates';
import { CryptographyClient, KeyClient } from '@azure/keyvault-keys';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { REPO_ROOT } from '#libs/platform';
import { ensureConsoleClient } from '../../../apps/console/src/console-client.js';
import { startConsoleServer } from '../../../apps/console/src/console-server.js';
import { CA, HOME, assignRole, bootstrap, closeDb, createVault, credential, dropVault, identityAdmin, installLocalhostDns, secretClient, suffix, vaultUrl } from '../vault/vault-e2e.support.js';

// The web console in a real headless Chromium (Debian's package, driven by playwright-core):
// sign in through identity's authorization-code page, browse to a secret, reveal it, find the
// reveal in the audit view with its chain proof, a certificate's metadata (never its key or
// managed secret), a key's usage histogram, the chain status with its last signed checkpoint,
// and a user without the role sees the 403. Screenshots go to test/e2e/console/results/
// (gitignored; docs/screenshots/ holds copies for the README).
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
    await assignRole(reader.objectId, 'Key Vault Reader', `/vaults/${vault}`);
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

  /**
   * The vault applies new role assignments when their events reach it (seconds, more on a busy
   * machine): reload the page until `target` shows (a propagation wait, not a timing assertion).
   */
  async function reloadUntilVisible(page: Page, target: Locator, prepare: () => Promise<void> = async () => undefined): Promise<void> {
    await prepare();
    for (let i = 0; i < 90; i++) {
      if (await target.waitFor({ timeout: 2_000 }).then(() => true, () => false)) return;
      await page.reload();
      await prepare();
    }
    await target.waitFor({ timeout: 2_000 });
  }

  /** A breakdown row: its first cell and its operations and failures. */
  async function rowOf(page: Page, table: string, key: string): Promise<{ operations: number; failures: number }> {
    const row = page.getByTestId(table).getByRole('row').filter({ hasText: key });
    expect(await row.count()).toBe(1);
    return { operations: Number(await row.getByRole('cell').nth(1).textContent()), failures: Number(await row.getByRole('cell').nth(2).textContent()) };
  }

  const shot = (page: Page, name: string, fullPage = true) => page.screenshot({ path: join(RESULTS, `${name}.png`), fullPage });

  it('signs in with the sign-in page, browses to a secret, reveals it and finds the reveal in the audit view', async () => {
    const page = await signedIn(reader);
    await page.getByTestId('open-vault-name').fill(vault);
    await page.getByTestId('open-vault').click();
    await reloadUntilVisible(page, page.getByTestId('secrets-table').getByText('db-password'));
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
    expect(await page.getByTestId('proof-status').textContent()).toMatch(/^chain proof (verified|awaiting a signed checkpoint)$/);
    expect(await page.getByTestId('record-proof').textContent()).toMatch(/Entry digest/);
    await page.waitForTimeout(500); // the drawer's opening transition, for the screenshot only
    await shot(page, 'audit-record-proof');
    await page.context().close();
  });

  it('shows a certificate created through the SDK with its metadata, and never reads its managed secret or key', async () => {
    const certificates = new CertificateClient(vaultUrl(vault), credential(), { tlsOptions: { ca: CA.toString() }, retryOptions: { maxRetries: 0 } });
    const policy: CertificatePolicy = { issuerName: 'Self', subject: 'CN=console.e2e.internal, O=Keyledger', subjectAlternativeNames: { dnsNames: ['console.e2e.internal', 'api.e2e.internal'] }, validityInMonths: 6 };
    const created = await (await certificates.beginCreateCertificate('web-tls', policy, { intervalInMs: 50 })).pollUntilDone();
    await certificates.updateCertificateProperties('web-tls', '', { tags: { owner: 'platform' } });
    const thumbprint = Buffer.from(created.properties.x509Thumbprint!).toString('hex').toUpperCase();

    const page = await signedIn(reader);
    const paths: string[] = [];
    page.on('request', (r) => paths.push(new URL(r.url()).pathname));
    await page.goto(`${server.url}#/vaults/${vault}`);
    await reloadUntilVisible(page, page.getByTestId('certificates-table').getByText('web-tls'), () => page.getByTestId('tab-certificates').click());
    await shot(page, 'vault-certificates');
    await page.getByTestId('certificates-table').getByText('web-tls').click();
    const detail = page.getByTestId('certificate-detail');
    await detail.waitFor();
    await page.getByTestId('certificate-policy').waitFor();
    await page.getByTestId('certificate-pending').waitFor();
    const text = (await detail.textContent()) ?? '';
    expect([text.includes('CN=console.e2e.internal'), text.includes('DNS:console.e2e.internal'), text.includes('DNS:api.e2e.internal'), text.includes('(self-signed)'), text.includes(thumbprint), text.includes('owner=platform')]).toEqual([true, true, true, true, true, true]);
    expect(await page.getByTestId('certificate-policy').textContent()).toMatch(/Self.*6 months/);
    expect(await page.getByTestId('certificate-pending').textContent()).toMatch(/completed|none/);
    expect(await page.getByTestId('versions-table').getByRole('row').count()).toBe(2);
    // Metadata only: the page never asked for the managed secret (its value is the private key) nor for the key.
    expect(paths.filter((p) => /\/(secrets|keys)\/web-tls/.test(p))).toEqual([]);
    const html = await page.content();
    expect([html.includes('PRIVATE KEY'), html.includes('MII')]).toEqual([false, false]);
    await shot(page, 'certificate');
    await page.context().close();
  });

  it('shows the chain status with the last signed checkpoint in the audit view', async () => {
    const page = await signedIn(reader);
    await page.getByTestId('nav-audit').click();
    const checkpoint = page.getByTestId('last-checkpoint');
    await checkpoint.waitFor();
    expect(await page.getByTestId('chain-verdict').textContent()).toBe('chain verified');
    expect(await checkpoint.textContent()).toMatch(/Last signed checkpoint#\d+ at \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC/);
    expect(await checkpoint.textContent()).toMatch(/Sealed up toseq \d+/);
    expect(await page.getByTestId('checkpoint-signature').textContent()).toBe('signature valid');
    // "Verify the whole chain" is POST /audit/verify (covered by the audit API's specs): not clicked
    // here, where the shared chain holds hundreds of thousands of records.
    expect(await page.getByTestId('verify-chain').isVisible()).toBe(true);
    await shot(page, 'audit-chain-status', false);
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
    // The usage aggregation follows the audit index within seconds: refresh until the signatures are counted.
    const signed = async (): Promise<number> => {
      const cells = await page.getByTestId('usage-by-operation').getByRole('row').filter({ hasText: 'KeySign' }).getByRole('cell').allTextContents();
      return cells.length >= 3 ? Number(cells[1]) - Number(cells[2]) : 0;
    };
    for (let i = 0; i < 60 && (await signed()) < 3; i++) {
      await page.waitForTimeout(500);
      await page.getByTestId('usage-reload').click();
      await usage.waitFor();
    }
    expect(await usage.textContent()).toMatch(/^([3-9]|\d{2,}) operations/);
    // Each signature once: the vault's record, not again the crypto service's step of the same
    // request. A new CryptographyClient's first request is the SDK's unauthenticated bearer
    // challenge: a refused KeySign (401), counted as the failure it is.
    const sign = await rowOf(page, 'usage-by-operation', 'KeySign');
    expect([sign.operations - sign.failures, sign.failures <= 1]).toEqual([3, true]);
    expect((await rowOf(page, 'usage-by-algorithm', 'ES256')).operations).toBe(3);
    // The histogram: one-minute buckets of the last hour, with the signatures' bar drawn.
    expect(await page.getByTestId('usage-histogram').locator('.recharts-bar-rectangle').count()).toBeGreaterThanOrEqual(1);
    await page.getByTestId('who-used-button').click();
    // The SDK's principal: the key's creation and its three signatures in the last hour.
    const counts = await page.getByTestId('who-used-table').locator('tbody tr td:nth-child(2)').allTextContents();
    expect(counts).toContain('4');
    await shot(page, 'key-usage');

    await page.goto(`${server.url}#/audit`);
    // The chain status loads above the switch: click once the layout has settled.
    await page.getByTestId('last-checkpoint').waitFor();
    await page.getByTestId('live-tail').check({ force: true });
    await page.getByTestId('live-table').waitFor();
    await page.waitForTimeout(500);
    await secretClient(vaultUrl(vault)).getSecret('db-password');
    const live = page.getByTestId('live-table').getByRole('row').filter({ hasText: 'SecretGet' });
    await live.first().waitFor({ timeout: 20_000 });
    await shot(page, 'audit-live-tail');
    await page.context().close();
  });

  it("signs out of identity's sign-in session too: the next sign-in asks for the password again", async () => {
    const page = await signedIn(stranger);
    await page.getByTestId('sign-out').click();
    await page.getByTestId('sign-in').waitFor();
    await page.getByTestId('sign-in').click();
    await page.waitForURL(/\/oauth2\/v2\.0\/authorize/);
    // Without the logout, the session cookie would redirect straight back signed in.
    await page.locator('#password').waitFor();
    expect(await page.getByTestId('signed-in-user').count()).toBe(0);
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
