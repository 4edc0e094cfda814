import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { newAuditRecord } from '#libs/contracts';
import type { AuditWriter } from '#libs/eventstore';
import { currentContext } from '#libs/platform';
import type { PrincipalRow } from '../persistence/identity.repository.js';
import { AadError } from '../../application/aad-error.js';
import { redirectUriRegistered } from '../../application/first-party-clients.js';
import { SignInRefused, normalizeScope, type AuthorizationRequest, type SignInService } from '../../application/sign-in.service.js';
import type { TokenService } from '../../application/token.service.js';
import { PAGE_CSP, deviceLoginPage, messagePage, signInPage, signedOutPage } from './sign-in.pages.js';

type Form = Record<string, string | undefined>;
type Query = Record<string, string | undefined>;

const CSRF_COOKIE = '__Host-keyledger-csrf';
/** The sign-in session (SSO) cookie: Secure, HttpOnly, SameSite=Lax, scoped to `/{tenant}/`. */
const SESSION_COOKIE = '__Secure-keyledger-session';
const FORM_LIFETIME_MS = 15 * 60_000;

/** What the sign-in form carries between GET and POST, sealed (HMAC) so it cannot be altered. */
type FormContext = { readonly kind: 'authorize'; readonly request: AuthorizationRequest; readonly csrf: string; readonly exp: number } | { readonly kind: 'device'; readonly csrf: string; readonly exp: number };

/**
 * The interactive endpoints of the v2 authority: `/{tenant}/oauth2/v2.0/authorize` (sign-in page →
 * authorization code), `/{tenant}/oauth2/v2.0/devicecode` and the verification page `/devicelogin`.
 * Forms are CSRF-protected (a `__Host-` SameSite=Strict cookie bound into the sealed form context);
 * every sign-in, accepted or refused, leaves one audit record (never a password, code or token).
 * A sign-in on the authorization page starts a session (a cookie scoped to the tenant's path): a
 * later `/authorize` within its lifetime issues a code without the password unless `prompt=login`
 * (or `select_account`); `/{tenant}/oauth2/v2.0/logout` ends it. Records name a session by its
 * id, never by its cookie.
 */
export function registerSignInRoutes(fastify: FastifyInstance, deps: { signIn: SignInService; tokens: TokenService; audit: AuditWriter }): void {
  const { signIn, tokens, audit } = deps;
  const sealKey = randomBytes(32);

  const seal = (ctx: FormContext): string => {
    const body = Buffer.from(JSON.stringify(ctx)).toString('base64url');
    return `${body}.${createHmac('sha256', sealKey).update(body).digest('base64url')}`;
  };
  const unseal = (value: string | undefined, cookie: string | undefined): FormContext | undefined => {
    const [body, mac] = (value ?? '').split('.');
    if (!body || !mac || !cookie) return undefined;
    const expected = createHmac('sha256', sealKey).update(body).digest('base64url');
    if (!same(mac, expected)) return undefined;
    const ctx = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as FormContext;
    return ctx.exp > Date.now() && same(ctx.csrf, cookie) ? ctx : undefined;
  };
  /** The CSRF cookie of this browser (reused while valid), set on every form page. */
  const csrfOf = (req: FastifyRequest, reply: FastifyReply): string => {
    const existing = cookie(req, CSRF_COOKIE);
    const value = existing && /^[A-Za-z0-9_-]{32}$/.test(existing) ? existing : randomBytes(24).toString('base64url');
    reply.header('set-cookie', `${CSRF_COOKIE}=${value}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=${FORM_LIFETIME_MS / 1000}`);
    return value;
  };
  const html = (reply: FastifyReply, status: number, body: string): FastifyReply =>
    reply
      .code(status)
      .header('content-type', 'text/html; charset=utf-8')
      .header('content-security-policy', PAGE_CSP)
      .header('x-frame-options', 'DENY')
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('cache-control', 'no-store')
      .send(body);

  /** One audit record of a sign-in or interactive request, before the answer. */
  const record = (
    req: FastifyRequest,
    started: number,
    o: { operation: string; status: number; tenant: string; reason?: string; user?: PrincipalRow; clientId?: string; flow: string; username?: string; extra?: Record<string, string> },
  ): Promise<void> => {
    const ctx = currentContext();
    const url = req.url.split('?')[0] ?? req.url;
    return audit.write(
      newAuditRecord({
        tenant: o.tenant,
        source: 'identity',
        resourceId: url,
        operationName: o.operation,
        operationVersion: '2.0',
        resultType: o.status < 400 ? 'Success' : 'Failure',
        resultSignature: String(o.status),
        ...(o.reason ? { resultDescription: o.reason } : {}),
        durationMs: Math.round(performance.now() - started),
        callerIpAddress: req.ip,
        correlationId: ctx?.correlationId ?? '',
        identity: o.user ? { oid: o.user.object_id, tid: o.user.tenant_id, idtyp: 'user', ...(o.clientId ? { appid: o.clientId } : {}) } : o.clientId ? { appid: o.clientId } : {},
        properties: {
          requestUri: url,
          httpMethod: req.method,
          ...(o.reason ? { errorCode: o.reason } : {}),
          extra: { flow: o.flow, ...(o.username !== undefined ? { username: o.username.slice(0, 128) } : {}), ...o.extra },
          ...(req.headers['user-agent'] ? { clientInfo: String(req.headers['user-agent']).slice(0, 200) } : {}),
        },
      }),
    );
  };

  // ---- authorization endpoint ------------------------------------------------------------------

  /** Checks the request; errors before the redirect URI is trusted are pages, after it redirects (AAD's order). */
  const checkAuthorize = async (tenant: string, q: Query): Promise<{ request: AuthorizationRequest; appName: string } | { page: AadError } | { redirect: string; error: AadError }> => {
    let tenantId: string;
    try {
      tenantId = await tokens.resolveTenant(tenant);
    } catch (err) {
      return { page: asAad(err) };
    }
    let app;
    try {
      app = await signIn.publicClient(tenantId, q.client_id);
    } catch (err) {
      return { page: asAad(err) };
    }
    const redirectUri = q.redirect_uri ?? (app.redirect_uris.length === 1 ? app.redirect_uris[0] : undefined);
    if (!redirectUri || !redirectUriRegistered(app.redirect_uris, redirectUri)) {
      return {
        page: new AadError(400, 'invalid_request', 50011, `The redirect URI '${(redirectUri ?? '').slice(0, 200)}' specified in the request does not match the redirect URIs configured for the application '${app.app_id}'.`, 'RedirectUriNotRegistered'),
      };
    }
    const responseMode = q.response_mode ?? 'query';
    const fail = (e: AadError) => ({ redirect: redirectWithError(redirectUri, responseMode === 'fragment' ? 'fragment' : 'query', e, q.state), error: e });
    if (responseMode !== 'query' && responseMode !== 'fragment') return fail(new AadError(400, 'invalid_request', 900144, "The 'response_mode' is 'query' or 'fragment'.", 'ResponseModeUnsupported'));
    if (q.response_type !== 'code') return fail(new AadError(400, 'unsupported_response_type', 700054, "The 'response_type' must be 'code'.", 'ResponseTypeUnsupported'));
    if (q.code_challenge !== undefined) {
      if ((q.code_challenge_method ?? 'plain') !== 'S256') return fail(new AadError(400, 'invalid_request', 5000541, "The 'code_challenge_method' must be 'S256'.", 'CodeChallengeMethodUnsupported'));
      if (!/^[A-Za-z0-9_-]{43}$/.test(q.code_challenge)) return fail(new AadError(400, 'invalid_request', 501491, 'Invalid size of Code_Challenge parameter.', 'CodeChallengeInvalid'));
    }
    let scope: string;
    try {
      scope = normalizeScope(q.scope);
      signIn.resourceOf(scope);
    } catch (err) {
      return fail(asAad(err));
    }
    const within = (v: string | undefined, name: string): AadError | undefined =>
      v !== undefined && (v.length > 2048 || /[\u0000-\u001f]/.test(v)) ? new AadError(400, 'invalid_request', 90014, `The '${name}' parameter is invalid.`, `${name}Invalid`) : undefined;
    const bad = within(q.state, 'state') ?? within(q.nonce, 'nonce') ?? within(q.login_hint, 'login_hint');
    if (q.prompt !== undefined && !PROMPTS.includes(q.prompt)) return fail(new AadError(400, 'invalid_request', 90023, `The 'prompt' parameter is one of ${PROMPTS.join(', ')}.`, 'PromptInvalid'));
    if (bad) return fail(bad);
    return {
      appName: app.display_name,
      request: {
        tenantId,
        clientId: app.app_id,
        redirectUri,
        scope,
        responseMode,
        ...(q.state !== undefined ? { state: q.state } : {}),
        ...(q.nonce !== undefined ? { nonce: q.nonce } : {}),
        ...(q.code_challenge !== undefined ? { codeChallenge: q.code_challenge } : {}),
      },
    };
  };

  fastify.get<{ Params: { tenant: string }; Querystring: Query }>('/:tenant/oauth2/v2.0/authorize', async (req, reply) => {
    const started = performance.now();
    const checked = await checkAuthorize(req.params.tenant, req.query);
    if ('page' in checked || 'redirect' in checked) {
      const e = 'page' in checked ? checked.page : checked.error;
      try {
        await record(req, started, { operation: 'Authorize', status: e.status, tenant: req.params.tenant, reason: e.reason, flow: 'authorization_code', ...(req.query.client_id ? { clientId: req.query.client_id.slice(0, 64) } : {}) });
      } catch {
        return html(reply, 503, messagePage('Sign-in unavailable', 'The audit log is unavailable; try again later.', true));
      }
      if ('page' in checked) return html(reply, 400, messagePage('Sign-in error', e.message, true));
      return reply.code(302).header('cache-control', 'no-store').header('location', checked.redirect).send();
    }
    const request = checked.request;
    const prompt = req.query.prompt;
    const presented = cookie(req, SESSION_COOKIE);
    if (presented !== undefined && !PROMPTS_ASKING.includes(prompt ?? '')) {
      // A session cookie: the user it signs in gets a code without their password.
      try {
        const resumed = await signIn.resumeSession(request.tenantId, presented);
        if (!('refused' in resumed)) {
          const code = await signIn.issueCode(request, resumed.user);
          await record(req, started, { operation: 'SignIn', status: 302, tenant: request.tenantId, user: resumed.user, clientId: request.clientId, flow: 'authorization_code', username: resumed.user.display_name, extra: { session: 'reused', sessionId: resumed.sessionId, ...(prompt ? { prompt } : {}) } });
          const params = new URLSearchParams({ code, ...(request.state !== undefined ? { state: request.state } : {}) });
          return reply.code(302).header('cache-control', 'no-store').header('location', appendParams(request.redirectUri, request.responseMode, params)).send();
        }
        // Refused (tampered, foreign, expired, signed out, user disabled, password changed): forgotten, and the password is asked.
        await record(req, started, {
          operation: 'SignIn',
          status: 401,
          tenant: request.tenantId,
          reason: resumed.refused,
          ...(resumed.user ? { user: resumed.user, username: resumed.user.display_name } : {}),
          clientId: request.clientId,
          flow: 'authorization_code',
          extra: { session: 'refused', ...(resumed.sessionId ? { sessionId: resumed.sessionId } : {}) },
        });
        clearSession(req, reply, request.tenantId);
      } catch (err) {
        req.log.error({ err: err instanceof Error ? err.message : String(err) }, 'session sign-in failed');
        return html(reply, 503, messagePage('Sign-in unavailable', 'Sign-in is unavailable; try again later.', true));
      }
    }
    if (prompt === 'none') {
      // A silent request and no session: AAD's login_required, to the redirect URI.
      const e = new AadError(400, 'login_required', 50058, 'A silent sign-in request was sent but no user is signed in.', 'LoginRequired');
      try {
        await record(req, started, { operation: 'Authorize', status: e.status, tenant: request.tenantId, reason: e.reason, flow: 'authorization_code', clientId: request.clientId, extra: { prompt } });
      } catch {
        return html(reply, 503, messagePage('Sign-in unavailable', 'The audit log is unavailable; try again later.', true));
      }
      return reply.code(302).header('cache-control', 'no-store').header('location', redirectWithError(request.redirectUri, request.responseMode, e, request.state)).send();
    }
    const ctx = seal({ kind: 'authorize', request, csrf: csrfOf(req, reply), exp: Date.now() + FORM_LIFETIME_MS });
    const loginHint = req.query.login_hint;
    return html(reply, 200, signInPage({ action: req.url.split('?')[0] ?? '', appName: checked.appName, ctx, ...(loginHint ? { username: loginHint.slice(0, 128) } : {}) }));
  });

  fastify.post<{ Params: { tenant: string }; Body: Form | undefined }>('/:tenant/oauth2/v2.0/authorize', async (req, reply) => {
    const started = performance.now();
    const form = formOf(req.body);
    const ctx = unseal(form.ctx, cookie(req, CSRF_COOKIE));
    const username = (form.username ?? '').slice(0, 256);
    if (!ctx || ctx.kind !== 'authorize') {
      try {
        await record(req, started, { operation: 'SignIn', status: 400, tenant: req.params.tenant, reason: 'FormContextInvalid', flow: 'authorization_code', username });
      } catch {
        return html(reply, 503, messagePage('Sign-in unavailable', 'The audit log is unavailable; try again later.', true));
      }
      return html(reply, 400, messagePage('Sign-in error', 'This sign-in form has expired or was not sent by this browser. Go back to the application and sign in again.', true));
    }
    const request = ctx.request;
    try {
      const user = await signIn.authenticate(request.tenantId, username, form.password ?? '', req.ip);
      const code = await signIn.issueCode(request, user);
      // The browser's previous session (if any) is replaced by the one this password starts.
      const previous = cookie(req, SESSION_COOKIE);
      const replaced = previous !== undefined ? await signIn.endSession(previous, 'Replaced') : undefined;
      const session = await signIn.startSession(request.tenantId, user);
      await record(req, started, {
        operation: 'SignIn',
        status: 302,
        tenant: request.tenantId,
        user,
        clientId: request.clientId,
        flow: 'authorization_code',
        username,
        extra: { session: 'created', sessionId: session.sessionId, ...(replaced ? { replacedSessionId: replaced } : {}) },
      });
      reply.header('set-cookie', sessionCookie(req, request.tenantId, session.cookie, session.maxAgeSeconds));
      const params = new URLSearchParams({ code, ...(request.state !== undefined ? { state: request.state } : {}) });
      return reply.code(302).header('cache-control', 'no-store').header('location', appendParams(request.redirectUri, request.responseMode, params)).send();
    } catch (err) {
      const refused = err instanceof SignInRefused ? err : undefined;
      try {
        await record(req, started, {
          operation: 'SignIn',
          status: refused ? 400 : 500,
          tenant: request.tenantId,
          reason: refused?.reason ?? 'InternalError',
          ...(refused?.user ? { user: refused.user } : {}),
          clientId: request.clientId,
          flow: 'authorization_code',
          username,
        });
      } catch {
        return html(reply, 503, messagePage('Sign-in unavailable', 'The audit log is unavailable; try again later.', true));
      }
      if (!refused) {
        req.log.error({ err: err instanceof Error ? err.message : String(err) }, 'sign-in failed');
        return html(reply, 500, messagePage('Sign-in error', 'An internal error occurred.', true));
      }
      const again = seal({ kind: 'authorize', request, csrf: csrfOf(req, reply), exp: Date.now() + FORM_LIFETIME_MS });
      const appName = (await signIn.publicClient(request.tenantId, request.clientId).catch(() => undefined))?.display_name ?? request.clientId;
      return html(reply, 400, signInPage({ action: req.url.split('?')[0] ?? '', appName, ctx: again, username, error: refused.message }));
    }
  });

  // ---- sign-out ------------------------------------------------------------------------------------

  /**
   * `/{tenant}/oauth2/v2.0/logout` (the discovery document's `end_session_endpoint`): ends the
   * browser's session, then redirects to `post_logout_redirect_uri` when it is registered for the
   * client (`client_id`, else the `aud` of `id_token_hint`, else any client of the tenant);
   * otherwise a signed-out page. One `SignOut` record either way.
   */
  const logout = async (req: FastifyRequest<{ Params: { tenant: string } }>, reply: FastifyReply, q: Query): Promise<FastifyReply> => {
    const started = performance.now();
    let tenantId: string;
    try {
      tenantId = await tokens.resolveTenant(req.params.tenant);
    } catch (err) {
      const e = asAad(err);
      try {
        await record(req, started, { operation: 'SignOut', status: e.status, tenant: req.params.tenant.slice(0, 64), reason: e.reason, flow: 'logout' });
      } catch {
        return html(reply, 503, messagePage('Sign-out unavailable', 'The audit log is unavailable; try again later.', true));
      }
      return html(reply, 400, messagePage('Sign-out error', e.message, true));
    }
    try {
      const presented = cookie(req, SESSION_COOKIE);
      let user: PrincipalRow | undefined;
      let ended: string | undefined;
      if (presented !== undefined) {
        const resumed = await signIn.resumeSession(tenantId, presented);
        user = resumed.user;
        if (!('refused' in resumed) || resumed.refused !== 'SessionOtherTenant') ended = await signIn.endSession(presented, 'SignOut');
        clearSession(req, reply, tenantId);
      }
      const target = q.post_logout_redirect_uri;
      let allowed = false;
      let clientId = q.client_id?.slice(0, 64);
      if (target !== undefined && target.length <= 2048 && !/[\u0000-\u001f]/.test(target)) {
        clientId ??= audienceOf(q.id_token_hint);
        const clients = clientId ? [await signIn.publicClient(tenantId, clientId).catch(() => undefined)].flatMap((a) => a ?? []) : await signIn.clientsOf(tenantId);
        allowed = clients.some((a) => redirectUriRegistered(a.redirect_uris, target));
      }
      const reason = target !== undefined && !allowed ? 'PostLogoutRedirectUriNotRegistered' : undefined;
      await record(req, started, {
        operation: 'SignOut',
        status: allowed ? 302 : reason ? 400 : 200,
        tenant: tenantId,
        ...(reason ? { reason } : {}),
        ...(user ? { user } : {}),
        ...(clientId ? { clientId } : {}),
        flow: 'logout',
        ...(user ? { username: user.display_name } : {}),
        extra: { sessionEnded: ended ? 'true' : 'false', ...(ended ? { sessionId: ended } : {}) },
      });
      if (allowed && target !== undefined) {
        const state = q.state !== undefined && !/[\u0000-\u001f]/.test(q.state) ? q.state.slice(0, 2048) : undefined;
        return reply.code(302).header('cache-control', 'no-store').header('location', state !== undefined ? appendParams(target, 'query', new URLSearchParams({ state })) : target).send();
      }
      return html(
        reply,
        reason ? 400 : 200,
        signedOutPage(reason ? `AADSTS50011: The post logout redirect URI '${(target ?? '').slice(0, 200)}' is not registered for the application; you are signed out, but not sent back to it.` : undefined),
      );
    } catch (err) {
      req.log.error({ err: err instanceof Error ? err.message : String(err) }, 'sign-out failed');
      return html(reply, 503, messagePage('Sign-out unavailable', 'Sign-out is unavailable; try again later.', true));
    }
  };
  fastify.get<{ Params: { tenant: string }; Querystring: Query }>('/:tenant/oauth2/v2.0/logout', (req, reply) => logout(req, reply, req.query));
  fastify.post<{ Params: { tenant: string }; Body: Form | undefined }>('/:tenant/oauth2/v2.0/logout', (req, reply) => logout(req, reply, formOf(req.body)));

  // ---- device code -------------------------------------------------------------------------------

  fastify.post<{ Params: { tenant: string }; Body: Form | undefined }>('/:tenant/oauth2/v2.0/devicecode', async (req, reply) => {
    const started = performance.now();
    const form = formOf(req.body);
    let tenantId: string | undefined;
    try {
      tenantId = await tokens.resolveTenant(req.params.tenant);
      const answer = await signIn.startDeviceFlow(tenantId, form);
      await record(req, started, { operation: 'DeviceCodeIssue', status: 200, tenant: tenantId, clientId: form.client_id?.toLowerCase() ?? '', flow: 'device_code' });
      return reply.header('cache-control', 'no-store').send(answer);
    } catch (err) {
      const e = asAad(err);
      try {
        await record(req, started, { operation: 'DeviceCodeIssue', status: e.status, tenant: tenantId ?? req.params.tenant, reason: e.reason, flow: 'device_code', ...(form.client_id ? { clientId: form.client_id.slice(0, 64) } : {}) });
      } catch {
        return reply.code(503).send({ error: 'temporarily_unavailable', error_description: 'The audit log is unavailable.', error_codes: [90033] });
      }
      if (!(err instanceof AadError)) req.log.error({ err: err instanceof Error ? err.message : String(err) }, 'device code request failed');
      const ctxIds = currentContext();
      return reply.code(e.status).header('cache-control', 'no-store').send(e.body(ctxIds?.correlationId ?? '', ctxIds?.requestId ?? ''));
    }
  });

  fastify.get<{ Querystring: Query }>('/devicelogin', async (req, reply) => {
    const ctx = seal({ kind: 'device', csrf: csrfOf(req, reply), exp: Date.now() + FORM_LIFETIME_MS });
    return html(reply, 200, deviceLoginPage({ action: '/devicelogin', ctx, ...(req.query.otc ? { userCode: req.query.otc.slice(0, 32) } : {}) }));
  });

  fastify.post<{ Body: Form | undefined }>('/devicelogin', async (req, reply) => {
    const started = performance.now();
    const form = formOf(req.body);
    const username = (form.username ?? '').slice(0, 256);
    const userCode = (form.otc ?? '').slice(0, 32);
    const ctx = unseal(form.ctx, cookie(req, CSRF_COOKIE));
    const again = (error: string) => deviceLoginPage({ action: '/devicelogin', ctx: seal({ kind: 'device', csrf: csrfOf(req, reply), exp: Date.now() + FORM_LIFETIME_MS }), userCode, username, error });
    let tenant = 'unknown';
    let clientId: string | undefined;
    let outcome: { status: number; reason?: string; user?: PrincipalRow; body: string };
    try {
      if (!ctx || ctx.kind !== 'device') {
        outcome = { status: 400, reason: 'FormContextInvalid', body: messagePage('Sign-in error', 'This form has expired or was not sent by this browser. Open the page again.', true) };
      } else {
        const pending = await signIn.pendingDevice(userCode);
        if (!pending) {
          outcome = { status: 400, reason: 'UserCodeInvalid', body: again('AADSTS70000: The code you entered has expired or is not valid. Check the code and try again, or get a new code from your device.') };
        } else {
          tenant = pending.tenantId;
          clientId = pending.app.app_id;
          const user = await signIn.authenticate(pending.tenantId, username, form.password ?? '', req.ip);
          outcome = (await signIn.approveDevice(userCode, user))
            ? { status: 200, user, body: messagePage('You are signed in', `You have signed in to ${pending.app.display_name} on your device. You may now close this window.`) }
            : { status: 400, reason: 'UserCodeInvalid', user, body: again('AADSTS70000: The code you entered has expired or is not valid.') };
        }
      }
    } catch (err) {
      if (!(err instanceof SignInRefused)) {
        req.log.error({ err: err instanceof Error ? err.message : String(err) }, 'device sign-in failed');
        outcome = { status: 500, reason: 'InternalError', body: messagePage('Sign-in error', 'An internal error occurred.', true) };
      } else {
        outcome = { status: 400, reason: err.reason, ...(err.user ? { user: err.user } : {}), body: again(err.message) };
      }
    }
    try {
      await record(req, started, {
        operation: 'SignIn',
        status: outcome.status,
        tenant,
        flow: 'device_code',
        username,
        ...(outcome.reason ? { reason: outcome.reason } : {}),
        ...(outcome.user ? { user: outcome.user } : {}),
        ...(clientId ? { clientId } : {}),
      });
    } catch {
      return html(reply, 503, messagePage('Sign-in unavailable', 'The audit log is unavailable; try again later.', true));
    }
    return html(reply, outcome.status, outcome.body);
  });
}

const PROMPTS = ['login', 'none', 'consent', 'select_account', 'create'];
/** Prompts the sign-in page answers even in a session (Keyledger has no account picker or sign-up page). */
const PROMPTS_ASKING = ['login', 'select_account', 'create'];

/** The cookie path of a tenant's endpoints: the tenant segment of the request (as the browser sent it), or its id. */
function tenantPath(req: FastifyRequest, tenantId: string): string {
  const segment = (req.url.split('?')[0] ?? '').split('/')[1] ?? '';
  return `/${/^[A-Za-z0-9._-]{1,128}$/.test(segment) ? segment : tenantId}/`;
}

function sessionCookie(req: FastifyRequest, tenantId: string, value: string, maxAgeSeconds: number): string {
  return `${SESSION_COOKIE}=${value}; Path=${tenantPath(req, tenantId)}; Secure; HttpOnly; SameSite=Lax; Max-Age=${maxAgeSeconds}`;
}

function clearSession(req: FastifyRequest, reply: FastifyReply, tenantId: string): void {
  reply.header('set-cookie', sessionCookie(req, tenantId, '', 0));
}

/** The `aud` of an id_token hint (unverified: it only names the client whose redirect URIs are allowed). */
function audienceOf(idToken: string | undefined): string | undefined {
  try {
    const claims: unknown = JSON.parse(Buffer.from((idToken ?? '').split('.')[1] ?? '', 'base64url').toString('utf8'));
    const aud = typeof claims === 'object' && claims !== null ? (claims as Record<string, unknown>).aud : undefined;
    return typeof aud === 'string' ? aud.slice(0, 64) : undefined;
  } catch {
    return undefined;
  }
}

function formOf(body: unknown): Form {
  return typeof body === 'object' && body !== null && !Array.isArray(body) && !Buffer.isBuffer(body) ? (body as Form) : {};
}

function asAad(err: unknown): AadError {
  return err instanceof AadError ? err : new AadError(400, 'invalid_request', 90000, 'The request could not be processed.', 'InternalError');
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function cookie(req: FastifyRequest, name: string): string | undefined {
  for (const part of String(req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

function appendParams(uri: string, mode: 'query' | 'fragment', params: URLSearchParams): string {
  if (mode === 'fragment') return `${uri}#${params.toString()}`;
  return `${uri}${uri.includes('?') ? '&' : '?'}${params.toString()}`;
}

function redirectWithError(uri: string, mode: 'query' | 'fragment', e: AadError, state: string | undefined): string {
  const ctx = currentContext();
  const body = e.body(ctx?.correlationId ?? '', ctx?.requestId ?? '');
  const params = new URLSearchParams({ error: e.error, error_description: String(body.error_description), error_uri: String(body.error_uri), ...(state !== undefined ? { state: state.slice(0, 2048) } : {}) });
  return appendParams(uri, mode, params);
}
