import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { AuthorizationCodeCredential, DeviceCodeCredential, type DeviceCodeInfo } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import { AUTHORITY, Browser, TENANT, aad, claims, signInRecords, token } from './sign-in.support.js';
import {
  CA,
  assignRole,
  closeDb,
  createVault,
  db,
  dropVault,
  eventually,
  identityAdmin,
  installLocalhostDns,
  raw,
  secretClient,
  suffix,
  vaultUrl,
  type RawResponse,
} from '../vault/vault-e2e.support.js';

// Interactive sign-in through the real clients: @azure/identity's DeviceCodeCredential and
// AuthorizationCodeCredential (the test plays the browser over HTTP), then the token against
// the vault; and the AAD errors of every bad input, with nothing issued.
jest.setTimeout(90_000);

const REDIRECT = 'http://localhost:53999/callback';

describe('interactive sign-in (authorization code + PKCE, device code, refresh tokens)', () => {
  let vault: string;
  let user: { objectId: string; displayName: string; password: string };
  let clientId: string;

  beforeAll(async () => {
    installLocalhostDns();
    vault = await createVault('e2e-signin');
    await secretClient(vaultUrl(vault)).setSecret('greeting', 'hello-signed-in-user');
    const u = await identityAdmin('/admin/principals', 'POST', { displayName: `alice-${suffix()}`, kind: 'user' });
    expect(u.status).toBe(201);
    user = u.json as typeof user;
    expect(user.password).toMatch(/^[A-Za-z0-9]{5}(-[A-Za-z0-9]{5}){3}$/);
    const app = await identityAdmin('/admin/applications', 'POST', { displayName: `console-${suffix()}`, publicClient: true, redirectUris: [REDIRECT] });
    expect(app.status).toBe(201);
    clientId = (app.json as { appId: string }).appId;
    await assignRole(user.objectId, 'Key Vault Secrets User', `/vaults/${vault}`);
  });

  afterAll(async () => {
    await dropVault(vault);
    await closeDb();
  });

  /** Plays the browser through /authorize: the sign-in page, then the redirect with the code. */
  async function authorize(extra: Record<string, string>, password = user.password): Promise<{ page: RawResponse; signedIn: RawResponse }> {
    const browser = new Browser();
    const q = new URLSearchParams({ client_id: clientId, response_type: 'code', redirect_uri: REDIRECT, scope: 'https://vault.localhost/.default openid profile offline_access', state: 'st-1', ...extra });
    const page = await browser.request(`${AUTHORITY}/${TENANT}/oauth2/v2.0/authorize?${q}`);
    expect(page.status).toBe(200);
    const signedIn = await browser.request(`${AUTHORITY}/${TENANT}/oauth2/v2.0/authorize`, { method: 'POST', form: { ctx: Browser.ctxOf(page), username: user.displayName, password } });
    return { page, signedIn };
  }
  const codeOf = (r: RawResponse): string => {
    expect(r.status).toBe(302);
    const location = new URL(String(r.headers.location));
    expect(`${location.origin}${location.pathname}`).toBe(REDIRECT);
    expect(location.searchParams.get('state')).toBe('st-1');
    return location.searchParams.get('code') ?? '';
  };

  async function enterDeviceCode(userCode: string, verificationUri: string, password = user.password): Promise<RawResponse> {
    const browser = new Browser();
    const page = await browser.request(verificationUri);
    return browser.request(verificationUri, { method: 'POST', form: { ctx: Browser.ctxOf(page), otc: userCode, username: user.displayName, password } });
  }

  it('the discovery document lists the interactive endpoints', async () => {
    const res = await raw(`${AUTHORITY}/${TENANT}/v2.0/.well-known/openid-configuration`);
    expect(res.json).toMatchObject({
      authorization_endpoint: `${AUTHORITY}/${TENANT}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${AUTHORITY}/${TENANT}/oauth2/v2.0/devicecode`,
      code_challenge_methods_supported: ['S256'],
      grant_types_supported: expect.arrayContaining(['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code']),
    });
  });

  it('DeviceCodeCredential: the user enters the code on the verification page, the SDK gets a user token and reads a secret', async () => {
    let entered: Promise<RawResponse> | undefined;
    const credential = new DeviceCodeCredential({
      tenantId: TENANT,
      clientId,
      authorityHost: AUTHORITY,
      disableInstanceDiscovery: true,
      tlsOptions: { ca: CA.toString() },
      userPromptCallback: (info: DeviceCodeInfo) => {
        expect(info.message).toContain(info.userCode);
        entered = enterDeviceCode(info.userCode, info.verificationUri);
      },
    });
    const t = await credential.getToken('https://vault.localhost/.default');
    const page = await entered!;
    expect(page.status).toBe(200);
    expect(page.text).toContain('You have signed in');
    expect(claims(t.token)).toMatchObject({ oid: user.objectId, tid: TENANT, appid: clientId, idtyp: 'user', upn: user.displayName, aud: 'https://vault.localhost' });
    // The vault's challenge names the resource with its port: MSAL redeems its refresh token for it.
    const client = new SecretClient(vaultUrl(vault), credential, { tlsOptions: { ca: CA.toString() }, retryOptions: { maxRetries: 0 } });
    const secret = await eventually(async () => (await client.getSecret('greeting').catch(() => undefined))?.value, 10_000, 200);
    expect(secret).toBe('hello-signed-in-user');
    const records = await signInRecords(user.displayName);
    expect(records.some((r) => r.resultType === 'Success' && r.identity.oid === user.objectId && r.properties.extra?.flow === 'device_code')).toBe(true);
  });

  it('AuthorizationCodeCredential: the code from the sign-in page, redeemed by the SDK, reads a secret', async () => {
    const { page, signedIn } = await authorize({});
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    const code = codeOf(signedIn);
    const credential = new AuthorizationCodeCredential(TENANT, clientId, code, REDIRECT, { authorityHost: AUTHORITY, disableInstanceDiscovery: true, tlsOptions: { ca: CA.toString() } });
    const client = new SecretClient(vaultUrl(vault), credential, { tlsOptions: { ca: CA.toString() }, retryOptions: { maxRetries: 0 } });
    expect((await client.getSecret('greeting')).value).toBe('hello-signed-in-user');
  });

  it('PKCE: a tampered verifier is refused (AADSTS501481) and the code is spent; the right one gets an id_token with the nonce', async () => {
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const pkce = { code_challenge: challenge, code_challenge_method: 'S256' };
    const tampered = codeOf((await authorize(pkce)).signedIn);
    const refused = await token({ grant_type: 'authorization_code', client_id: clientId, code: tampered, redirect_uri: REDIRECT, code_verifier: `${verifier.slice(0, -1)}${verifier.endsWith('A') ? 'B' : 'A'}`, scope: 'https://vault.localhost/.default openid' });
    expect([refused.status, aad(refused).error, aad(refused).error_codes, aad(refused).access_token]).toEqual([400, 'invalid_grant', [501481], undefined]);
    expect(aad(refused).error_description).toMatch(/^AADSTS501481: /);

    const nonce = `n-${suffix()}`;
    const code = codeOf((await authorize({ ...pkce, nonce })).signedIn);
    const missing = await token({ grant_type: 'authorization_code', client_id: clientId, code: codeOf((await authorize(pkce)).signedIn), redirect_uri: REDIRECT, scope: 'openid' });
    expect([missing.status, aad(missing).error, aad(missing).access_token]).toEqual([400, 'invalid_request', undefined]);
    const ok = await token({ grant_type: 'authorization_code', client_id: clientId, code, redirect_uri: REDIRECT, code_verifier: verifier, scope: 'https://vault.localhost/.default openid profile offline_access' });
    expect(ok.status).toBe(200);
    expect(claims(aad(ok).id_token!)).toMatchObject({ aud: clientId, oid: user.objectId, tid: TENANT, preferred_username: user.displayName, nonce });
    expect(ok.json).toMatchObject({ token_type: 'Bearer', expires_in: expect.any(Number), client_info: expect.any(String), refresh_token: expect.any(String) });

    // The same code again: AADSTS54005, and the refresh token issued from it is revoked.
    const reused = await token({ grant_type: 'authorization_code', client_id: clientId, code, redirect_uri: REDIRECT, code_verifier: verifier, scope: 'openid' });
    expect([reused.status, aad(reused).error, aad(reused).error_codes, aad(reused).access_token]).toEqual([400, 'invalid_grant', [54005], undefined]);
    const afterReuse = await token({ grant_type: 'refresh_token', client_id: clientId, refresh_token: aad(ok).refresh_token!, scope: 'https://vault.localhost/.default offline_access' });
    expect([afterReuse.status, aad(afterReuse).error, aad(afterReuse).error_codes]).toEqual([400, 'invalid_grant', [50173]]);
  });

  it('refresh tokens rotate; presenting a rotated one revokes the whole family', async () => {
    const code = codeOf((await authorize({})).signedIn);
    const first = await token({ grant_type: 'authorization_code', client_id: clientId, code, redirect_uri: REDIRECT, scope: 'https://vault.localhost/.default openid offline_access' });
    const rt1 = aad(first).refresh_token!;
    const second = await token({ grant_type: 'refresh_token', client_id: clientId, refresh_token: rt1, scope: 'https://audit.localhost/.default offline_access' });
    expect(second.status).toBe(200);
    expect(claims(aad(second).access_token!)).toMatchObject({ aud: 'https://audit.localhost', oid: user.objectId });
    const rt2 = aad(second).refresh_token!;
    expect(rt2).not.toBe(rt1);
    const replay = await token({ grant_type: 'refresh_token', client_id: clientId, refresh_token: rt1, scope: 'https://vault.localhost/.default offline_access' });
    expect([replay.status, aad(replay).error, aad(replay).error_codes, aad(replay).access_token]).toEqual([400, 'invalid_grant', [50173], undefined]);
    const revoked = await token({ grant_type: 'refresh_token', client_id: clientId, refresh_token: rt2, scope: 'https://vault.localhost/.default offline_access' });
    expect([revoked.status, aad(revoked).error, aad(revoked).access_token]).toEqual([400, 'invalid_grant', undefined]);
    const rows = await db().query<{ reason: string }>(
      `SELECT payload->'data'->>'resultDescription' AS reason FROM identity.outbox WHERE topic = 'keyledger.audit.records.v1' AND payload->'data'->'properties'->'extra'->>'grantType' = 'refresh_token' AND payload->'data'->>'resultDescription' LIKE 'RefreshTokenReuse%' AND payload->'data'->'identity'->>'appid' = $1`,
      [clientId],
    );
    expect(rows.rows.length).toBeGreaterThanOrEqual(1);
  });

  it('device code: pending, then slow_down when polled too fast, then expired_token; nothing issued', async () => {
    const started = await raw(`${AUTHORITY}/${TENANT}/oauth2/v2.0/devicecode`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: clientId, scope: 'https://vault.localhost/.default offline_access openid' }).toString(),
    });
    expect(started.status).toBe(200);
    const dc = started.json as { device_code: string; user_code: string; interval: number; expires_in: number; verification_uri: string };
    expect(dc).toMatchObject({ interval: expect.any(Number), expires_in: expect.any(Number), verification_uri: `${AUTHORITY}/devicelogin` });
    const poll = () => token({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', client_id: clientId, device_code: dc.device_code });
    const pending = await poll();
    expect([pending.status, aad(pending).error, aad(pending).error_codes]).toEqual([400, 'authorization_pending', [70016]]);
    const fast = await poll();
    expect([fast.status, aad(fast).error, aad(fast).access_token]).toEqual([400, 'slow_down', undefined]);
    await db().query(`UPDATE identity.device_codes SET expires_at = now() - interval '1 second' WHERE user_code = $1`, [dc.user_code]);
    const expired = await poll();
    expect([expired.status, aad(expired).error, aad(expired).error_codes, aad(expired).access_token]).toEqual([400, 'expired_token', [70019], undefined]);
    // The verification page no longer accepts the code.
    const late = await enterDeviceCode(dc.user_code, dc.verification_uri);
    expect([late.status, late.text.includes('AADSTS70000')]).toEqual([400, true]);
  });

  it('a redirect URI that is not registered is an error page (AADSTS50011), never a redirect', async () => {
    const q = new URLSearchParams({ client_id: clientId, response_type: 'code', redirect_uri: 'https://evil.example/cb', scope: 'openid', state: 's' });
    const res = await raw(`${AUTHORITY}/${TENANT}/oauth2/v2.0/authorize?${q}`);
    expect([res.status, res.headers.location, res.text.includes('AADSTS50011')]).toEqual([400, undefined, true]);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
  });

  it('a sign-in form posted without its CSRF cookie is refused; nothing issued', async () => {
    const page = await new Browser().request(`${AUTHORITY}/${TENANT}/oauth2/v2.0/authorize?${new URLSearchParams({ client_id: clientId, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid' })}`);
    const res = await raw(`${AUTHORITY}/${TENANT}/oauth2/v2.0/authorize`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ctx: Browser.ctxOf(page), username: user.displayName, password: user.password }).toString(),
    });
    expect([res.status, res.headers.location]).toEqual([400, undefined]);
  });

  it('wrong passwords: AADSTS50126, then throttled (AADSTS50053) even with the right one; each attempt one audit record without the password', async () => {
    const u = await identityAdmin('/admin/principals', 'POST', { displayName: `mallory-${suffix()}`, kind: 'user' });
    const victim = u.json as { displayName: string; password: string };
    const browser = new Browser();
    const url = `${AUTHORITY}/${TENANT}/oauth2/v2.0/authorize`;
    let page = await browser.request(`${url}?${new URLSearchParams({ client_id: clientId, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid' })}`);
    for (let i = 0; i < 5; i++) {
      page = await browser.request(url, { method: 'POST', form: { ctx: Browser.ctxOf(page), username: victim.displayName, password: `wrong-${i}` } });
      expect([page.status, page.headers.location, page.text.includes('AADSTS50126')]).toEqual([400, undefined, true]);
    }
    page = await browser.request(url, { method: 'POST', form: { ctx: Browser.ctxOf(page), username: victim.displayName, password: victim.password } });
    expect([page.status, page.headers.location, page.text.includes('AADSTS50053')]).toEqual([400, undefined, true]);
    const records = await signInRecords(victim.displayName);
    expect(records.map((r) => `${r.resultType}:${r.resultDescription}`)).toEqual([...Array(5).fill('Failure:PasswordInvalid'), 'Failure:SignInThrottled']);
    const text = JSON.stringify(records);
    expect([text.includes(victim.password), text.includes('wrong-0')]).toEqual([false, false]);
  });
});
