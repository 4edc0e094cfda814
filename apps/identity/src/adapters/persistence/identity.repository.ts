import { Inject, Injectable } from '@nestjs/common';
import { DATABASE, type Database, type Sql } from '#libs/platform';
import type { RecordedEvent } from '#libs/eventstore';
import type { RoleDefinition } from '#libs/auth';
import type { IdentityEvent, PrincipalKind } from '../../domain/identity.events.js';

export type PrincipalRow = {
  object_id: string;
  tenant_id: string;
  app_id: string;
  kind: PrincipalKind;
  display_name: string;
  bound_to: string | null;
  enabled: boolean;
  created_at: Date;
};
export type SecretRow = { secret_id: string; object_id: string; hash: string; hint: string; expires_at: Date | null; revoked_at: Date | null };
export type CertificateRow = { thumbprint_sha256: string; thumbprint_sha1: string; object_id: string; public_key_pem: string; not_after: Date; revoked_at: Date | null };
export type AssignmentRow = { assignment_id: string; principal_id: string; role_definition_id: string; scope: string; created_at: Date };
export type TenantRow = { tenant_id: string; name: string; is_default: boolean; created_at: Date };
/** A user with the password it signs in with (hash and when it was set). */
export type SignInUserRow = PrincipalRow & { password_hash: string | null; password_set_at: Date | null };
export type ApplicationRow = { app_id: string; tenant_id: string; display_name: string; redirect_uris: string[]; public_client: boolean; created_at: Date };

/** The identity read models: written only by `project` inside the append transaction. */
@Injectable()
export class IdentityRepository {
  constructor(@Inject(DATABASE) private readonly db: Database) {}

  private get s(): string {
    return this.db.schema;
  }

  async project(tx: Sql, events: readonly RecordedEvent<IdentityEvent>[]): Promise<void> {
    for (const e of events) {
      const at = e.metadata.time;
      const oid = e.streamId.startsWith('principal-') ? e.streamId.slice('principal-'.length) : '';
      switch (e.type) {
        case 'TenantCreated':
          await tx.query(`INSERT INTO ${this.s}.tenants (tenant_id, name, is_default, created_at) VALUES ($1, $2, $3, $4)`, [e.data.tenantId, e.data.name, e.data.isDefault, at]);
          break;
        case 'PrincipalCreated':
          await tx.query(
            `INSERT INTO ${this.s}.principals (object_id, tenant_id, app_id, kind, display_name, bound_to, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
            [e.data.objectId, e.data.tenantId, e.data.appId, e.data.kind, e.data.displayName, e.data.boundTo, at],
          );
          break;
        case 'ClientSecretAdded':
          await tx.query(`INSERT INTO ${this.s}.client_secrets (secret_id, object_id, hash, hint, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6)`, [
            e.data.secretId,
            oid,
            e.data.hash,
            e.data.hint,
            e.data.expiresAt,
            at,
          ]);
          break;
        case 'ClientSecretRevoked':
          await tx.query(`UPDATE ${this.s}.client_secrets SET revoked_at = $2 WHERE secret_id = $1`, [e.data.secretId, at]);
          break;
        case 'ClientCertificateRegistered':
          await tx.query(
            `INSERT INTO ${this.s}.client_certificates (thumbprint_sha256, thumbprint_sha1, object_id, public_key_pem, subject, not_after, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
            [e.data.thumbprintSha256, e.data.thumbprintSha1, oid, e.data.publicKeyPem, e.data.subject, e.data.notAfter, at],
          );
          break;
        case 'ClientCertificateRevoked':
          await tx.query(`UPDATE ${this.s}.client_certificates SET revoked_at = $2 WHERE thumbprint_sha256 = $1`, [e.data.thumbprintSha256, at]);
          break;
        case 'ManagedIdentityHeaderIssued':
          await tx.query(
            `INSERT INTO ${this.s}.managed_identity_headers (object_id, header_hash) VALUES ($1, $2) ON CONFLICT (object_id) DO UPDATE SET header_hash = EXCLUDED.header_hash`,
            [oid, e.data.headerHash],
          );
          break;
        case 'PrincipalDisabled':
          await tx.query(`UPDATE ${this.s}.principals SET enabled = false WHERE object_id = $1`, [oid]);
          break;
        case 'UserPasswordSet':
          await tx.query(
            `INSERT INTO ${this.s}.user_passwords (object_id, hash, set_at) VALUES ($1, $2, $3) ON CONFLICT (object_id) DO UPDATE SET hash = EXCLUDED.hash, set_at = EXCLUDED.set_at`,
            [oid, e.data.hash, at],
          );
          break;
        case 'PublicClientRegistered':
          await tx.query(`INSERT INTO ${this.s}.applications (app_id, tenant_id, display_name, redirect_uris, public_client, created_at) VALUES ($1, $2, $3, $4, true, $5)`, [
            e.data.appId,
            e.data.tenantId,
            e.data.displayName,
            JSON.stringify(e.data.redirectUris),
            at,
          ]);
          break;
        case 'RoleAssignmentCreated':
          await tx.query(`INSERT INTO ${this.s}.role_assignments (assignment_id, principal_id, role_definition_id, scope, created_at) VALUES ($1, $2, $3, $4, $5)`, [
            e.data.id,
            e.data.principalId,
            e.data.roleDefinitionId,
            e.data.scope,
            at,
          ]);
          break;
        case 'RoleAssignmentDeleted':
          await tx.query(`DELETE FROM ${this.s}.role_assignments WHERE assignment_id = $1`, [e.data.id]);
          break;
        case 'RoleDefinitionCreated':
          await tx.query(`INSERT INTO ${this.s}.role_definitions (id, role_name, definition, created_at) VALUES ($1, $2, $3, $4)`, [
            e.data.id,
            e.data.roleName,
            JSON.stringify(e.data),
            at,
          ]);
          break;
        case 'RoleDefinitionDeleted':
          await tx.query(`DELETE FROM ${this.s}.role_definitions WHERE id = $1`, [e.data.id]);
          break;
      }
    }
  }

  async defaultTenant(): Promise<TenantRow | undefined> {
    return (await this.db.query<TenantRow>(`SELECT * FROM ${this.s}.tenants ORDER BY is_default DESC, created_at LIMIT 1`))[0];
  }

  async tenants(): Promise<TenantRow[]> {
    return this.db.query<TenantRow>(`SELECT * FROM ${this.s}.tenants ORDER BY created_at`);
  }

  async tenantExists(tenantId: string): Promise<boolean> {
    if (!isGuid(tenantId)) return false;
    return (await this.db.query(`SELECT 1 FROM ${this.s}.tenants WHERE tenant_id = $1`, [tenantId])).length > 0;
  }

  async principalByAppId(tenantId: string, appId: string): Promise<PrincipalRow | undefined> {
    if (!isGuid(appId) || !isGuid(tenantId)) return undefined;
    return (await this.db.query<PrincipalRow>(`SELECT * FROM ${this.s}.principals WHERE app_id = $1 AND tenant_id = $2`, [appId, tenantId]))[0];
  }

  async principal(idOrName: string, tenantId?: string): Promise<PrincipalRow | undefined> {
    if (isGuid(idOrName)) {
      return (await this.db.query<PrincipalRow>(`SELECT * FROM ${this.s}.principals WHERE object_id = $1 OR app_id = $1`, [idOrName]))[0];
    }
    return (
      await this.db.query<PrincipalRow>(`SELECT * FROM ${this.s}.principals WHERE display_name = $1 AND ($2::uuid IS NULL OR tenant_id = $2) ORDER BY created_at LIMIT 1`, [
        idOrName,
        tenantId ?? null,
      ])
    )[0];
  }

  async principals(tenantId: string): Promise<PrincipalRow[]> {
    return this.db.query<PrincipalRow>(`SELECT * FROM ${this.s}.principals WHERE tenant_id = $1 ORDER BY created_at`, [tenantId]);
  }

  async activeSecrets(objectId: string): Promise<SecretRow[]> {
    return this.db.query<SecretRow>(
      `SELECT * FROM ${this.s}.client_secrets WHERE object_id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()) ORDER BY created_at DESC`,
      [objectId],
    );
  }

  async secrets(objectId: string): Promise<SecretRow[]> {
    return this.db.query<SecretRow>(`SELECT * FROM ${this.s}.client_secrets WHERE object_id = $1 ORDER BY created_at`, [objectId]);
  }

  async certificateByThumbprint(thumbprint: { sha256?: string; sha1?: string }): Promise<CertificateRow | undefined> {
    if (thumbprint.sha256) return (await this.db.query<CertificateRow>(`SELECT * FROM ${this.s}.client_certificates WHERE thumbprint_sha256 = $1`, [thumbprint.sha256]))[0];
    if (thumbprint.sha1) return (await this.db.query<CertificateRow>(`SELECT * FROM ${this.s}.client_certificates WHERE thumbprint_sha1 = $1`, [thumbprint.sha1]))[0];
    return undefined;
  }

  async managedIdentityByHeaderHash(hash: string): Promise<PrincipalRow | undefined> {
    return (
      await this.db.query<PrincipalRow>(
        `SELECT p.* FROM ${this.s}.managed_identity_headers h JOIN ${this.s}.principals p ON p.object_id = h.object_id WHERE h.header_hash = $1`,
        [hash],
      )
    )[0];
  }

  async managedIdentitiesBoundTo(host: string): Promise<PrincipalRow[]> {
    return this.db.query<PrincipalRow>(`SELECT * FROM ${this.s}.principals WHERE kind = 'managedIdentity' AND bound_to = $1 AND enabled ORDER BY created_at`, [host]);
  }

  async assignments(filter: { principalId?: string; scope?: string; roleDefinitionId?: string } = {}): Promise<AssignmentRow[]> {
    return this.db.query<AssignmentRow>(
      `SELECT * FROM ${this.s}.role_assignments
        WHERE ($1::uuid IS NULL OR principal_id = $1) AND ($2::text IS NULL OR lower(scope) = lower($2)) AND ($3::text IS NULL OR role_definition_id = $3)
        ORDER BY created_at`,
      [filter.principalId ?? null, filter.scope ?? null, filter.roleDefinitionId ?? null],
    );
  }

  async customRole(idOrName: string): Promise<RoleDefinition | undefined> {
    const rows = await this.db.query<{ definition: RoleDefinition }>(
      `SELECT definition FROM ${this.s}.role_definitions WHERE id::text = lower($1) OR lower(role_name) = lower($1)`,
      [idOrName],
    );
    return rows[0]?.definition;
  }

  async customRoles(): Promise<RoleDefinition[]> {
    return (await this.db.query<{ definition: RoleDefinition }>(`SELECT definition FROM ${this.s}.role_definitions ORDER BY created_at`)).map((r) => r.definition);
  }

  /** A user by sign-in name (display name, case-insensitive) in a tenant, with its password hash and when it was set. */
  async userForSignIn(tenantId: string, username: string): Promise<SignInUserRow | undefined> {
    if (!isGuid(tenantId)) return undefined;
    return (
      await this.db.query<SignInUserRow>(
        `SELECT p.*, pw.hash AS password_hash, pw.set_at AS password_set_at FROM ${this.s}.principals p LEFT JOIN ${this.s}.user_passwords pw ON pw.object_id = p.object_id
          WHERE p.tenant_id = $1 AND p.kind = 'user' AND lower(p.display_name) = lower($2) ORDER BY p.created_at LIMIT 1`,
        [tenantId, username],
      )
    )[0];
  }

  async principalById(objectId: string): Promise<PrincipalRow | undefined> {
    if (!isGuid(objectId)) return undefined;
    return (await this.db.query<PrincipalRow>(`SELECT * FROM ${this.s}.principals WHERE object_id = $1`, [objectId]))[0];
  }

  async application(tenantId: string, appId: string): Promise<ApplicationRow | undefined> {
    if (!isGuid(appId) || !isGuid(tenantId)) return undefined;
    return (await this.db.query<ApplicationRow>(`SELECT * FROM ${this.s}.applications WHERE app_id = $1 AND tenant_id = $2`, [appId.toLowerCase(), tenantId]))[0];
  }

  async applicationByName(tenantId: string, name: string): Promise<ApplicationRow | undefined> {
    return (await this.db.query<ApplicationRow>(`SELECT * FROM ${this.s}.applications WHERE tenant_id = $1 AND display_name = $2`, [tenantId, name]))[0];
  }

  async applications(tenantId: string): Promise<ApplicationRow[]> {
    return this.db.query<ApplicationRow>(`SELECT * FROM ${this.s}.applications WHERE tenant_id = $1 ORDER BY created_at`, [tenantId]);
  }

  /** Records a client assertion id; false when it was seen before (replay). */
  async useAssertion(jti: string, expiresAt: Date): Promise<boolean> {
    const rows = await this.db.query(`INSERT INTO ${this.s}.used_assertions (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING RETURNING 1`, [jti, expiresAt]);
    if (Math.random() < 0.01) await this.db.query(`DELETE FROM ${this.s}.used_assertions WHERE expires_at < now()`);
    return rows.length === 1;
  }
}

export const isGuid = (s: string): boolean => /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(s);
