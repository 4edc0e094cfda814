import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import {
  accessToken,
  bootstrap,
  closeDb,
  createVault,
  dropVault,
  eventCount,
  forgeExpiredToken,
  IDENTITY_RESOURCE,
  raw,
  suffix,
  VAULT_PORT,
  VAULT_RESOURCE,
  vaultUrl,
  type RawResponse,
} from './vault-e2e.support.js';

// The project's testTimeout is not applied to files run alone: long e2e steps need their own.
jest.setTimeout(60_000);

type ErrorBody = { error: { code: string; message: string; innererror?: { code: string } } };
const errorOf = (r: RawResponse): ErrorBody['error'] => (r.json as ErrorBody).error;

/** Raw HTTPS against a vault of its own: each bad request gets Azure's status and code, and writes nothing. */
describe('bad input on the secrets API (raw HTTPS)', () => {
  let vault: string;
  let base: string;
  let token: string;

  beforeAll(async () => {
    vault = await createVault('e2e-bad');
    base = vaultUrl(vault);
    token = await accessToken(VAULT_RESOURCE);
  });

  afterAll(async () => {
    await dropVault(vault);
    await closeDb();
  });

  const put = (name: string, body: string, headers: Record<string, string> = {}, apiVersion = '7.6'): Promise<RawResponse> =>
    raw(`${base}/secrets/${name}?api-version=${apiVersion}`, { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers }, body });

  async function nothingWritten(name: string): Promise<void> {
    const get = await raw(`${base}/secrets/${encodeURIComponent(name)}/?api-version=7.6`, { headers: { authorization: `Bearer ${token}` } });
    expect(get.status === 404 || get.status === 400).toBe(true);
    expect(await eventCount(`secret-%-${name.toLowerCase()}`)).toBe(0);
  }

  it.each(['under_score', 'dot.name', 'space%20name', `${'a'.repeat(128)}`, 'ünïcode'])('rejects the invalid name %s with 400 BadParameter', async (name) => {
    const res = await put(encodeURIComponent(decodeURIComponent(name)), JSON.stringify({ value: 'x' }));
    expect(res.status).toBe(400);
    expect(errorOf(res).code).toBe('BadParameter');
    await nothingWritten(decodeURIComponent(name));
  });

  it.each([
    ['U+0000 in a tag name (the schemathesis finding)', '{"value": "", "attributes": {"enabled": false}, "contentType": "", "tags": {"a\\u0000b": "\\u00cf\\u0013"}}'],
    ['U+0000 in a tag value', '{"value": "v", "tags": {"a": "b\\u0000"}}'],
    ['an unpaired surrogate in the value', '{"value": "x\\udc00"}'],
  ])('refuses %s with 400 BadParameter at the gate and writes nothing', async (_what, body) => {
    const name = `stfuzz-${suffix()}`;
    const res = await put(name, body, {}, '7.5');
    expect(res.status).toBe(400);
    expect(errorOf(res).code).toBe('BadParameter');
    await nothingWritten(name);
  });

  it('accepts a name of 127 characters', async () => {
    const name = `n${suffix()}`.padEnd(127, 'x');
    expect((await put(name, JSON.stringify({ value: 'x' }))).status).toBe(200);
  });

  it('accepts a 25 KB value and rejects 25 KB + 1 byte with 400 BadParameter', async () => {
    const ok = `max-${suffix()}`;
    expect((await put(ok, JSON.stringify({ value: 'v'.repeat(25 * 1024) }))).status).toBe(200);
    const name = `big-${suffix()}`;
    const res = await put(name, JSON.stringify({ value: 'v'.repeat(25 * 1024 + 1) }));
    expect(res.status).toBe(400);
    expect(errorOf(res).code).toBe('BadParameter');
    await nothingWritten(name);
  });

  it('accepts 15 tags and rejects 16 with 400 BadParameter', async () => {
    const tags = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`t${i}`, 'v']));
    expect((await put(`tags15-${suffix()}`, JSON.stringify({ value: 'x', tags: tags(15) }))).status).toBe(200);
    const name = `tags16-${suffix()}`;
    const res = await put(name, JSON.stringify({ value: 'x', tags: tags(16) }));
    expect(res.status).toBe(400);
    expect(errorOf(res).code).toBe('BadParameter');
    await nothingWritten(name);
  });

  it('rejects a content type longer than 255 characters', async () => {
    const name = `ct-${suffix()}`;
    const res = await put(name, JSON.stringify({ value: 'x', contentType: 'c'.repeat(256) }));
    expect(res.status).toBe(400);
    expect(errorOf(res).code).toBe('BadParameter');
    await nothingWritten(name);
  });

  it.each([
    ['malformed JSON', '{"value": "x"'],
    ['a JSON array', '["x"]'],
    ['a missing value', '{"contentType":"text/plain"}'],
    ['a non-string value', '{"value": 42}'],
    ['non-integer attributes', '{"value":"x","attributes":{"exp":"tomorrow"}}'],
  ])('rejects %s with 400 BadParameter', async (_what, body) => {
    const name = `json-${suffix()}`;
    const res = await put(name, body);
    expect(res.status).toBe(400);
    expect(errorOf(res).code).toBe('BadParameter');
    await nothingWritten(name);
  });

  it('rejects a body that is not application/json with 415', async () => {
    const name = `ctype-${suffix()}`;
    const res = await put(name, 'value=x', { 'content-type': 'text/plain' });
    expect(res.status).toBe(415);
    expect(errorOf(res).code).toBe('UnsupportedMediaType');
    await nothingWritten(name);
  });

  it('rejects a body above the request limit with 413', async () => {
    const name = `huge-${suffix()}`;
    const res = await put(name, JSON.stringify({ value: 'v'.repeat(400 * 1024) }));
    expect(res.status).toBe(413);
    expect(errorOf(res).code).toBe('RequestEntityTooLarge');
    await nothingWritten(name);
  });

  it.each([
    ['an unknown api-version', '2099-01-01'],
    ['an empty api-version', ''],
  ])('rejects %s with 400 BadParameter', async (_what, v) => {
    const name = `apiv-${suffix()}`;
    const res = await put(name, JSON.stringify({ value: 'x' }), {}, v);
    expect(res.status).toBe(400);
    expect(errorOf(res).code).toBe('BadParameter');
    await nothingWritten(name);
  });

  it('rejects a missing api-version, and accepts a percent-encoded key (api%2Dversion)', async () => {
    const missing = await raw(`${base}/secrets`, { headers: { authorization: `Bearer ${token}` } });
    expect(missing.status).toBe(400);
    expect(errorOf(missing).code).toBe('BadParameter');
    const encoded = await raw(`${base}/secrets?api%2Dversion=7.5`, { headers: { authorization: `Bearer ${token}` } });
    expect(encoded.status).toBe(200);
  });

  it('answers a request without a token with 401 and the challenge, before reading the body', async () => {
    const name = `anon-${suffix()}`;
    const res = await raw(`${base}/secrets/${name}?api-version=7.6`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{not even json' });
    expect(res.status).toBe(401);
    expect(errorOf(res)).toEqual({ code: 'Unauthorized', message: 'AKV10000: Request is missing a Bearer, PoP, or MTLS_POP token.' });
    // The vault is reached on a port other than 443: the resource names it (the Python SDKs compare host and port).
    expect(res.headers['www-authenticate']).toBe(`Bearer authorization="${bootstrap.authorityHost}/${bootstrap.tenantId}", resource="${VAULT_RESOURCE}:${VAULT_PORT}"`);
    await nothingWritten(name);
  });

  it.each([['7.6-preview.2'], ['2099-01-01'], ['']])('challenges a request without a token before judging its api-version (%j), as Azure does', async (v) => {
    const name = `anon-v-${suffix()}`;
    const res = await raw(`${base}/secrets/${name}?api-version=${v}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value: 'x' }) });
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe(`Bearer authorization="${bootstrap.authorityHost}/${bootstrap.tenantId}", resource="${VAULT_RESOURCE}:${VAULT_PORT}"`);
    await nothingWritten(name);
  });

  it('serves the preview api-version the Azure CLI sends (7.6-preview.2) once authenticated', async () => {
    const name = `preview-${suffix()}`;
    const res = await put(name, JSON.stringify({ value: 'from-cli' }), {}, '7.6-preview.2');
    expect(res.status).toBe(200);
    expect((res.json as { attributes: { recoverableDays?: number } }).attributes.recoverableDays).toBe(7);
  });

  it('rejects an expired token with 401 [TokenExpired] and the challenge', async () => {
    const name = `expired-${suffix()}`;
    const expired = await forgeExpiredToken(token);
    const res = await put(name, JSON.stringify({ value: 'x' }), { authorization: `Bearer ${expired}` });
    expect(res.status).toBe(401);
    expect(errorOf(res).code).toBe('Unauthorized');
    expect(errorOf(res).message).toContain('[TokenExpired]');
    expect(res.headers['www-authenticate']).toMatch(/^Bearer authorization="/);
    await nothingWritten(name);
  });

  it('rejects a token for another audience and a tampered token with 401', async () => {
    const name = `aud-${suffix()}`;
    const other = await accessToken(IDENTITY_RESOURCE);
    const wrongAudience = await put(name, JSON.stringify({ value: 'x' }), { authorization: `Bearer ${other}` });
    expect(wrongAudience.status).toBe(401);
    expect(errorOf(wrongAudience).message).toContain('AKV10022');
    const [h, p] = token.split('.');
    const tampered = await put(name, JSON.stringify({ value: 'x' }), { authorization: `Bearer ${h}.${p}.${Buffer.alloc(64, 1).toString('base64url')}` });
    expect(tampered.status).toBe(401);
    expect(errorOf(tampered).code).toBe('Unauthorized');
    await nothingWritten(name);
  });

  it('answers Azure’s 405 for PUT /secrets/ and 404 for an unknown path, in the error envelope', async () => {
    const empty = await put('', JSON.stringify({ value: 'x' }));
    expect(empty.status).toBe(405);
    expect(errorOf(empty)).toEqual({ code: 'MethodNotAllowed', message: 'HTTP PUT not allowed' });
    const unknown = await raw(`${base}/nothing/here?api-version=7.6`, { headers: { authorization: `Bearer ${token}` } });
    expect(unknown.status).toBe(404);
    expect(typeof errorOf(unknown).code).toBe('string');
  });

  it('rejects maxresults outside 1-25 and a forged $skiptoken', async () => {
    for (const q of ['maxresults=0', 'maxresults=26', 'maxresults=abc', '$skiptoken=%%%']) {
      const res = await raw(`${base}/secrets?api-version=7.6&${q}`, { headers: { authorization: `Bearer ${token}` } });
      expect([q, res.status, errorOf(res).code]).toEqual([q, 400, 'BadParameter']);
    }
  });

  it('rejects an unknown vault host with 404', async () => {
    const res = await raw(`https://no-such-vault-${suffix()}.vault.localhost:${new URL(base).port}/secrets?api-version=7.6`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(404);
    expect(errorOf(res).code).toBe('VaultNotFound');
  });
});
