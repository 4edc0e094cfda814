import { X509Certificate, createHash, randomBytes, randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { BuiltInRoleIds, findBuiltInRole, isAssignableScope, type RoleDefinition } from '#libs/auth';
import { newAuditRecord, type AuditRecord } from '#libs/contracts';
import type { OperationAudit } from '#libs/gate';
import { DomainError } from '#libs/kernel';
import { EVENT_STORE, decideAndAppend, type EventStore, type RecordedEvent } from '#libs/eventstore';
import { IdentityRepository, isGuid, type PrincipalRow } from '../adapters/persistence/identity.repository.js';
import { generateClientSecret, hashClientSecret, secretHint } from '../domain/client-secret.js';
import type { IdentityEvent, PrincipalKind, TenantCreated } from '../domain/identity.events.js';
import { generatePassword, hashPassword } from './password.js';
import { principalDecider } from '../domain/principal.decider.js';
import { roleAssignmentDecider } from '../domain/role-assignment.decider.js';

/**
 * Who asks, from where: every admin change carries it into its event metadata and audit record.
 * A request admitted by the gate carries the gate's record, which the change commits with its
 * events (the gate then writes no second one); the bootstrap has none and gets a record of its own.
 */
export type Caller = {
  readonly objectId: string;
  readonly tenantId: string;
  readonly appId?: string;
  readonly ip: string;
  readonly requestUri: string;
  readonly correlationId: string;
  readonly audit?: OperationAudit;
  /** The status the request is answered with when the change succeeds (its record says so). */
  readonly successStatus?: number;
};

export type CreatedServicePrincipal = {
  readonly objectId: string;
  readonly appId: string;
  readonly tenantId: string;
  readonly displayName: string;
  readonly clientSecret?: string;
  readonly secretId?: string;
  readonly certificateThumbprint?: string;
  /** A user's generated sign-in password (shown once). */
  readonly password?: string;
};

/** Tenants, principals, credentials and role assignments: load → decide → append (+ read model + audit) in one transaction. */
@Injectable()
export class IdentityService {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly repo: IdentityRepository,
  ) {}

  private audit(caller: Caller, operationName: string, resourceId: string, started: number, extra: Record<string, string> = {}): AuditRecord {
    const gated = caller.audit;
    if (gated && !gated.written) {
      gated.operationName = operationName;
      gated.containerPath = resourceId;
      gated.tenant = caller.tenantId;
      if (Object.keys(extra).length > 0) gated.extra = extra;
      const record = gated.forCommit(caller.successStatus ?? 200);
      return record;
    }
    return newAuditRecord({
      tenant: caller.tenantId,
      source: 'identity',
      resourceId,
      operationName,
      operationVersion: '1.0',
      resultType: 'Success',
      resultSignature: '200',
      durationMs: Math.round(performance.now() - started),
      callerIpAddress: caller.ip,
      correlationId: caller.correlationId,
      identity: { oid: caller.objectId, tid: caller.tenantId, ...(caller.appId ? { appid: caller.appId } : {}) },
      properties: { requestUri: caller.requestUri, extra },
    });
  }

  private project = (tx: Parameters<NonNullable<Parameters<EventStore['appendToStream']>[3]['inTransaction']>>[0], recorded: readonly RecordedEvent[]): Promise<void> =>
    this.repo.project(tx, recorded as readonly RecordedEvent<IdentityEvent>[]);

  async createTenant(name: string, isDefault: boolean, caller: Caller): Promise<string> {
    const started = performance.now();
    const tenantId = randomUUID();
    const event: TenantCreated = { type: 'TenantCreated', data: { tenantId, name, isDefault } };
    await this.store.appendToStream(`tenant-${tenantId}`, 'no_stream', [event], {
      metadata: { actor: caller.objectId, tenant: tenantId },
      audit: [this.audit({ ...caller, tenantId }, 'TenantCreate', `/tenants/${tenantId}`, started)],
      inTransaction: this.project,
    });
    caller.audit?.committed();
    return tenantId;
  }

  async createPrincipal(
    tenantId: string,
    displayName: string,
    kind: PrincipalKind,
    caller: Caller,
    options: { withSecret?: boolean; certificatePem?: string; boundTo?: string | null } = {},
  ): Promise<CreatedServicePrincipal & { identityHeader?: string }> {
    const started = performance.now();
    if (await this.repo.principal(displayName, tenantId)) throw new DomainError('PrincipalExists', `a principal named "${displayName}" already exists`);
    const objectId = randomUUID();
    const appId = randomUUID();
    const streamId = `principal-${objectId}`;
    const meta = { actor: caller.objectId, tenant: tenantId };
    const audit = [this.audit(caller, kind === 'managedIdentity' ? 'ManagedIdentityCreate' : 'ServicePrincipalCreate', `/principals/${objectId}`, started, { kind })];
    const cert = options.certificatePem ? parseCertificate(options.certificatePem) : undefined;
    const secret = options.withSecret ? generateClientSecret() : undefined;
    const secretId = secret ? randomUUID() : undefined;
    const header = kind === 'managedIdentity' ? randomBytes(24).toString('base64url') : undefined;
    const password = kind === 'user' ? generatePassword() : undefined;
    const commands = [
      { type: 'CreatePrincipal' as const, data: { objectId, tenantId, appId, kind, displayName, boundTo: options.boundTo ?? null } },
      ...(secret && secretId ? [{ type: 'AddClientSecret' as const, data: { secretId, hash: await hashClientSecret(secret), hint: secretHint(secret), expiresAt: null } }] : []),
      ...(cert ? [{ type: 'RegisterClientCertificate' as const, data: cert }] : []),
      ...(header ? [{ type: 'IssueManagedIdentityHeader' as const, data: { headerHash: createHash('sha256').update(header).digest('base64url') } }] : []),
      ...(password ? [{ type: 'SetUserPassword' as const, data: { hash: await hashPassword(password) } }] : []),
    ];
    // All of a new principal's events go in one append: one transaction, one audit record.
    let state = principalDecider.initialState();
    const events = commands.flatMap((c) => {
      const out = principalDecider.decide(c, state);
      for (const e of out) state = principalDecider.evolve(state, e);
      return out;
    });
    await this.store.appendToStream(streamId, 'no_stream', events, { metadata: meta, audit, inTransaction: this.project });
    caller.audit?.committed();
    return {
      objectId,
      appId,
      tenantId,
      displayName,
      ...(secret && secretId ? { clientSecret: secret, secretId } : {}),
      ...(cert ? { certificateThumbprint: cert.thumbprintSha256 } : {}),
      ...(header ? { identityHeader: header } : {}),
      ...(password ? { password } : {}),
    };
  }

  /** A new generated sign-in password for a user (shown once; the old one stops working). */
  async resetPassword(idOrName: string, caller: Caller): Promise<{ objectId: string; password: string }> {
    const started = performance.now();
    const p = await this.principal(idOrName, caller.tenantId);
    const password = generatePassword();
    await decideAndAppend(this.store, principalDecider, `principal-${p.object_id}`, { type: 'SetUserPassword', data: { hash: await hashPassword(password) } }, {
      metadata: { actor: caller.objectId, tenant: p.tenant_id },
      audit: [this.audit(caller, 'UserPasswordReset', `/principals/${p.object_id}/password`, started)],
      inTransaction: this.project,
    });
    caller.audit?.committed();
    return { objectId: p.object_id, password };
  }

  /** Disables a principal: no more tokens for it, its sign-in sessions refused (idempotent). */
  async disablePrincipal(idOrName: string, reason: string, caller: Caller): Promise<void> {
    const started = performance.now();
    const p = await this.principal(idOrName, caller.tenantId);
    await decideAndAppend(this.store, principalDecider, `principal-${p.object_id}`, { type: 'DisablePrincipal', data: { reason } }, {
      metadata: { actor: caller.objectId, tenant: p.tenant_id },
      audit: [this.audit(caller, 'PrincipalDisable', `/principals/${p.object_id}`, started)],
      inTransaction: this.project,
    });
    caller.audit?.committed();
  }

  /**
   * A public client: an application users sign in to (authorization code + PKCE, device code).
   * Redirect URIs are https, or http on a loopback host (native apps, any port), without a fragment.
   */
  async registerPublicClient(tenantId: string, displayName: string, redirectUris: readonly string[], caller: Caller): Promise<{ appId: string; tenantId: string; displayName: string; redirectUris: readonly string[] }> {
    const started = performance.now();
    if (!/^[A-Za-z0-9][A-Za-z0-9._ @-]{0,119}$/.test(displayName)) throw new DomainError('BadParameter', 'an application name is 1-120 characters: letters, digits, space, dot, dash, underscore, @');
    if (redirectUris.length > 32) throw new DomainError('BadParameter', 'at most 32 redirect URIs');
    for (const uri of redirectUris) checkRedirectUri(uri);
    if (await this.repo.applicationByName(tenantId, displayName)) throw new DomainError('PrincipalExists', `an application named "${displayName}" already exists`);
    const appId = randomUUID();
    const data = { appId, tenantId, displayName, redirectUris: [...redirectUris] };
    await this.store.appendToStream(`application-${appId}`, 'no_stream', [{ type: 'PublicClientRegistered', data }], {
      metadata: { actor: caller.objectId, tenant: tenantId },
      audit: [this.audit({ ...caller, tenantId }, 'ApplicationCreate', `/applications/${appId}`, started, { publicClient: 'true' })],
      inTransaction: this.project,
    });
    caller.audit?.committed();
    return data;
  }

  async principal(idOrName: string, tenantId?: string): Promise<PrincipalRow> {
    const p = await this.repo.principal(idOrName, tenantId);
    if (!p) throw new DomainError('PrincipalNotFound', `no principal "${idOrName.slice(0, 128)}"`);
    return p;
  }

  async addSecret(idOrName: string, caller: Caller, expiresInDays?: number): Promise<{ secretId: string; clientSecret: string; expiresAt: string | null }> {
    const started = performance.now();
    const p = await this.principal(idOrName, caller.tenantId);
    const clientSecret = generateClientSecret();
    const secretId = randomUUID();
    const expiresAt = expiresInDays ? new Date(Date.now() + expiresInDays * 86_400_000).toISOString() : null;
    const hash = await hashClientSecret(clientSecret);
    await decideAndAppend(this.store, principalDecider, `principal-${p.object_id}`, { type: 'AddClientSecret', data: { secretId, hash, hint: secretHint(clientSecret), expiresAt } }, {
      metadata: { actor: caller.objectId, tenant: p.tenant_id },
      audit: [this.audit(caller, 'ClientSecretAdd', `/principals/${p.object_id}/secrets/${secretId}`, started)],
      inTransaction: this.project,
    });
    caller.audit?.committed();
    return { secretId, clientSecret, expiresAt };
  }

  async revokeSecret(idOrName: string, secretId: string, caller: Caller): Promise<void> {
    const started = performance.now();
    const p = await this.principal(idOrName, caller.tenantId);
    if (!isGuid(secretId)) throw new DomainError('CredentialNotFound', 'no such client secret on this principal');
    await decideAndAppend(this.store, principalDecider, `principal-${p.object_id}`, { type: 'RevokeClientSecret', data: { secretId: secretId.toLowerCase() } }, {
      metadata: { actor: caller.objectId, tenant: p.tenant_id },
      audit: [this.audit(caller, 'ClientSecretRevoke', `/principals/${p.object_id}/secrets/${secretId}`, started)],
      inTransaction: this.project,
    });
    caller.audit?.committed();
  }

  async revokeCertificate(idOrName: string, thumbprintSha256: string, caller: Caller): Promise<void> {
    const started = performance.now();
    const p = await this.principal(idOrName, caller.tenantId);
    await decideAndAppend(this.store, principalDecider, `principal-${p.object_id}`, { type: 'RevokeClientCertificate', data: { thumbprintSha256 } }, {
      metadata: { actor: caller.objectId, tenant: p.tenant_id },
      audit: [this.audit(caller, 'ClientCertificateRevoke', `/principals/${p.object_id}/certificates/${thumbprintSha256.slice(0, 64)}`, started)],
      inTransaction: this.project,
    });
    caller.audit?.committed();
  }

  async assignRole(principalIdOrName: string, role: string, scope: string, caller: Caller): Promise<{ id: string; principalId: string; roleDefinitionId: string; roleName: string; scope: string }> {
    const started = performance.now();
    const p = await this.principal(principalIdOrName, caller.tenantId);
    const def = findBuiltInRole(role) ?? (await this.repo.customRole(role));
    if (!def) throw new DomainError('RoleDefinitionNotFound', `no role named "${role.slice(0, 128)}"`);
    if (!isAssignableScope(scope)) throw new DomainError('InvalidScope', `"${scope.slice(0, 256)}" is not an assignable scope (/, /vaults/{v}, /vaults/{v}/secrets, /vaults/{v}/secrets/{name}, /managedHSMs/{pool}/keys, ...)`);
    const normalized = scope === '/' ? '/' : scope.replace(/\/+$/, '');
    const existing = (await this.repo.assignments({ principalId: p.object_id, scope: normalized, roleDefinitionId: def.id }))[0];
    if (existing) return { id: existing.assignment_id, principalId: p.object_id, roleDefinitionId: def.id, roleName: def.roleName, scope: existing.scope };
    const id = randomUUID();
    await decideAndAppend(
      this.store,
      roleAssignmentDecider,
      `roleassignment-${id}`,
      { type: 'CreateRoleAssignment', data: { id, principalId: p.object_id, roleDefinitionId: def.id, scope: normalized } },
      {
        metadata: { actor: caller.objectId, tenant: p.tenant_id },
        audit: [this.audit(caller, 'RoleAssignmentCreate', `/roleAssignments/${id}`, started, { principalId: p.object_id, roleDefinitionId: def.id, scope: normalized })],
        inTransaction: this.project,
      },
    );
    caller.audit?.committed();
    return { id, principalId: p.object_id, roleDefinitionId: def.id, roleName: def.roleName, scope: normalized };
  }

  /** A custom role: data actions (wildcards allowed) minus not-data-actions, assignable at the given scopes. */
  async createRoleDefinition(
    input: { roleName: string; description?: string; dataActions: readonly string[]; notDataActions?: readonly string[]; assignableScopes?: readonly string[] },
    caller: Caller,
  ): Promise<RoleDefinition> {
    const started = performance.now();
    const name = input.roleName.trim();
    if (!/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$/.test(name)) throw new DomainError('BadParameter', 'a role name is 1-100 characters: letters, digits, space, dot, dash, underscore');
    if (findBuiltInRole(name) || (await this.repo.customRole(name))) throw new DomainError('RoleDefinitionExists', `a role named "${name}" already exists`);
    const action = /^[A-Za-z0-9.]+(\/[A-Za-z0-9*._-]+)*$/;
    const dataActions = [...input.dataActions];
    const notDataActions = [...(input.notDataActions ?? [])];
    if (dataActions.length === 0 || dataActions.length > 100) throw new DomainError('BadParameter', 'a custom role needs 1-100 data actions');
    for (const a of [...dataActions, ...notDataActions]) {
      if (typeof a !== 'string' || a.length > 200 || !action.test(a)) throw new DomainError('BadParameter', `"${String(a).slice(0, 200)}" is not a data action (e.g. Microsoft.KeyVault/vaults/secrets/getSecret/action)`);
    }
    const assignableScopes = [...(input.assignableScopes?.length ? input.assignableScopes : ['/'])];
    for (const sc of assignableScopes) if (!isAssignableScope(sc)) throw new DomainError('InvalidScope', `"${sc.slice(0, 256)}" is not an assignable scope`);
    const def: RoleDefinition = {
      id: randomUUID(),
      roleName: name,
      description: (input.description ?? '').slice(0, 1000),
      roleType: 'CustomRole',
      assignableScopes,
      permissions: [{ actions: [], notActions: [], dataActions, notDataActions }],
    };
    await this.store.appendToStream(`roledefinition-${def.id}`, 'no_stream', [{ type: 'RoleDefinitionCreated', data: def }], {
      metadata: { actor: caller.objectId, tenant: caller.tenantId },
      audit: [this.audit(caller, 'RoleDefinitionCreate', `/roleDefinitions/${def.id}`, started, { roleName: name })],
      inTransaction: this.project,
    });
    caller.audit?.committed();
    return def;
  }

  async deleteRoleDefinition(idOrName: string, caller: Caller): Promise<void> {
    const started = performance.now();
    const def = await this.repo.customRole(idOrName);
    if (!def) throw new DomainError(findBuiltInRole(idOrName) ? 'BadParameter' : 'RoleDefinitionNotFound', findBuiltInRole(idOrName) ? 'built-in roles cannot be deleted' : 'no such custom role');
    if ((await this.repo.assignments({ roleDefinitionId: def.id })).length > 0) throw new DomainError('RoleDefinitionInUse', 'the role is still assigned; remove its assignments first');
    await this.store.appendToStream(`roledefinition-${def.id}`, 1, [{ type: 'RoleDefinitionDeleted', data: { id: def.id } }], {
      metadata: { actor: caller.objectId, tenant: caller.tenantId },
      audit: [this.audit(caller, 'RoleDefinitionDelete', `/roleDefinitions/${def.id}`, started)],
      inTransaction: this.project,
    });
    caller.audit?.committed();
  }

  async unassignRole(assignmentId: string, caller: Caller): Promise<void> {
    const started = performance.now();
    if (!isGuid(assignmentId)) throw new DomainError('RoleAssignmentNotFound', 'no such role assignment');
    await decideAndAppend(this.store, roleAssignmentDecider, `roleassignment-${assignmentId.toLowerCase()}`, { type: 'DeleteRoleAssignment', data: { id: assignmentId.toLowerCase() } }, {
      metadata: { actor: caller.objectId, tenant: caller.tenantId },
      audit: [this.audit(caller, 'RoleAssignmentDelete', `/roleAssignments/${assignmentId}`, started)],
      inTransaction: this.project,
    });
    caller.audit?.committed();
  }

  /**
   * Administrator bootstrap: default tenant, an admin service principal holding Key Vault
   * Administrator and Keyledger Auditor on "/", and — so that it administers the Managed HSM
   * pools too (Managed HSM local RBAC is its own role set: Key Vault roles grant nothing there,
   * and Managed HSM Administrator grants no key operation) — Managed HSM Administrator, Crypto
   * Officer and Crypto User on "/". The pool roles are ensured on every start (idempotent), so a
   * deployment bootstrapped before pools existed gets them too.
   */
  async bootstrap(system: Omit<Caller, 'tenantId' | 'objectId'>): Promise<{ tenantId: string; clientId: string; clientSecret: string; created: boolean }> {
    const existing = await this.repo.defaultTenant();
    const systemCaller = (tenantId: string): Caller => ({ ...system, tenantId, objectId: '00000000-0000-0000-0000-000000000000' });
    if (existing) {
      const admin = await this.repo.principal('keyledger-admin', existing.tenant_id);
      if (!admin) throw new Error('default tenant exists without its administrator principal');
      await this.assignPoolRoles(admin.object_id, systemCaller(existing.tenant_id));
      const { clientSecret } = await this.addSecret(admin.object_id, systemCaller(existing.tenant_id));
      return { tenantId: existing.tenant_id, clientId: admin.app_id, clientSecret, created: false };
    }
    const tenantId = await this.createTenant('Default', true, systemCaller('00000000-0000-0000-0000-000000000000'));
    const caller = systemCaller(tenantId);
    const admin = await this.createPrincipal(tenantId, 'keyledger-admin', 'servicePrincipal', caller, { withSecret: true });
    await this.assignRole(admin.objectId, BuiltInRoleIds.keyVaultAdministrator, '/', caller);
    await this.assignRole(admin.objectId, 'Keyledger Auditor', '/', caller);
    if (admin.clientSecret === undefined) throw new Error('the administrator principal was created without its client secret');
    await this.assignPoolRoles(admin.objectId, caller);
    return { tenantId, clientId: admin.appId, clientSecret: admin.clientSecret, created: true };
  }

  /**
   * On every start of a bootstrapped deployment: the bootstrap administrator holds the roles a
   * newer version gives it (the Managed HSM ones came with pools). Idempotent; nothing when
   * there is no default tenant yet.
   */
  async ensureBootstrapRoles(system: Omit<Caller, 'tenantId' | 'objectId'>): Promise<void> {
    const existing = await this.repo.defaultTenant();
    if (!existing) return;
    const admin = await this.repo.principal('keyledger-admin', existing.tenant_id);
    if (!admin) return;
    await this.assignPoolRoles(admin.object_id, { ...system, tenantId: existing.tenant_id, objectId: '00000000-0000-0000-0000-000000000000' });
  }

  /** The Managed HSM roles of the bootstrap administrator, at "/" (existing assignments are kept as they are). */
  private async assignPoolRoles(objectId: string, caller: Caller): Promise<void> {
    for (const role of [BuiltInRoleIds.managedHsmAdministrator, BuiltInRoleIds.managedHsmCryptoOfficer, BuiltInRoleIds.managedHsmCryptoUser]) {
      await this.assignRole(objectId, role, '/', caller);
    }
  }
}

function checkRedirectUri(uri: string): void {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    throw new DomainError('BadParameter', `redirect URI "${uri.slice(0, 200)}" is not an absolute URI`);
  }
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(u.hostname);
  if (uri.length > 2048 || u.hash !== '' || uri.includes('#')) throw new DomainError('BadParameter', 'a redirect URI has no fragment and is at most 2048 characters');
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && loopback)) throw new DomainError('BadParameter', 'a redirect URI is https, or http on localhost / 127.0.0.1 / [::1]');
}

function parseCertificate(pem: string): { thumbprintSha256: string; thumbprintSha1: string; publicKeyPem: string; subject: string; notAfter: string } {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch {
    throw new DomainError('BadParameter', 'the certificate is not a PEM or DER X.509 certificate');
  }
  if (cert.publicKey.asymmetricKeyType !== 'rsa') throw new DomainError('BadParameter', 'client certificates must have an RSA key (assertions are PS256 or RS256)');
  return {
    thumbprintSha256: createHash('sha256').update(cert.raw).digest('base64url'),
    thumbprintSha1: createHash('sha1').update(cert.raw).digest('base64url'),
    publicKeyPem: cert.publicKey.export({ format: 'pem', type: 'spki' }) as string,
    subject: cert.subject,
    notAfter: new Date(cert.validTo).toISOString(),
  };
}
