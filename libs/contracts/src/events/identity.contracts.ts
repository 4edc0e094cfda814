import { z } from 'zod';
import { defineContract, type MessageOf } from './contract.js';

/**
 * Identity's published events (topic keyledger.identity.events.v1), version 1: the shapes
 * identity published before contracts existed, now declared. Credential hashes
 * (`ClientSecretAdded.hash`, `ManagedIdentityHeaderIssued.headerHash`) stay in identity's
 * store and are not part of any contract.
 */
const guid = z.string().regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, 'must be a GUID');
const text = (max = 256) => z.string().min(1).max(max);

export const TenantCreatedV1 = defineContract({
  type: 'TenantCreated',
  schemaVersion: 1,
  source: 'identity',
  schema: z.strictObject({ tenantId: guid, name: text(), isDefault: z.boolean() }),
});

export const PrincipalKindSchema = z.enum(['servicePrincipal', 'managedIdentity', 'user']);

export const PrincipalCreatedV1 = defineContract({
  type: 'PrincipalCreated',
  schemaVersion: 1,
  source: 'identity',
  schema: z.strictObject({ objectId: guid, tenantId: guid, appId: guid, kind: PrincipalKindSchema, displayName: text(), boundTo: z.string().nullable() }),
});

export const ClientSecretAddedV1 = defineContract({
  type: 'ClientSecretAdded',
  schemaVersion: 1,
  source: 'identity',
  schema: z.strictObject({ secretId: guid, hint: z.string().max(16), expiresAt: z.string().nullable() }),
});

export const ClientSecretRevokedV1 = defineContract({ type: 'ClientSecretRevoked', schemaVersion: 1, source: 'identity', schema: z.strictObject({ secretId: guid }) });

export const ClientCertificateRegisteredV1 = defineContract({
  type: 'ClientCertificateRegistered',
  schemaVersion: 1,
  source: 'identity',
  schema: z.strictObject({ thumbprintSha256: text(128), thumbprintSha1: text(128), publicKeyPem: text(16_384), subject: z.string().max(4096), notAfter: text(64) }),
});

export const ClientCertificateRevokedV1 = defineContract({ type: 'ClientCertificateRevoked', schemaVersion: 1, source: 'identity', schema: z.strictObject({ thumbprintSha256: text(128) }) });

/** That a managed-identity header was issued; the header's hash is never published. */
export const ManagedIdentityHeaderIssuedV1 = defineContract({ type: 'ManagedIdentityHeaderIssued', schemaVersion: 1, source: 'identity', schema: z.strictObject({}) });

export const PrincipalDisabledV1 = defineContract({ type: 'PrincipalDisabled', schemaVersion: 1, source: 'identity', schema: z.strictObject({ reason: z.string().max(1024) }) });

/** That a user's sign-in password was set; its (argon2id) hash is never published. */
export const UserPasswordSetV1 = defineContract({ type: 'UserPasswordSet', schemaVersion: 1, source: 'identity', schema: z.strictObject({}) });

/** A public client (an app that signs users in: authorization code + PKCE, device code) and its redirect URIs. */
export const PublicClientRegisteredV1 = defineContract({
  type: 'PublicClientRegistered',
  schemaVersion: 1,
  source: 'identity',
  schema: z.strictObject({ appId: guid, tenantId: guid, displayName: text(), redirectUris: z.array(text(2048)).max(32) }),
});

/** Azure RBAC role assignment (libs/auth's RBAC read model consumes it). */
export const RoleAssignmentSchema = z.strictObject({
  /** The role assignment id (a GUID). */
  id: guid,
  /** Object id (`oid`) of the user, service principal or managed identity. */
  principalId: text(),
  /** GUID, or an Azure-style id ending in `/roleDefinitions/{guid}`. */
  roleDefinitionId: text(512),
  /** `/`, `/vaults/{v}`, `/vaults/{v}/secrets/{name}`, `/managedHSMs/{pool}/keys/{name}`, … */
  scope: text(1024),
});

const actionList = z.array(text()).max(512).readonly();

/** One permission block of a role definition (Azure's `properties.permissions[]`). */
export const RolePermissionSchema = z.strictObject({
  actions: actionList.default([]),
  notActions: actionList.default([]),
  dataActions: actionList.default([]),
  notDataActions: actionList.default([]),
  condition: z.string().optional(),
  conditionVersion: z.string().optional(),
});

export const RoleTypeSchema = z.enum(['BuiltInRole', 'AKVBuiltInRole', 'CustomRole']);

export const RoleDefinitionSchema = z.strictObject({
  id: text(512),
  roleName: text(),
  description: z.string().max(4096).default(''),
  roleType: RoleTypeSchema.default('CustomRole'),
  assignableScopes: actionList.default(['/']),
  permissions: z.array(RolePermissionSchema).max(16).readonly(),
});

export const RoleAssignmentCreatedV1 = defineContract({ type: 'RoleAssignmentCreated', schemaVersion: 1, source: 'identity', schema: RoleAssignmentSchema });
export const RoleAssignmentDeletedV1 = defineContract({ type: 'RoleAssignmentDeleted', schemaVersion: 1, source: 'identity', schema: z.strictObject({ id: text() }) });
export const RoleDefinitionCreatedV1 = defineContract({ type: 'RoleDefinitionCreated', schemaVersion: 1, source: 'identity', schema: RoleDefinitionSchema });
/** Not produced by identity yet; consumers already accept it. */
export const RoleDefinitionUpdatedV1 = defineContract({ type: 'RoleDefinitionUpdated', schemaVersion: 1, source: 'identity', schema: RoleDefinitionSchema });
export const RoleDefinitionDeletedV1 = defineContract({ type: 'RoleDefinitionDeleted', schemaVersion: 1, source: 'identity', schema: z.strictObject({ id: text(512) }) });

export type RoleAssignmentData = z.output<typeof RoleAssignmentSchema>;
export type RoleDefinitionData = z.output<typeof RoleDefinitionSchema>;
export type RolePermissionData = z.output<typeof RolePermissionSchema>;

export const PRINCIPAL_CONTRACTS = [
  PrincipalCreatedV1,
  ClientSecretAddedV1,
  ClientSecretRevokedV1,
  ClientCertificateRegisteredV1,
  ClientCertificateRevokedV1,
  ManagedIdentityHeaderIssuedV1,
  PrincipalDisabledV1,
  UserPasswordSetV1,
] as const;
export const RBAC_CONTRACTS = [RoleAssignmentCreatedV1, RoleAssignmentDeletedV1, RoleDefinitionCreatedV1, RoleDefinitionUpdatedV1, RoleDefinitionDeletedV1] as const;
export const IDENTITY_CONTRACTS = [TenantCreatedV1, ...PRINCIPAL_CONTRACTS, PublicClientRegisteredV1, ...RBAC_CONTRACTS] as const;

export type RbacContractEvent = MessageOf<(typeof RBAC_CONTRACTS)[number]>;
export type PrincipalContractEvent = MessageOf<(typeof PRINCIPAL_CONTRACTS)[number]>;
export type IdentityContractEvent = MessageOf<(typeof IDENTITY_CONTRACTS)[number]>;
