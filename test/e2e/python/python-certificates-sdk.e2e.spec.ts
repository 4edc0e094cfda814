import { describe, expect, it, jest } from '@jest/globals';
import { explain, PYTHON_VAULT_URLS, runPythonScript } from './python-sdk.support.js';

jest.setTimeout(300_000);

/**
 * The newest azure-keyvault-certificates from PyPI (.venv-sdk) against the running services:
 * a Self certificate from CertificatePolicy.get_default(), polled to completion, read back with
 * its policy and its managed PKCS#12 secret, on both URL forms (default challenge verification
 * on https://dev.vault.localhost:8443, verify_challenge_resource=False on https://localhost:8443).
 */
describe('the Python CertificateClient (newest azure-keyvault-certificates)', () => {
  it('creates a Self certificate with the default policy and reads it back on both URL forms', async () => {
    const run = await runPythonScript('certificates_sdk.py');
    if (run.code !== 0 || !run.result) throw new Error(`certificates_sdk.py failed: ${explain(run)}`);
    expect(run.result.checks).toEqual(PYTHON_VAULT_URLS.flatMap((url) => ['create Self', 'get', 'managed secret', 'delete'].map((c) => `${url} ${c}`)));
    expect(run.result.sdk).toMatch(/^azure-keyvault-certificates \d+\.\d+/);
  });
});
