import { describe, expect, it, jest } from '@jest/globals';
import { explain, PYTHON_VAULT_URLS, runPythonScript } from './python-sdk.support.js';

jest.setTimeout(300_000);

/**
 * The newest azure-keyvault-keys from PyPI (.venv-sdk) against the running services, with the
 * SDK's default challenge verification on https://dev.vault.localhost:8443 and
 * verify_challenge_resource=False on https://localhost:8443: RSA and EC keys, sign/verify and
 * encrypt/decrypt through CryptographyClient built from the key id, each signature and
 * ciphertext also checked with `cryptography` from the public JWK.
 */
describe('the Python KeyClient and CryptographyClient (newest azure-keyvault-keys)', () => {
  it('creates RSA and EC keys, signs and verifies, encrypts and decrypts on both URL forms', async () => {
    const run = await runPythonScript('keys_sdk.py');
    if (run.code !== 0 || !run.result) throw new Error(`keys_sdk.py failed: ${explain(run)}`);
    const expected = PYTHON_VAULT_URLS.flatMap((url) => ['create RSA', 'create EC', 'sign/verify RS256', 'sign/verify ES256', 'encrypt/decrypt RSA-OAEP-256', 'delete'].map((c) => `${url} ${c}`));
    expect(run.result.checks).toEqual(expected);
    expect(run.result.sdk).toMatch(/^azure-keyvault-keys \d+\.\d+/);
    for (const c of run.result.challenges) expect(c.wwwAuthenticate).toMatch(/resource="https:\/\/vault\.localhost:8443"$/);
  });
});
