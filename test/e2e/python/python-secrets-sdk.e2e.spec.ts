import { describe, expect, it, jest } from '@jest/globals';
import { explain, PYTHON_VAULT_URLS, runPythonScript } from './python-sdk.support.js';

jest.setTimeout(300_000);

/**
 * The newest azure-keyvault-secrets and azure-identity from PyPI (.venv-sdk, made by
 * setup-venv.sh) against the running services: ClientSecretCredential with Keyledger's
 * authority, the SDK's default challenge verification on https://dev.vault.localhost:8443 —
 * which compares host AND port, so the challenge must name https://vault.localhost:8443 — and
 * verify_challenge_resource=False on https://localhost:8443.
 */
describe('the Python SecretClient (newest azure-keyvault-secrets)', () => {
  it('sets, gets, lists versions and secrets, deletes and purges on both URL forms', async () => {
    const run = await runPythonScript('secrets_sdk.py');
    if (run.code !== 0 || !run.result) throw new Error(`secrets_sdk.py failed: ${explain(run)}`);
    const expected = PYTHON_VAULT_URLS.flatMap((url) => ['set', 'get', 'versions', 'list', 'delete'].map((c) => `${url} ${c}`));
    expect(run.result.checks).toEqual(expected);
    expect(run.result.sdk).toMatch(/^azure-keyvault-secrets \d+\.\d+/);
    // The first request of each client got the challenge, naming the vault's port.
    expect(run.result.challenges.map((c) => c.url)).toEqual(PYTHON_VAULT_URLS);
    for (const c of run.result.challenges) expect(c.wwwAuthenticate).toMatch(/^Bearer authorization="https:\/\/localhost:9443\/[0-9a-f-]{36}", resource="https:\/\/vault\.localhost:8443"$/);
  });
});
