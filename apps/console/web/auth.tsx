// Sign-in as a public client: authorization code + PKCE (S256) against Keyledger's identity
// service, then one access token per API (vault, audit, identity) from the rotating refresh token.
export type ConsoleConfig = {
  authority: string;
  tenantId: string;
  clientId: string;
  redirectUri: string;
  vaultResource: string;
  auditResource: string;
  identityResource: string;
};

type Stored = { refreshToken: string; username: string; oid: string; tokens: Record<string, { token: string; exp: number }> };

const b64url = (bytes: Uint8Array): string => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const random = (n = 32): string => b64url(crypto.getRandomValues(new Uint8Array(n)));
const claims = (jwt: string): Record<string, unknown> => JSON.parse(atob(jwt.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))) as Record<string, unknown>;

export class SignInError extends Error {}

export async function loadConfig(): Promise<ConsoleConfig> {
  return (await (await fetch('/config.json')).json()) as ConsoleConfig;
}

export async function signIn(cfg: ConsoleConfig): Promise<void> {
  const verifier = random(32);
  const challenge = b64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
  const state = random(16);
  const nonce = random(16);
  sessionStorage.setItem('kl.pkce', JSON.stringify({ verifier, state, nonce, back: location.hash }));
  const q = new URLSearchParams({
    client_id: cfg.clientId,
    response_type: 'code',
    redirect_uri: cfg.redirectUri,
    scope: `${cfg.vaultResource}/.default openid profile offline_access`,
    state,
    nonce,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  location.assign(`${cfg.authority}/${cfg.tenantId}/oauth2/v2.0/authorize?${q}`);
}

async function tokenRequest(cfg: ConsoleConfig, form: Record<string, string>): Promise<{ access_token: string; expires_in: number; refresh_token?: string; id_token?: string }> {
  const res = await fetch(`/api/identity/${cfg.tenantId}/oauth2/v2.0/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) });
  const body = (await res.json()) as { access_token?: string; expires_in?: number; refresh_token?: string; id_token?: string; error?: string; error_description?: string };
  if (!res.ok || !body.access_token) throw new SignInError(`${body.error ?? res.status}: ${body.error_description ?? 'the token request failed'}`);
  return body as { access_token: string; expires_in: number; refresh_token?: string; id_token?: string };
}

export class Session {
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly cfg: ConsoleConfig,
    private stored: Stored,
  ) {}

  get username(): string {
    return this.stored.username;
  }

  get objectId(): string {
    return this.stored.oid;
  }

  /** The session of this tab: resumed, or completed from the authorization response in the URL. */
  static async restore(cfg: ConsoleConfig): Promise<Session | undefined> {
    const params = new URLSearchParams(location.search);
    if (params.get('error')) throw new SignInError(`${params.get('error')}: ${params.get('error_description') ?? ''}`);
    const code = params.get('code');
    if (code) {
      const pkce = JSON.parse(sessionStorage.getItem('kl.pkce') ?? '{}') as { verifier?: string; state?: string; nonce?: string; back?: string };
      sessionStorage.removeItem('kl.pkce');
      history.replaceState(null, '', `/${pkce.back ?? ''}`);
      if (!pkce.verifier || params.get('state') !== pkce.state) throw new SignInError('the sign-in response does not match this browser tab; sign in again');
      const t = await tokenRequest(cfg, {
        grant_type: 'authorization_code',
        client_id: cfg.clientId,
        code,
        redirect_uri: cfg.redirectUri,
        code_verifier: pkce.verifier,
        scope: `${cfg.vaultResource}/.default openid profile offline_access`,
      });
      const id = claims(t.id_token ?? '');
      if (id.nonce !== pkce.nonce) throw new SignInError('the id_token nonce does not match; sign in again');
      const s = new Session(cfg, {
        refreshToken: t.refresh_token ?? '',
        username: String(id.preferred_username ?? ''),
        oid: String(id.oid ?? ''),
        tokens: { [cfg.vaultResource]: { token: t.access_token, exp: Date.now() + (t.expires_in - 60) * 1000 } },
      });
      s.save();
      return s;
    }
    const saved = sessionStorage.getItem('kl.session');
    return saved ? new Session(cfg, JSON.parse(saved) as Stored) : undefined;
  }

  /** Ends this tab's session and identity's sign-in session (its cookie), then comes back to the console. */
  signOut(): void {
    sessionStorage.removeItem('kl.session');
    const q = new URLSearchParams({ client_id: this.cfg.clientId, post_logout_redirect_uri: this.cfg.redirectUri });
    location.assign(`${this.cfg.authority}/${this.cfg.tenantId}/oauth2/v2.0/logout?${q}`);
  }

  /** An access token for one API; refreshes are serialized (each rotates the refresh token). */
  token(resource: string): Promise<string> {
    const next = this.chain.then(async () => {
      const hit = this.stored.tokens[resource];
      if (hit && hit.exp > Date.now()) return hit.token;
      const t = await tokenRequest(this.cfg, { grant_type: 'refresh_token', client_id: this.cfg.clientId, refresh_token: this.stored.refreshToken, scope: `${resource}/.default offline_access` });
      this.stored = { ...this.stored, refreshToken: t.refresh_token ?? this.stored.refreshToken, tokens: { ...this.stored.tokens, [resource]: { token: t.access_token, exp: Date.now() + (t.expires_in - 60) * 1000 } } };
      this.save();
      return t.access_token;
    });
    this.chain = next.catch(() => undefined);
    return next;
  }

  private save(): void {
    sessionStorage.setItem('kl.session', JSON.stringify(this.stored));
  }
}
