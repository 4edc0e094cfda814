/**
 * The root unavailable (wrong token PIN): the service stays up sealed, says why on its health
 * endpoint and Health RPC, refuses every operation with `Sealed` (audited), and serves again
 * — with nothing lost — once the PIN file is fixed.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import grpc from '@grpc/grpc-js';
import { keyledgerHome } from '#libs/platform';
import { waitFor } from '#libs/testing';
import { SOFTHSM_PIN_FILE, startTestCrypto, type TestCrypto } from './testing/crypto.harness.js';
import { keyRef } from './testing/jwk.helpers.js';

let dir: string;
let pinFile: string;
let t: TestCrypto;
const rightPin = readFileSync(SOFTHSM_PIN_FILE, 'utf8').trim();

function health(port: number): Promise<{ status: number; body: { status: string; components: Record<string, { status: string; detail?: string }> } }> {
  const ca = readFileSync(join(keyledgerHome(), 'tls', 'ca.crt'));
  return new Promise((resolve, reject) => {
    https
      .get({ host: 'localhost', port, path: '/health', ca }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as never }));
      })
      .on('error', reject);
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keyledger-crypto-pin-'));
  pinFile = join(dir, 'user.pin');
  writeFileSync(pinFile, 'wrong-pin-000\n', { mode: 0o600 });
  t = await startTestCrypto({ root: 'pkcs11', env: { PKCS11_PIN_FILE: pinFile } });
});

afterAll(async () => {
  writeFileSync(pinFile, `${rightPin}\n`);
  await t?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('sealed root', () => {
  it('boots sealed with a wrong PIN: health says why, operations are refused with Sealed and audited', async () => {
    const h = await health(t.httpPort);
    expect(h.status).toBe(503);
    expect(h.body.components.root?.status).toBe('down');
    expect(h.body.components.root?.detail).toMatch(/sealed: .*PIN is incorrect/);
    expect(h.body.components.postgres?.status).toBe('up');

    const rpc = await t.client.health();
    expect(rpc.sealed).toBe(true);
    expect(rpc.reason).toMatch(/PIN is incorrect/);
    expect(rpc.reason).not.toContain('wrong-pin-000');

    const ctx = t.ctx('KeySign');
    await expect(t.client.sign({ ctx, ref: keyRef(ctx.tenantId, 'k'), algorithm: 'ES256', value: randomBytes(32) })).rejects.toMatchObject({
      code: 'Sealed',
      grpcStatus: grpc.status.UNAVAILABLE,
    });
    const [record] = await t.auditRecords(ctx.correlationId);
    expect(record).toMatchObject({ resultType: 'Failure', resultSignature: 'UNAVAILABLE', properties: { errorCode: 'Sealed' } });
    await expect(t.client.generateDataKey({ ctx: t.ctx(), ref: { tenant: ctx.tenantId, vault: 'v', collection: 'secrets', name: 's', version: '1' } })).rejects.toMatchObject({ code: 'Sealed' });
  });

  it('serves once the PIN is fixed, seals again when the root is lost, and loses nothing', async () => {
    writeFileSync(pinFile, `${rightPin}\n`);
    await waitFor(async () => !(await t.client.health()).sealed, { what: 'unseal after the PIN was fixed', timeoutMs: 20_000 });
    expect((await health(t.httpPort)).body.components.root?.status).toBe('up');

    const tenant = t.ctx().tenantId;
    const soft = keyRef(tenant, 'survivor');
    const hsm = keyRef(tenant, 'survivor-hsm');
    await t.client.createKey({ ctx: t.ctx(), ref: soft, kty: 'EC' });
    await t.client.createKey({ ctx: t.ctx(), ref: hsm, kty: 'EC-HSM' });
    const dk = await t.client.generateDataKey({ ctx: t.ctx(), ref: { tenant, vault: 'vault1', collection: 'secrets', name: 's', version: '1' } });
    const digest = createHash('sha256').update('before').digest();
    await t.client.sign({ ctx: t.ctx(), ref: soft, algorithm: 'ES256', value: digest });

    // The token goes away (here: the session is closed and the PIN no longer works).
    writeFileSync(pinFile, 'wrong-pin-000\n');
    t.service.root.seal('token removed (test)', true);
    expect(t.service.components.material.cachedSoftwareKeys).toBe(0);
    await expect(t.client.sign({ ctx: t.ctx(), ref: soft, algorithm: 'ES256', value: digest })).rejects.toMatchObject({ code: 'Sealed' });
    expect((await t.client.health()).reason).toMatch(/PIN is incorrect|token removed/);

    writeFileSync(pinFile, `${rightPin}\n`);
    await waitFor(async () => !(await t.client.health()).sealed, { what: 'unseal after the token came back', timeoutMs: 20_000 });
    expect((await t.client.sign({ ctx: t.ctx(), ref: soft, algorithm: 'ES256', value: digest })).result).toHaveLength(64);
    expect((await t.client.sign({ ctx: t.ctx(), ref: hsm, algorithm: 'ES256', value: digest })).result).toHaveLength(64);
    const again = await t.client.decryptDataKey({ ctx: t.ctx(), ref: { tenant, vault: 'vault1', collection: 'secrets', name: 's', version: '1' }, keyId: dk.keyId });
    expect(again.plaintext.equals(dk.plaintext)).toBe(true);
  });
});
