import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { CONFIG, type ConfigOf } from '#libs/platform';
import { IdentityRepository, isGuid, type ApplicationRow, type PrincipalRow, type SignInUserRow } from '../adapters/persistence/identity.repository.js';
import { SignInRepository } from '../adapters/persistence/sign-in.repository.js';
import type { identitySchema } from '../config/identity.config.js';
import { verifyPassword } from './password.js';
import { AadError } from './aad-error.js';
import { FIRST_PARTY_CLIENTS, firstPartyClient } from './first-party-clients.js';
import { TokenService, type IssuedToken } from './token.service.js';

type IdentityConfig = ConfigOf<typeof identitySchema>;
type Form = Record<string, string | undefined>;

/** What a user-token grant answers: MSAL's token response fields. */
export type UserTokens = {
  readonly issued: IssuedToken;
  readonly scope: string;
  readonly idToken?: string;
  readonly refreshToken?: string;
  /** base64url `{"uid","utid"}`: MSAL's home account id. */
  readonly clientInfo: string;
};

/** The parameters of an authorization request, once checked. */
export type AuthorizationRequest = {
  readonly tenantId: string;
  readonly clientId: string;
  readonly redirectUri: string;
  readonly scope: string;
  readonly state?: string;
  readonly nonce?: string;
  readonly codeChallenge?: string;
  readonly responseMode: 'query' | 'fragment';
};

const OIDC_SCOPES = ['openid', 'profile', 'offline_access', 'email'];
const CODE_LIFETIME_MS = 10 * 60_000;
const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ23456789';

export const sha256 = (s: string): string => createHash('sha256').update(s).digest('base64url');

/** A live sign-in session: its user, its public id (for audit records) and when the user signed in. */
export type ResumedSession = { readonly user: PrincipalRow; readonly sessionId: string; readonly signedInAt: Date };
/** A session cookie that does not sign anyone in, and why (`SessionUnknown`, `SessionExpired`, `UserDisabled`, …). */
export type RefusedSession = { readonly refused: string; readonly sessionId?: string; readonly user?: PrincipalRow };

/** Session cookies are 32 random bytes, base64url. */
const SESSION_COOKIE_FORMAT = /^[A-Za-z0-9_-]{43}$/;

/** Thrown for a refused sign-in (wrong password, throttled, unknown user): the page shows `message`, the audit record `reason`. */
export class SignInRefused extends Error {
  constructor(
    readonly aadsts: number,
    message: string,
    readonly reason: string,
    readonly user?: PrincipalRow,
  ) {
    super(`AADSTS${aadsts}: ${message}`);
    this.name = 'SignInRefused';
  }
}

/**
 * Interactive sign-in (Microsoft Entra ID's v2 endpoints as MSAL uses them): users' passwords
 * (throttled per user and per address), public clients and their redirect URIs, authorization
 * codes with PKCE, device codes, and rotating refresh tokens whose reuse revokes their family.
 */
@Injectable()
export class SignInService {
  constructor(
    @Inject(CONFIG) private readonly config: IdentityConfig,
    private readonly repo: IdentityRepository,
    private readonly grants: SignInRepository,
    private readonly tokens: TokenService,
  ) {}

  // ---- users ---------------------------------------------------------------------------------

  /**
   * Checks a user's password; throttled per user and per address. The failure counters live in
   * PostgreSQL (`sign_in_failures`): every identity instance sees them and a restart keeps them.
   * Throws SignInRefused.
   */
  async authenticate(tenantId: string, username: string, password: string, address: string): Promise<SignInUserRow> {
    const name = username.trim();
    if (name === '' || password === '') throw new SignInRefused(900144, 'Enter your user name and password.', 'CredentialsMissing');
    const userKey = `user:${tenantId}:${name.toLowerCase()}`;
    const addressKey = `ip:${address}`;
    const windowSeconds = this.config.SIGN_IN_LOCKOUT_SECONDS;
    const [user, counts] = await Promise.all([this.repo.userForSignIn(tenantId, name), this.grants.failureCounts([userKey, addressKey], windowSeconds)]);
    if ((counts.get(userKey) ?? 0) >= this.config.SIGN_IN_MAX_FAILURES_PER_USER || (counts.get(addressKey) ?? 0) >= this.config.SIGN_IN_MAX_FAILURES_PER_ADDRESS) {
      throw new SignInRefused(50053, "You've tried to sign in too many times with an incorrect user ID or password.", 'SignInThrottled', user);
    }
    const ok = await verifyPassword(password, user?.password_hash ?? undefined);
    if (!user || !ok) {
      await this.grants.recordFailure([userKey, addressKey], windowSeconds);
      throw new SignInRefused(50126, 'Error validating credentials due to invalid username or password.', user ? 'PasswordInvalid' : 'UserUnknown', user);
    }
    if (!user.enabled) throw new SignInRefused(50057, 'The user account is disabled.', 'UserDisabled', user);
    if ((counts.get(userKey) ?? 0) > 0) await this.grants.clearFailures(userKey);
    return user;
  }

  // ---- sign-in sessions ----------------------------------------------------------------------

  /** Starts a session for a user who just signed in with their password: the cookie value (only its hash is stored) and the session's id. */
  async startSession(tenantId: string, user: SignInUserRow): Promise<{ cookie: string; sessionId: string; maxAgeSeconds: number }> {
    const cookie = randomBytes(32).toString('base64url');
    const sessionId = randomUUID();
    const maxAgeSeconds = this.config.SIGN_IN_SESSION_LIFETIME_SECONDS;
    await this.grants.insertSession({
      cookie_hash: sha256(cookie),
      session_id: sessionId,
      tenant_id: tenantId,
      object_id: user.object_id,
      password_set_at: user.password_set_at,
      expires_at: new Date(Date.now() + maxAgeSeconds * 1000),
    });
    return { cookie, sessionId, maxAgeSeconds };
  }

  /**
   * The user a session cookie signs in to this tenant, or why it does not: unknown or malformed
   * (tampered, or from another deployment), another tenant's, expired, signed out or revoked,
   * the user disabled, or their password changed since.
   */
  async resumeSession(tenantId: string, cookie: string): Promise<ResumedSession | RefusedSession> {
    if (!SESSION_COOKIE_FORMAT.test(cookie)) return { refused: 'SessionMalformed' };
    const row = await this.grants.session(sha256(cookie));
    if (!row) return { refused: 'SessionUnknown' };
    const user = await this.repo.principalById(row.object_id);
    const who = { sessionId: row.session_id, ...(user ? { user } : {}) };
    if (row.tenant_id !== tenantId) return { refused: 'SessionOtherTenant', ...who };
    if (row.revoked_at) return { refused: `SessionRevoked:${row.revoked_reason ?? 'unknown'}`, ...who };
    if (row.expires_at.getTime() <= Date.now()) return { refused: 'SessionExpired', ...who };
    if (!user || !row.user_enabled || !user.enabled) return { refused: 'UserDisabled', ...who };
    if (!row.password_current) return { refused: 'PasswordChanged', ...who };
    return { user, sessionId: row.session_id, signedInAt: row.created_at };
  }

  /** Ends the session a cookie names (sign-out); its id when it was live. */
  async endSession(cookie: string, reason: string): Promise<string | undefined> {
    return SESSION_COOKIE_FORMAT.test(cookie) ? this.grants.endSession(sha256(cookie), reason) : undefined;
  }

  // ---- clients -------------------------------------------------------------------------------

  async publicClient(tenantId: string, clientId: string | undefined): Promise<ApplicationRow> {
    if (!clientId) throw new AadError(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'client_id'.", 'ClientIdMissing');
    const app = isGuid(clientId) ? ((await this.repo.application(tenantId, clientId.toLowerCase())) ?? firstPartyClient(tenantId, clientId)) : undefined;
    if (!app || !app.public_client) {
      throw new AadError(400, 'unauthorized_client', 700016, `Application with identifier '${clientId.slice(0, 64)}' was not found in the directory '${tenantId}'.`, 'ClientUnknown');
    }
    return app;
  }

  /** Every client users of a tenant sign in to: its public client registrations and the first-party clients. */
  async clientsOf(tenantId: string): Promise<ApplicationRow[]> {
    const registered = (await this.repo.applications(tenantId)).filter((a) => a.public_client);
    return [...registered, ...FIRST_PARTY_CLIENTS.flatMap((c) => firstPartyClient(tenantId, c.appId) ?? [])];
  }

  /** The resource of a scope list; OpenID-only requests get a token for identity's own API. */
  resourceOf(scope: string): string {
    const rest = scope.split(/\s+/).filter((s) => s && !OIDC_SCOPES.includes(s));
    return rest.length === 0 ? this.tokens.checkResource(`https://identity.${this.config.KEYLEDGER_DOMAIN}`) : this.tokens.resourceFromScope(scope);
  }

  // ---- authorization code --------------------------------------------------------------------

  async issueCode(request: AuthorizationRequest, user: PrincipalRow): Promise<string> {
    const code = randomBytes(32).toString('base64url');
    await this.grants.insertCode({
      code_hash: sha256(code),
      tenant_id: request.tenantId,
      client_id: request.clientId,
      object_id: user.object_id,
      redirect_uri: request.redirectUri,
      scope: request.scope,
      nonce: request.nonce ?? null,
      code_challenge: request.codeChallenge ?? null,
      expires_at: new Date(Date.now() + CODE_LIFETIME_MS),
    });
    return code;
  }

  /** `grant_type=authorization_code`: once, by the client it was issued to, with its redirect URI and PKCE verifier. */
  async redeemCode(tenantId: string, form: Form): Promise<UserTokens> {
    const app = await this.publicClient(tenantId, form.client_id);
    const code = required(form, 'code');
    const redirectUri = required(form, 'redirect_uri');
    const familyId = randomUUID();
    const row = await this.grants.redeemCode(sha256(code), familyId);
    if (!row) {
      const seen = await this.grants.code(sha256(code));
      if (seen?.family_id) {
        // A replayed code: whatever was issued from it is revoked too (RFC 6749 §4.1.2).
        await this.grants.revokeFamily(seen.family_id);
        throw new AadError(400, 'invalid_grant', 54005, 'OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.', 'AuthorizationCodeReused');
      }
      throw new AadError(400, 'invalid_grant', 70000, "The provided value for the 'code' parameter is not valid.", 'AuthorizationCodeUnknown');
    }
    if (row.tenant_id !== tenantId || row.client_id !== app.app_id) {
      throw new AadError(400, 'invalid_grant', 70000, "The provided value for the 'code' parameter is not valid. The code was issued to a different client or tenant.", 'AuthorizationCodeClientMismatch');
    }
    if (row.expires_at.getTime() < Date.now()) throw new AadError(400, 'invalid_grant', 70008, 'The provided authorization code or refresh token has expired due to inactivity.', 'AuthorizationCodeExpired');
    if (row.redirect_uri !== redirectUri) {
      throw new AadError(400, 'invalid_grant', 50011, `The redirect URI '${redirectUri.slice(0, 200)}' specified in the request does not match the redirect URI of the authorization request.`, 'RedirectUriMismatch');
    }
    if (row.code_challenge !== null) {
      const verifier = form.code_verifier;
      if (!verifier) throw new AadError(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'code_verifier'.", 'CodeVerifierMissing');
      if (!equal(sha256(verifier), row.code_challenge)) {
        throw new AadError(400, 'invalid_grant', 501481, 'The Code_Verifier does not match the code_challenge supplied in the authorization request.', 'CodeVerifierMismatch');
      }
    }
    const user = await this.activeUser(row.object_id);
    return this.issue(user, tenantId, app.app_id, form.scope || row.scope, row.nonce, familyId);
  }

  // ---- device code ---------------------------------------------------------------------------

  async startDeviceFlow(tenantId: string, form: Form): Promise<{ user_code: string; device_code: string; verification_uri: string; expires_in: number; interval: number; message: string }> {
    const app = await this.publicClient(tenantId, form.client_id);
    const scope = normalizeScope(form.scope);
    this.resourceOf(scope);
    const deviceCode = randomBytes(32).toString('base64url');
    const interval = this.config.DEVICE_CODE_INTERVAL_SECONDS;
    const lifetime = this.config.DEVICE_CODE_LIFETIME_SECONDS;
    for (let attempt = 0; attempt < 5; attempt++) {
      const userCode = [...randomBytes(9)].map((b) => USER_CODE_ALPHABET[b % USER_CODE_ALPHABET.length]).join('');
      const stored = await this.grants.insertDeviceCode({
        device_code_hash: sha256(deviceCode),
        user_code: userCode,
        tenant_id: tenantId,
        client_id: app.app_id,
        scope,
        interval_seconds: interval,
        expires_at: new Date(Date.now() + lifetime * 1000),
      });
      if (stored) {
        const uri = this.verificationUri();
        return {
          user_code: userCode,
          device_code: deviceCode,
          verification_uri: uri,
          expires_in: lifetime,
          interval,
          message: `To sign in, use a web browser to open the page ${uri} and enter the code ${userCode} to authenticate.`,
        };
      }
    }
    throw new Error('no free user code');
  }

  verificationUri(): string {
    return `${this.config.IDENTITY_PUBLIC_URL}/devicelogin`;
  }

  /** The client a user code asks for (the verification page names it); undefined when unknown, expired or used. */
  async pendingDevice(userCode: string): Promise<{ tenantId: string; app: ApplicationRow } | undefined> {
    const row = await this.grants.pendingDeviceCode(normalizeUserCode(userCode));
    if (!row) return undefined;
    const app = (await this.repo.application(row.tenant_id, row.client_id)) ?? firstPartyClient(row.tenant_id, row.client_id);
    return app ? { tenantId: row.tenant_id, app } : undefined;
  }

  async approveDevice(userCode: string, user: PrincipalRow): Promise<boolean> {
    return this.grants.approveDeviceCode(normalizeUserCode(userCode), user.object_id);
  }

  /** `grant_type=urn:ietf:params:oauth:grant-type:device_code`: pending, slow down, expired, or the tokens (once). */
  async pollDevice(tenantId: string, form: Form): Promise<UserTokens> {
    const app = await this.publicClient(tenantId, form.client_id);
    const deviceCode = required(form, 'device_code');
    const row = await this.grants.pollDeviceCode(sha256(deviceCode));
    if (!row || row.tenant_id !== tenantId || row.client_id !== app.app_id) {
      throw new AadError(400, 'invalid_grant', 70000, "The provided value for the input parameter 'device_code' is not valid.", 'DeviceCodeUnknown');
    }
    if (row.redeemed_at) throw new AadError(400, 'invalid_grant', 54005, 'The device code was already redeemed.', 'DeviceCodeReused');
    if (row.expires_at.getTime() < Date.now()) throw new AadError(400, 'expired_token', 70019, 'Verification code expired.', 'DeviceCodeExpired');
    if (!row.approved_at || !row.object_id) {
      // MSAL waits `interval` between polls; anything much faster is told to slow down (RFC 8628 §3.5).
      if (row.last_poll_at && Date.now() - row.last_poll_at.getTime() < (row.interval_seconds * 1000) / 2) {
        throw new AadError(400, 'slow_down', 70016, 'OAuth 2.0 device flow error. The client is polling too quickly; increase the interval.', 'DeviceCodeSlowDown');
      }
      throw new AadError(400, 'authorization_pending', 70016, 'OAuth 2.0 device flow error. Authorization is pending. Continue polling.', 'DeviceCodePending');
    }
    if (!(await this.grants.redeemDeviceCode(sha256(deviceCode)))) throw new AadError(400, 'invalid_grant', 54005, 'The device code was already redeemed.', 'DeviceCodeReused');
    const user = await this.activeUser(row.object_id);
    return this.issue(user, tenantId, app.app_id, form.scope || row.scope, null, randomUUID());
  }

  // ---- refresh tokens ------------------------------------------------------------------------

  /** `grant_type=refresh_token`: rotates the token; a rotated or revoked one presented again revokes its whole family. */
  async refresh(tenantId: string, form: Form): Promise<UserTokens> {
    const app = await this.publicClient(tenantId, form.client_id);
    const token = required(form, 'refresh_token');
    const hash = sha256(token);
    const row = await this.grants.refreshToken(hash);
    if (!row || row.tenant_id !== tenantId || row.client_id !== app.app_id) {
      throw new AadError(400, 'invalid_grant', 9002313, "Invalid request. The provided value for the 'refresh_token' is not valid.", 'RefreshTokenUnknown');
    }
    if (row.revoked_at) throw new AadError(400, 'invalid_grant', 50173, 'The provided grant has expired due to it being revoked, a fresh auth token is needed.', 'RefreshTokenRevoked');
    if (row.expires_at.getTime() < Date.now()) throw new AadError(400, 'invalid_grant', 700082, 'The refresh token has expired due to inactivity.', 'RefreshTokenExpired');
    if (!(await this.grants.rotateRefreshToken(hash))) {
      const revoked = await this.grants.revokeFamily(row.family_id);
      throw new AadError(400, 'invalid_grant', 50173, 'The provided grant has expired due to it being revoked, a fresh auth token is needed.', `RefreshTokenReuse:familyRevoked=${revoked}`);
    }
    const user = await this.activeUser(row.object_id);
    return this.issue(user, tenantId, app.app_id, normalizeScope(form.scope || row.scope), null, row.family_id);
  }

  /** Signs a user out everywhere: every refresh token revoked and every sign-in session ended. */
  async revokeSessions(objectId: string, reason: string): Promise<{ refreshTokens: number; signInSessions: number }> {
    const [refreshTokens, signInSessions] = await Promise.all([this.grants.revokeUser(objectId), this.grants.endUserSessions(objectId, reason)]);
    return { refreshTokens, signInSessions };
  }

  // ---- issuing -------------------------------------------------------------------------------

  private async activeUser(objectId: string): Promise<PrincipalRow> {
    const user = await this.repo.principalById(objectId);
    if (!user || !user.enabled) throw new AadError(400, 'invalid_grant', 50057, 'The user account is disabled.', 'UserDisabled');
    return user;
  }

  private async issue(user: PrincipalRow, tenantId: string, clientId: string, scope: string, nonce: string | null, familyId: string): Promise<UserTokens> {
    const scopes = normalizeScope(scope);
    const issued = await this.tokens.forSignedInUser(user, tenantId, this.resourceOf(scopes), clientId);
    const list = scopes.split(' ');
    let refreshToken: string | undefined;
    if (list.includes('offline_access')) {
      refreshToken = randomBytes(48).toString('base64url');
      await this.grants.insertRefreshToken({
        token_hash: sha256(refreshToken),
        family_id: familyId,
        tenant_id: tenantId,
        client_id: clientId,
        object_id: user.object_id,
        scope: scopes,
        expires_at: new Date(Date.now() + this.config.REFRESH_TOKEN_LIFETIME_DAYS * 86_400_000),
      });
    }
    return {
      issued,
      scope: scopes,
      ...(list.includes('openid') ? { idToken: await this.tokens.idToken(user, tenantId, clientId, nonce) } : {}),
      ...(refreshToken ? { refreshToken } : {}),
      clientInfo: Buffer.from(JSON.stringify({ uid: user.object_id, utid: tenantId })).toString('base64url'),
    };
  }
}

function required(form: Form, name: string): string {
  const value = form[name];
  if (!value) throw new AadError(400, 'invalid_request', 900144, `The request body must contain the following parameter: '${name}'.`, `${name}Missing`);
  return value;
}

/** Space-separated, de-duplicated; `openid profile offline_access` kept as given. */
export function normalizeScope(scope: string | undefined): string {
  const list = [...new Set((scope ?? '').split(/\s+/).filter(Boolean))];
  if (list.length === 0) throw new AadError(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'scope'.", 'ScopeMissing');
  return list.join(' ');
}

export function normalizeUserCode(code: string): string {
  return code.toUpperCase().replace(/[\s-]/g, '').slice(0, 32);
}

function equal(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
