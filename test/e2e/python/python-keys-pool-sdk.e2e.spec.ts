import { describe, expect, it, jest } from '@jest/globals';
import { explain, runPythonScript } from './python-sdk.support.js';

jest.setTimeout(300_000);

const POOL_URL = `https://dev.managedhsm.localhost:${Number(process.env.VAULT_PORT ?? 8443)}`;

/**
 * The newest azure-keyvault-keys from PyPI (.venv-sdk) against the bootstrap Managed HSM pool
 * with the SDK's default challenge verification, which compares the challenge's resource with
 * the pool's host AND port: the pool's 401 must name https://managedhsm.localhost:8443.
 */
describe('the Python KeyClient and CryptographyClient on a Managed HSM pool', () => {
  it('creates HSM-backed keys, signs, encrypts with A256GCM, is refused a software key, reads random bytes', async () => {
    const run = await runPythonScript('keys_pool_sdk.py', [POOL_URL]);
    if (run.code !== 0 || !run.result) throw new Error(`keys_pool_sdk.py failed: ${explain(run)}`);
    expect(run.result.checks).toEqual(['create RSA-HSM EC-HSM oct-HSM', 'software RSA refused', 'sign/verify RS256', 'encrypt/decrypt A256GCM', 'random bytes', 'delete'].map((c) => `${POOL_URL} ${c}`));
    expect(run.result.challenges.length).toBeGreaterThan(0);
    for (const c of run.result.challenges) expect(c.url).toBe(POOL_URL);
    for (const c of run.result.challenges) expect(c.wwwAuthenticate).toMatch(/resource="https:\/\/managedhsm\.localhost:8443"$/);
  });
});
