import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { jwkProblems, keyMaterialProblems } from './key-material.js';
import { loadRecordings } from './recording.js';
import { RECORDED_FOLDERS, REPLAYED_FOLDERS, replayedFolders } from './replayed-folders.js';

const root = join(import.meta.dirname, '..', '..', '..', 'test', 'conformance', 'recordings');
const AZURE = 'https://keyvault_name.vault.azure.net';
const keys = loadRecordings(root, ['keyvault-keys']);

describe('the repository copy of the recordings', () => {
  it('holds every recorded folder and replays all of them by default', () => {
    for (const folder of RECORDED_FOLDERS) expect([folder, loadRecordings(root, [folder]).length > 0]).toEqual([folder, true]);
    expect(keys).toHaveLength(28);
    expect(REPLAYED_FOLDERS).toEqual(['keyvault-secrets', 'keyvault-keys', 'keyvault-certificates', 'keyvault-admin']);
    expect(replayedFolders({ KEYLEDGER_CONFORMANCE_FOLDERS: 'keyvault-keys' })).toEqual(['keyvault-keys']);
    expect(() => replayedFolders({ KEYLEDGER_CONFORMANCE_FOLDERS: 'keyvault-nothing' })).toThrow(/keyvault-nothing/);
  });
});

describe('key material checks of the keys replay', () => {
  it("find nothing wrong in Azure's own recorded answers", () => {
    let checked = 0;
    for (const r of keys) {
      for (const e of r.entries) {
        if (e.StatusCode >= 300) continue;
        const url = new URL(e.RequestUri);
        const problems = keyMaterialProblems(url.pathname, e.RequestBody, e.ResponseBody, url.hostname.includes('managedhsm') ? 'https://keyvault_name.managedhsm.azure.net' : AZURE);
        expect([r.file, e.RequestMethod, url.pathname, problems]).toEqual([r.file, e.RequestMethod, url.pathname, []]);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(50);
  });

  const rsa = { kid: `${AZURE}/keys/k/${'a'.repeat(32)}`, kty: 'RSA', key_ops: ['sign'], n: Buffer.alloc(256, 7).toString('base64url'), e: 'AQAB' };
  const ec = { kid: `${AZURE}/keys/k/${'b'.repeat(32)}`, kty: 'EC', key_ops: ['sign', 'verify'], crv: 'P-256', x: Buffer.alloc(32, 1).toString('base64url'), y: Buffer.alloc(32, 2).toString('base64url') };

  it.each([
    ['private RSA material', { ...rsa, d: 'AA' }, /private key material/],
    ['a short modulus', { ...rsa, n: Buffer.alloc(128, 7).toString('base64url') }, /modulus/],
    ['a leading zero in n', { ...rsa, n: Buffer.concat([Buffer.alloc(1), Buffer.alloc(256, 7)]).toString('base64url') }, /leading zero/],
    ['standard base64 in n', { ...rsa, n: `${'+/'.repeat(100)}` }, /modulus/],
    ['a P-384 coordinate on P-256', { ...ec, x: Buffer.alloc(48, 1).toString('base64url') }, /32-byte/],
    ['key_size on an EC key', { ...ec, key_size: 256 }, /key_size/],
    ['a kid of another host', { ...ec, kid: `https://elsewhere/keys/k/${'b'.repeat(32)}` }, /does not start/],
    ['a kid without a version', { ...ec, kid: `${AZURE}/keys/k` }, /32-hex version/],
  ])('refuse %s', (_what, key, problem) => {
    expect(jwkProblems(key, AZURE).join('\n')).toMatch(problem);
    expect(jwkProblems(rsa, AZURE)).toEqual([]);
    expect(jwkProblems(ec, AZURE)).toEqual([]);
  });

  it('check signatures, verify results and random bytes by length', () => {
    const kid = ec.kid;
    expect(keyMaterialProblems('/keys/k/v/sign', { alg: 'ES256' }, { kid, value: Buffer.alloc(64).toString('base64url') }, AZURE)).toEqual([]);
    expect(keyMaterialProblems('/keys/k/v/sign', { alg: 'ES256' }, { kid, value: Buffer.alloc(72).toString('base64url') }, AZURE).join()).toMatch(/raw r‖s/);
    expect(keyMaterialProblems('/keys/k/v/verify', {}, { value: false }, AZURE).join()).toMatch(/expected true/);
    expect(keyMaterialProblems('/rng', { count: 8 }, { value: Buffer.alloc(8).toString('base64url') }, AZURE)).toEqual([]);
    expect(keyMaterialProblems('/rng', { count: 8 }, { value: Buffer.alloc(7).toString('base64url') }, AZURE)).toHaveLength(1);
  });
});
