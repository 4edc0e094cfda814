import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { AuthorizationCodeCredential, DeviceCodeCredential, type DeviceCodeInfo } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import { AUTHORITY, Browser, TENANT, aad, claims, signInRecords, token } from './sign-in.support.js';
import { CA, assignRole, closeDb, createVault, db, dropVault, identityAdmin, installLocalhostDns, secretClient, suffix, vaultUrl, type RawResponse } from '../vault/vault-e2e.support.js';

// The sign-in session (SSO cookie) of the authorization endpoint: a second /authorize in the
// session issues a code without the password (redeemed by @azure/identity's
// AuthorizationCodeCredential against the vault), prompt=login asks again, prompt=none without
// a session answers login_required, logout ends it, a disabled user's or a re-passworded user's
// session is refused, and a tampered or foreign cookie is ignored with nothing issued. Also:
// the Azure CLI's first-party client id is known to the tenant (DeviceCodeCredential's default).
jest.setTimeout(90_000);

const REDIRECT = 'http://localhost:53998/callback';
const AUTHORIZE = `${AUTHORITY}/${TENANT}/oauth2/v2.0/authorize`;
const SESSION_COOKIE = '__Secure-keyledger-session';
const AZURE_CLI = '04b07795-8ddb-461a-bbee-02f9e1bf7b46';

type User = { objectId: string; displayName: string; password: string };

describe('sign-in sessions (SSO cookie), logout, first-party clients', () => {
  let vault: string;
  let clientId: string;

  async function newUser(prefix: string): Promise<User> {
    const u = await identityAdmin('/admin/principals', 'POST', { displayName: `${prefix}-${suffix()}`, kind: 'user' });
    expect(u.status).toBe(201);
    const user = u.json as User;
    await assignRole(user.objectId, 'Key Vault Secrets User', `/vaults/${vault}`);
    return user;
  }

  beforeAll(async () => {
    installLocalhostDns();
    vault = await createVault('e2e-sso');
    await secretClient(vaultUrl(vault)).setSecret('greeting', 'hello-again');
    const app = await identityAdmin('/admin/applications', 'POST', { displayName: `sso-${suffix()}`, publicClient: true, redirectUris: [REDIRECT] });
    expect(app.status).toBe(201);
    clientId = (app.json as { appId: string }).appId;
  });

  afterAll(async () => {
    await dropVault(vault);
    await closeDb();
  });

  const query = (extra: Record<string, string> = {}): string =>
    new URLSearchParams({ client_id: clientId, response_type: 'code', redirect_uri: REDIRECT, scope: 'https://vault.localhost/.default openid profile offline_access', state: 'st-2', ...extra }).toString();

  /** The sign-in page, then the password: the code's redirect (and the session cookie). */
  async function signInWithPassword(browser: Browser, user: User, extra: Record<string, string> = {}): Promise<RawResponse> {
    const page = await browser.request(`${AUTHORIZE}?${query(extra)}`);
    expect(page.status).toBe(200);
    return browser.request(AUTHORIZE, { method: 'POST', form: { ctx: Browser.ctxOf(page), username: user.displayName, password: user.password } });
  }
  const codeOf = (r: RawResponse): string => {
    expect([r.status, typeof r.headers.location]).toEqual([302, 'string']);
    const location = new URL(String(r.headers.location));
    expect([`${location.origin}${location.pathname}`, location.searchParams.get('state'), location.searchParams.get('error')]).toEqual([REDIRECT, 'st-2', null]);
    return location.searchParams.get('code') ?? '';
  };
  /** A sign-in page asking for the password: no redirect, nothing issued. */
  const asksPassword = (r: RawResponse): void => {
    expect([r.status, r.headers.location, r.text.includes('name="password"')]).toEqual([200, undefined, true]);
  };
  const readSecret = async (code: string): Promise<string | undefined> => {
    const credential = new AuthorizationCodeCredential(TENANT, clientId, code, REDIRECT, { authorityHost: AUTHORITY, disableInstanceDiscovery: true, tlsOptions: { ca: CA.toString() } });
    const client = new SecretClient(vaultUrl(vault), credential, { tlsOptions: { ca: CA.toString() }, retryOptions: { maxRetries: 0 } });
    return (await client.getSecret('greeting')).value;
  };

  it('a second /authorize in the session issues a code without the password; the SDK redeems it; records name the session, never the cookie or the code', async () => {
    const user = await newUser('sso-alice');
    const browser = new Browser();
    const first = await signInWithPassword(browser, user);
    const firstCode = codeOf(first);
    const session = browser.cookies.get(SESSION_COOKIE);
    expect(session?.path).toBe(`/${TENANT}/`);
    expect(session?.attributes.split('; ')).toEqual(expect.arrayContaining(['Secure', 'HttpOnly', 'SameSite=Lax', expect.stringMatching(/^Max-Age=[1-9][0-9]*$/)]));

    const again = await browser.request(`${AUTHORIZE}?${query()}`);
    const code = codeOf(again);
    expect(code).not.toBe(firstCode);
    expect(await readSecret(code)).toBe('hello-again');
    expect(claims(aad(await token({ grant_type: 'authorization_code', client_id: clientId, code: firstCode, redirect_uri: REDIRECT, scope: 'openid' })).id_token!)).toMatchObject({ oid: user.objectId });

    // prompt=none with the session: a code too (MSAL's silent sign-in).
    codeOf(await browser.request(`${AUTHORIZE}?${query({ prompt: 'none' })}`));

    const records = await signInRecords(user.displayName);
    expect(records.map((r) => `${r.resultType}:${r.properties.extra?.session}`)).toEqual(['Success:created', 'Success:reused', 'Success:reused']);
    const ids = new Set(records.map((r) => r.properties.extra?.sessionId));
    expect([ids.size, [...ids][0]]).toEqual([1, expect.stringMatching(/^[0-9a-f-]{36}$/)]);
    const text = JSON.stringify(records);
    expect([text.includes(session!.value), text.includes(code), text.includes(user.password)]).toEqual([false, false, false]);
    // Stored as a hash (so it survives a restart of identity), never as the cookie.
    const stored = await db().query<{ n: string }>(`SELECT count(*) AS n FROM identity.sign_in_sessions WHERE cookie_hash = $1 AND object_id = $2`, [createHash('sha256').update(session!.value).digest('base64url'), user.objectId]);
    expect(stored.rows[0]?.n).toBe('1');
  });

  it('prompt=login asks for the password in a session, and the new sign-in replaces the session', async () => {
    const user = await newUser('sso-bob');
    const browser = new Browser();
    codeOf(await signInWithPassword(browser, user));
    const before = browser.cookies.get(SESSION_COOKIE)?.value;
    asksPassword(await browser.request(`${AUTHORIZE}?${query({ prompt: 'login' })}`));
    codeOf(await signInWithPassword(browser, user, { prompt: 'login' }));
    expect(browser.cookies.get(SESSION_COOKIE)?.value).not.toBe(before);
    const records = await signInRecords(user.displayName);
    expect(records.map((r) => r.properties.extra?.session)).toEqual(['created', 'created']);
    expect(records[1]?.properties.extra?.replacedSessionId).toBe(records[0]?.properties.extra?.sessionId);
  });

  it("prompt=none without a session: AAD's login_required to the redirect URI, no code", async () => {
    const res = await new Browser().request(`${AUTHORIZE}?${query({ prompt: 'none' })}`);
    expect(res.status).toBe(302);
    const location = new URL(String(res.headers.location));
    expect([`${location.origin}${location.pathname}`, location.searchParams.get('error'), location.searchParams.get('code'), location.searchParams.get('state')]).toEqual([REDIRECT, 'login_required', null, 'st-2']);
    expect(location.searchParams.get('error_description')).toMatch(/^AADSTS50058: /);
  });

  it('logout ends the session (redirect only to a registered post_logout_redirect_uri); the old cookie no longer signs in', async () => {
    const user = await newUser('sso-carol');
    const browser = new Browser();
    codeOf(await signInWithPassword(browser, user));
    const stolen = browser.cookies.get(SESSION_COOKIE)!;

    const out = await browser.request(`${AUTHORITY}/${TENANT}/oauth2/v2.0/logout?${new URLSearchParams({ post_logout_redirect_uri: REDIRECT, client_id: clientId, state: 'bye' })}`);
    expect([out.status, out.headers.location]).toEqual([302, `${REDIRECT}?state=bye`]);
    expect(browser.cookies.has(SESSION_COOKIE)).toBe(false);
    asksPassword(await browser.request(`${AUTHORIZE}?${query()}`));

    // The cookie presented again after sign-out: refused, the password asked, nothing issued.
    const replay = new Browser();
    replay.cookies.set(SESSION_COOKIE, stolen);
    asksPassword(await replay.request(`${AUTHORIZE}?${query()}`));
    const silent = await replay.request(`${AUTHORIZE}?${query({ prompt: 'none' })}`);
    expect(new URL(String(silent.headers.location)).searchParams.get('error')).toBe('login_required');

    // An unregistered post_logout_redirect_uri: signed out, but never redirected there.
    const other = new Browser();
    codeOf(await signInWithPassword(other, user));
    const evil = await other.request(`${AUTHORITY}/${TENANT}/oauth2/v2.0/logout?${new URLSearchParams({ post_logout_redirect_uri: 'https://evil.example/' })}`);
    expect([evil.status, evil.headers.location, evil.text.includes('AADSTS50011')]).toEqual([400, undefined, true]);
    asksPassword(await other.request(`${AUTHORIZE}?${query()}`));

    const signOuts = await signInRecords(user.displayName, ['SignOut']);
    expect(signOuts.map((r) => `${r.resultSignature}:${r.properties.extra?.sessionEnded}:${r.resultDescription ?? ''}`)).toEqual(['302:true:', '400:true:PostLogoutRedirectUriNotRegistered']);
    const refused = (await signInRecords(user.displayName)).filter((r) => r.properties.extra?.session === 'refused');
    expect(refused.map((r) => r.resultDescription)).toEqual(['SessionRevoked:SignOut']);
  });

  it("a disabled user's session is refused; a new password ends the sessions begun with the old one", async () => {
    const dave = await newUser('sso-dave');
    const daveBrowser = new Browser();
    codeOf(await signInWithPassword(daveBrowser, dave));
    for (const reason of ['a\u0000b', 'lone \ud800 surrogate', 'x'.repeat(201)]) {
      const bad = await identityAdmin(`/admin/principals/${dave.objectId}/disable`, 'POST', { reason });
      expect([bad.status, (bad.json as { error?: { code?: string } }).error?.code]).toEqual([400, 'BadParameter']);
    }
    codeOf(await daveBrowser.request(`${AUTHORIZE}?${query()}`));
    const disabled = await identityAdmin(`/admin/principals/${dave.objectId}/disable`, 'POST', { reason: 'e2e' });
    expect([disabled.status, (disabled.json as { revokedSignInSessions: number }).revokedSignInSessions]).toEqual([200, 1]);
    asksPassword(await daveBrowser.request(`${AUTHORIZE}?${query()}`));

    // Disabled directly in the read model too (no revocation): the session check itself refuses.
    const erin = await newUser('sso-erin');
    const erinBrowser = new Browser();
    codeOf(await signInWithPassword(erinBrowser, erin));
    await db().query(`UPDATE identity.principals SET enabled = false WHERE object_id = $1`, [erin.objectId]);
    asksPassword(await erinBrowser.request(`${AUTHORIZE}?${query()}`));
    await db().query(`UPDATE identity.principals SET enabled = true WHERE object_id = $1`, [erin.objectId]);

    const frank = await newUser('sso-frank');
    const frankBrowser = new Browser();
    codeOf(await signInWithPassword(frankBrowser, frank));
    // A new password (set as an event, as `keyledger user reset-password` does, but without the revocation).
    await db().query(`UPDATE identity.user_passwords SET set_at = now() WHERE object_id = $1`, [frank.objectId]);
    asksPassword(await frankBrowser.request(`${AUTHORIZE}?${query()}`));
    expect(frankBrowser.cookies.has(SESSION_COOKIE)).toBe(false);

    const reasons = async (u: User) => (await signInRecords(u.displayName)).filter((r) => r.properties.extra?.session === 'refused').map((r) => r.resultDescription);
    expect(await reasons(dave)).toEqual(['SessionRevoked:UserDisabled']);
    expect(await reasons(erin)).toEqual(['UserDisabled']);
    expect(await reasons(frank)).toEqual(['PasswordChanged']);
  });

  it('a tampered or foreign session cookie is ignored: the password is asked, nothing issued', async () => {
    const user = await newUser('sso-grace');
    const browser = new Browser();
    codeOf(await signInWithPassword(browser, user));
    const real = browser.cookies.get(SESSION_COOKIE)!;
    const flipped = `${real.value.slice(0, -1)}${real.value.endsWith('A') ? 'B' : 'A'}`;
    for (const value of [flipped, randomBytes(32).toString('base64url'), 'x'.repeat(5000), '%00', `${real.value}.extra`]) {
      const forged = new Browser();
      forged.cookies.set(SESSION_COOKIE, { ...real, value });
      asksPassword(await forged.request(`${AUTHORIZE}?${query()}`));
      const silent = await forged.request(`${AUTHORIZE}?${query({ prompt: 'none' })}`);
      expect(new URL(String(silent.headers.location)).searchParams.get('code')).toBeNull();
    }
  });

  it("the Azure CLI's first-party client is known to the tenant: DeviceCodeCredential's default client id signs in and reads a secret; loopback redirect on any port", async () => {
    const user = await newUser('sso-heidi');
    let entered: Promise<RawResponse> | undefined;
    const credential = new DeviceCodeCredential({
      tenantId: TENANT,
      authorityHost: AUTHORITY,
      disableInstanceDiscovery: true,
      tlsOptions: { ca: CA.toString() },
      userPromptCallback: (info: DeviceCodeInfo) => {
        entered = (async () => {
          const b = new Browser();
          const page = await b.request(info.verificationUri);
          return b.request(info.verificationUri, { method: 'POST', form: { ctx: Browser.ctxOf(page), otc: info.userCode, username: user.displayName, password: user.password } });
        })();
      },
    });
    const t = await credential.getToken('https://vault.localhost/.default');
    expect((await entered!).status).toBe(200);
    expect(claims(t.token)).toMatchObject({ appid: AZURE_CLI, oid: user.objectId, idtyp: 'user' });
    const client = new SecretClient(vaultUrl(vault), credential, { tlsOptions: { ca: CA.toString() }, retryOptions: { maxRetries: 0 } });
    expect((await client.getSecret('greeting')).value).toBe('hello-again');

    const page = await new Browser().request(`${AUTHORIZE}?${new URLSearchParams({ client_id: AZURE_CLI, response_type: 'code', redirect_uri: 'http://localhost:41234', scope: 'https://vault.localhost/.default openid' })}`);
    expect([page.status, page.text.includes('Microsoft Azure CLI')]).toEqual([200, true]);
    const wrongHost = await new Browser().request(`${AUTHORIZE}?${new URLSearchParams({ client_id: AZURE_CLI, response_type: 'code', redirect_uri: 'http://evil.example:41234', scope: 'openid' })}`);
    expect([wrongHost.status, wrongHost.headers.location, wrongHost.text.includes('AADSTS50011')]).toEqual([400, undefined, true]);
  });

  it('sign-in failure counters are kept in PostgreSQL (shared by every identity instance, kept across restarts)', async () => {
    const user = await newUser('sso-ivan');
    const browser = new Browser();
    const page = await browser.request(`${AUTHORIZE}?${query()}`);
    const refused = await browser.request(AUTHORIZE, { method: 'POST', form: { ctx: Browser.ctxOf(page), username: user.displayName, password: 'not-the-password' } });
    expect([refused.status, refused.text.includes('AADSTS50126'), browser.cookies.has(SESSION_COOKIE)]).toEqual([400, true, false]);
    const rows = await db().query<{ n: string }>(`SELECT count(*) AS n FROM identity.sign_in_failures WHERE counter = $1`, [`user:${TENANT}:${user.displayName.toLowerCase()}`]);
    expect(rows.rows[0]?.n).toBe('1');
  });
});
