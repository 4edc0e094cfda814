import { v, type EventRegistry } from '#libs/kernel';
import {
  ClientCertificateRegisteredV1,
  ClientCertificateRevokedV1,
  ClientSecretAddedV1,
  ClientSecretRevokedV1,
  ManagedIdentityHeaderIssuedV1,
  PrincipalCreatedV1,
  PrincipalDisabledV1,
  PublicClientRegisteredV1,
  UserPasswordSetV1,
  RoleAssignmentCreatedV1,
  RoleAssignmentDeletedV1,
  RoleDefinitionCreatedV1,
  RoleDefinitionDeletedV1,
  TenantCreatedV1,
  validatorOf,
  type EventOf,
} from '#libs/contracts';

/** Identity's events. Streams: `tenant-{tid}`, `principal-{oid}`, `roleassignment-{id}`, `roledefinition-{id}`. */
export type PrincipalKind = 'servicePrincipal' | 'managedIdentity' | 'user';

export type TenantCreated = { readonly type: 'TenantCreated'; readonly data: { readonly tenantId: string; readonly name: string; readonly isDefault: boolean } };
export type PrincipalCreated = {
  readonly type: 'PrincipalCreated';
  readonly data: { readonly objectId: string; readonly tenantId: string; readonly appId: string; readonly kind: PrincipalKind; readonly displayName: string; readonly boundTo: string | null };
};
/** `hash` is a scrypt hash; it stays in identity's store and is dropped from the published copy. */
export type ClientSecretAdded = {
  readonly type: 'ClientSecretAdded';
  readonly data: { readonly secretId: string; readonly hash: string; readonly hint: string; readonly expiresAt: string | null };
};
export type ClientSecretRevoked = { readonly type: 'ClientSecretRevoked'; readonly data: { readonly secretId: string } };
export type ClientCertificateRegistered = {
  readonly type: 'ClientCertificateRegistered';
  readonly data: { readonly thumbprintSha256: string; readonly thumbprintSha1: string; readonly publicKeyPem: string; readonly subject: string; readonly notAfter: string };
};
export type ClientCertificateRevoked = { readonly type: 'ClientCertificateRevoked'; readonly data: { readonly thumbprintSha256: string } };
export type ManagedIdentityHeaderIssued = { readonly type: 'ManagedIdentityHeaderIssued'; readonly data: { readonly headerHash: string } };
export type PrincipalDisabled = { readonly type: 'PrincipalDisabled'; readonly data: { readonly reason: string } };
/** `hash` is an argon2id hash; it stays in identity's store and is dropped from the published copy. */
export type UserPasswordSet = { readonly type: 'UserPasswordSet'; readonly data: { readonly hash: string } };
/** Stream `application-{appId}`: a public client registration. */
export type PublicClientRegistered = {
  readonly type: 'PublicClientRegistered';
  readonly data: { readonly appId: string; readonly tenantId: string; readonly displayName: string; readonly redirectUris: readonly string[] };
};
/** Identity's role events are stored exactly as their contracts (libs/contracts) publish them: declared once, there. */
export type RoleAssignmentCreated = EventOf<typeof RoleAssignmentCreatedV1>;
export type RoleAssignmentDeleted = EventOf<typeof RoleAssignmentDeletedV1>;
export type RoleDefinitionCreated = EventOf<typeof RoleDefinitionCreatedV1>;
export type RoleDefinitionDeleted = EventOf<typeof RoleDefinitionDeletedV1>;

export type PrincipalEvent =
  | PrincipalCreated
  | ClientSecretAdded
  | ClientSecretRevoked
  | ClientCertificateRegistered
  | ClientCertificateRevoked
  | ManagedIdentityHeaderIssued
  | PrincipalDisabled
  | UserPasswordSet;
export type RoleAssignmentEvent = RoleAssignmentCreated | RoleAssignmentDeleted;
export type IdentityEvent = TenantCreated | PrincipalEvent | PublicClientRegistered | RoleAssignmentEvent | RoleDefinitionCreated | RoleDefinitionDeleted;

const guid = (x: unknown): boolean => typeof x === 'string' && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(x);
const kinds = (x: unknown): boolean => x === 'servicePrincipal' || x === 'managedIdentity' || x === 'user';

export function registerIdentityEvents(r: EventRegistry): EventRegistry {
  const drop = (field: string) => (d: Record<string, unknown>) => Object.fromEntries(Object.entries(d).filter(([k]) => k !== field));
  return r
    .define({ type: 'TenantCreated', schemaVersion: 1, validate: v.object({ tenantId: guid, name: v.nonEmpty, isDefault: v.boolean }), contract: TenantCreatedV1 })
    .define({
      type: 'PrincipalCreated',
      schemaVersion: 1,
      validate: v.object({ objectId: guid, tenantId: guid, appId: guid, kind: kinds, displayName: v.nonEmpty, boundTo: v.nullable(v.string) }),
      contract: PrincipalCreatedV1,
    })
    .define({
      type: 'ClientSecretAdded',
      schemaVersion: 1,
      validate: v.object({ secretId: guid, hash: v.nonEmpty, hint: v.string, expiresAt: v.nullable(v.string) }),
      publish: drop('hash'),
      contract: ClientSecretAddedV1,
    })
    .define({ type: 'ClientSecretRevoked', schemaVersion: 1, validate: v.object({ secretId: guid }), contract: ClientSecretRevokedV1 })
    .define({
      type: 'ClientCertificateRegistered',
      schemaVersion: 1,
      validate: v.object({ thumbprintSha256: v.nonEmpty, thumbprintSha1: v.nonEmpty, publicKeyPem: v.nonEmpty, subject: v.string, notAfter: v.nonEmpty }),
      contract: ClientCertificateRegisteredV1,
    })
    .define({ type: 'ClientCertificateRevoked', schemaVersion: 1, validate: v.object({ thumbprintSha256: v.nonEmpty }), contract: ClientCertificateRevokedV1 })
    .define({ type: 'ManagedIdentityHeaderIssued', schemaVersion: 1, validate: v.object({ headerHash: v.nonEmpty }), publish: drop('headerHash'), contract: ManagedIdentityHeaderIssuedV1 })
    .define({ type: 'PrincipalDisabled', schemaVersion: 1, validate: v.object({ reason: v.string }), contract: PrincipalDisabledV1 })
    .define({ type: 'UserPasswordSet', schemaVersion: 1, validate: v.object({ hash: v.nonEmpty }), publish: drop('hash'), contract: UserPasswordSetV1 })
    .define({
      type: 'PublicClientRegistered',
      schemaVersion: 1,
      validate: v.object({ appId: guid, tenantId: guid, displayName: v.nonEmpty, redirectUris: v.arrayOf(v.string) }),
      contract: PublicClientRegisteredV1,
    })
    .define({ type: 'RoleAssignmentCreated', schemaVersion: 1, validate: validatorOf(RoleAssignmentCreatedV1), contract: RoleAssignmentCreatedV1 })
    .define({ type: 'RoleAssignmentDeleted', schemaVersion: 1, validate: validatorOf(RoleAssignmentDeletedV1), contract: RoleAssignmentDeletedV1 })
    .define({ type: 'RoleDefinitionCreated', schemaVersion: 1, validate: validatorOf(RoleDefinitionCreatedV1), contract: RoleDefinitionCreatedV1 })
    .define({ type: 'RoleDefinitionDeleted', schemaVersion: 1, validate: validatorOf(RoleDefinitionDeletedV1), contract: RoleDefinitionDeletedV1 });
}
