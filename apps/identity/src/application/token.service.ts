import { createHash, createHmac, createPublicKey, randomBytes, randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { SignJWT, decodeProtectedHeader, jwtVerify } from 'jose';
import { CONFIG, type ConfigOf } from '#libs/platform';
import { IdentityRepository, type PrincipalRow } from '../adapters/persistence/identity.repository.js';
import type { identitySchema } from '../config/identity.config.js';
import { verifyClientSecret } from '../domain/client-secret.js';
import { AadError, invalidClient } from './aad-error.js';
import { SigningKeysService } from './signing-keys.service.js';

type IdentityConfig = ConfigOf<typeof identitySchema>;

export type IssuedToken = {
  readonly accessToken: string;
  readonly expiresIn: number;
  readonly expiresOn: number;
  readonly notBefore: number;
  readonly resource: string;
  readonly principal: PrincipalRow;
  /** The client the token was issued to when it is not the principal itself (a user signed in to a public client). */
  readonly clientId?: string;
};

const DUMMY_HASH = 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

/**
 * Issues access tokens: client credentials (secret or certificate assertion) and
 * managed identities. Tokens are ES256 JWTs with Azure's claim names; they carry no secret.
 */
@Injectable()
export class TokenService {
  /** HMAC of (client id, secret) → secret id, for secrets verified in the last minutes; memory only. */
  private readonly verified = new Map<string, { secretId: string; until: number }>();
  private readonly cacheKey = randomBytes(32);

  constructor(
    @Inject(CONFIG) private readonly config: IdentityConfig,
    private readonly repo: IdentityRepository,
    private readonly keys: SigningKeysService,
  ) {}

  issuer(tenantId: string): string {
    return `${this.config.IDENTITY_PUBLIC_URL}/${tenantId}/v2.0`;
  }

  tokenEndpoint(tenant: string): string {
    return `${this.config.IDENTITY_PUBLIC_URL}/${tenant}/oauth2/v2.0/token`;
  }

  /** Resources tokens may be issued for: the vault, managed HSM, identity admin and audit APIs of this deployment. */
  resources(): string[] {
    const d = this.config.KEYLEDGER_DOMAIN;
    return [`https://vault.${d}`, `https://managedhsm.${d}`, `https://identity.${d}`, `https://audit.${d}`, 'https://vault.azure.net', 'https://managedhsm.azure.net'];
  }

  /** `https://vault.localhost/.default` (or a bare resource) → `https://vault.localhost`. */
  resourceFromScope(scope: string | undefined): string {
    const scopes = (scope ?? '').split(/\s+/).filter((s) => s && !['openid', 'profile', 'offline_access'].includes(s));
    const candidate = scopes.find((s) => s.endsWith('/.default')) ?? scopes[0];
    if (!candidate) throw new AadError(400, 'invalid_scope', 70011, 'The provided value for the input parameter \'scope\' is not valid.', 'ScopeMissing');
    return this.checkResource(candidate.replace(/\/\.default$/, ''));
  }

  /**
   * A resource tokens may be issued for: one of `resources()`, or one of this deployment's own
   * (`https://vault.<domain>`, …) with an explicit port — the challenge of a service reached on
   * a port other than 443 names it (`https://vault.localhost:8443`), and the Python SDKs ask for
   * exactly that resource.
   */
  checkResource(resource: string): string {
    const r = resource.replace(/\/+$/, '');
    if (!this.resources().includes(r) && !this.isOwnResourceWithPort(r)) {
      throw new AadError(400, 'invalid_resource', 500011, `The resource principal named ${r.slice(0, 200)} was not found in the tenant.`, 'ResourceUnknown');
    }
    return r;
  }

  private isOwnResourceWithPort(resource: string): boolean {
    const m = /^(https:\/\/[a-z0-9.-]+):([1-9][0-9]{0,4})$/.exec(resource);
    if (!m || Number(m[2]) > 65535) return false;
    const d = this.config.KEYLEDGER_DOMAIN;
    return [`https://vault.${d}`, `https://managedhsm.${d}`, `https://identity.${d}`, `https://audit.${d}`].includes(m[1] ?? '');
  }

  async resolveTenant(tenant: string): Promise<string> {
    if (['organizations', 'common', 'consumers'].includes(tenant.toLowerCase())) {
      const t = await this.repo.defaultTenant();
      if (t) return t.tenant_id;
    }
    if (!(await this.repo.tenantExists(tenant))) {
      throw new AadError(400, 'invalid_request', 90002, `Tenant '${tenant.slice(0, 64)}' not found.`, 'TenantNotFound');
    }
    return tenant.toLowerCase();
  }

  async withClientSecret(tenantId: string, clientId: string, secret: string, resource: string): Promise<IssuedToken> {
    const principal = await this.repo.principalByAppId(tenantId, clientId);
    const key = createHmac('sha256', this.cacheKey).update(`${tenantId}\0${clientId}\0${secret}`).digest('base64url');
    const cached = this.verified.get(key);
    if (principal && cached && cached.until > Date.now()) {
      const still = (await this.repo.activeSecrets(principal.object_id)).some((s) => s.secret_id === cached.secretId);
      if (still && principal.enabled) return this.mint(principal, tenantId, resource);
      this.verified.delete(key);
    }
    const candidates = principal && principal.kind !== 'managedIdentity' ? await this.repo.activeSecrets(principal.object_id) : [];
    let match: string | undefined;
    // Unknown client or no secrets: spend the same scrypt work, then fail the same way.
    if (candidates.length === 0) await verifyClientSecret(secret, DUMMY_HASH);
    for (const c of candidates) {
      if (await verifyClientSecret(secret, c.hash)) {
        match = c.secret_id;
        break;
      }
    }
    if (!principal || !match) throw invalidClient(principal ? 'ClientSecretInvalid' : 'ClientUnknown');
    if (!principal.enabled) throw new AadError(401, 'unauthorized_client', 7000112, 'Application is disabled.', 'PrincipalDisabled');
    if (this.verified.size > 10_000) this.verified.clear();
    this.verified.set(key, { secretId: match, until: Date.now() + 5 * 60_000 });
    return this.mint(principal, tenantId, resource);
  }

  async withClientAssertion(tenant: string, tenantId: string, clientId: string, assertion: string, resource: string): Promise<IssuedToken> {
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(assertion);
    } catch {
      throw new AadError(401, 'invalid_client', 50027, 'JWT token is invalid or malformed.', 'AssertionMalformed');
    }
    if (header.alg !== 'PS256' && header.alg !== 'RS256') {
      throw new AadError(401, 'invalid_client', 5002738, 'Invalid JWT token. Only RS256 and PS256 are supported for client assertions.', 'AssertionAlgorithmRejected');
    }
    const x5tS256 = typeof header['x5t#S256'] === 'string' ? header['x5t#S256'] : undefined;
    const x5t = typeof header.x5t === 'string' ? header.x5t : undefined;
    const cert = await this.repo.certificateByThumbprint({ ...(x5tS256 ? { sha256: x5tS256 } : {}), ...(x5t && !x5tS256 ? { sha1: x5t } : {}) });
    const principal = await this.repo.principalByAppId(tenantId, clientId);
    if (!cert || !principal || cert.object_id !== principal.object_id || cert.revoked_at !== null) {
      throw new AadError(401, 'invalid_client', 700027, 'Client assertion contains an invalid signature. The key was not found.', 'CertificateNotRegistered');
    }
    if (cert.not_after.getTime() < Date.now()) throw new AadError(401, 'invalid_client', 700027, 'The certificate used in the client assertion has expired.', 'CertificateExpired');
    let jti: string;
    let exp: number;
    try {
      const { payload } = await jwtVerify(assertion, createPublicKey(cert.public_key_pem), {
        algorithms: ['PS256', 'RS256'],
        audience: [this.tokenEndpoint(tenant), this.tokenEndpoint(tenantId), `${this.config.IDENTITY_PUBLIC_URL}/${tenantId}/v2.0`],
        issuer: clientId,
        subject: clientId,
        requiredClaims: ['exp', 'jti'],
        clockTolerance: 60,
      });
      jti = String(payload.jti);
      exp = Number(payload.exp);
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'ERR_JWT_INVALID';
      throw new AadError(401, 'invalid_client', 700027, 'Client assertion failed signature validation.', `Assertion:${code}`);
    }
    if (exp - Date.now() / 1000 > 600 + 60) throw new AadError(401, 'invalid_client', 700024, 'Client assertion is not within its valid time range (longer than 10 minutes).', 'AssertionLifetime');
    if (!(await this.repo.useAssertion(`${clientId}:${jti}`, new Date(exp * 1000 + 60_000)))) {
      throw new AadError(401, 'invalid_client', 700027, 'The client assertion was already used (jti replay).', 'AssertionReplay');
    }
    if (!principal.enabled) throw new AadError(401, 'unauthorized_client', 7000112, 'Application is disabled.', 'PrincipalDisabled');
    return this.mint(principal, tenantId, resource);
  }

  /** App Service shape: the X-IDENTITY-HEADER value identifies the managed identity. */
  async forManagedIdentityHeader(headerValue: string, resource: string): Promise<IssuedToken> {
    const hash = createHash('sha256').update(headerValue).digest('base64url');
    const principal = await this.repo.managedIdentityByHeaderHash(hash);
    if (!principal || !principal.enabled) throw new AadError(401, 'invalid_request', 700016, 'The identity header is not valid for any managed identity.', 'IdentityHeaderInvalid');
    return this.mint(principal, principal.tenant_id, this.checkResource(resource));
  }

  /** IMDS shape: the identity bound to the caller's host, chosen by client_id/object_id when several. */
  async forManagedIdentityOnHost(host: string, resource: string, select: { clientId?: string; objectId?: string }): Promise<IssuedToken> {
    const bound = await this.repo.managedIdentitiesBoundTo(host);
    const candidates = bound.filter((p) => (!select.clientId || p.app_id === select.clientId.toLowerCase()) && (!select.objectId || p.object_id === select.objectId.toLowerCase()));
    if (candidates.length !== 1) {
      throw new AadError(400, 'invalid_request', 700016, candidates.length === 0 ? 'No managed identity is bound to this host.' : 'Several managed identities are bound to this host; pass client_id.', 'ManagedIdentityNotFound');
    }
    return this.mint(candidates[0], candidates[0].tenant_id, this.checkResource(resource));
  }

  /** An access token for a user signed in to a public client (`appid` = the client, `scp` = delegated). */
  forSignedInUser(user: PrincipalRow, tenantId: string, resource: string, clientId: string): Promise<IssuedToken> {
    return this.mint(user, tenantId, resource, clientId);
  }

  /** The OpenID Connect id_token of a signed-in user for `clientId` (audience), with the authorize request's nonce. */
  async idToken(user: PrincipalRow, tenantId: string, clientId: string, nonce: string | null): Promise<string> {
    const key = await this.keys.signingKey();
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({
      tid: tenantId,
      oid: user.object_id,
      sub: user.object_id,
      preferred_username: user.display_name,
      name: user.display_name,
      ver: '2.0',
      ...(nonce ? { nonce } : {}),
    })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
      .setIssuer(this.issuer(tenantId))
      .setAudience(clientId)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + 3600)
      .sign(key.privateKey);
  }

  private async mint(principal: PrincipalRow, tenantId: string, resource: string, client?: string): Promise<IssuedToken> {
    const key = await this.keys.signingKey();
    const now = Math.floor(Date.now() / 1000);
    const lifetime = this.config.TOKEN_LIFETIME_SECONDS;
    const idtyp = principal.kind === 'user' ? 'user' : 'app';
    const token = await new SignJWT({
      tid: tenantId,
      oid: principal.object_id,
      sub: principal.object_id,
      appid: client ?? principal.app_id,
      azp: client ?? principal.app_id,
      idtyp,
      ver: '2.0',
      ...(principal.kind === 'user' ? { upn: principal.display_name, preferred_username: principal.display_name } : {}),
      ...(client ? { scp: 'user_impersonation' } : {}),
    })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
      .setIssuer(this.issuer(tenantId))
      .setAudience(resource)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + lifetime)
      .setJti(randomUUID())
      .sign(key.privateKey);
    return { accessToken: token, expiresIn: lifetime, expiresOn: now + lifetime, notBefore: now, resource, principal, ...(client ? { clientId: client } : {}) };
  }
}
