import { DomainError, assertNever, type Decider } from '#libs/kernel';
import type { PrincipalEvent, PrincipalKind } from './identity.events.js';

export type PrincipalState =
  | { readonly status: 'absent' }
  | {
      readonly status: 'active' | 'disabled';
      readonly objectId: string;
      readonly kind: PrincipalKind;
      readonly secrets: ReadonlyMap<string, { readonly revoked: boolean }>;
      readonly certificates: ReadonlyMap<string, { readonly revoked: boolean }>;
    };

export type PrincipalCommand =
  | {
      readonly type: 'CreatePrincipal';
      readonly data: { readonly objectId: string; readonly tenantId: string; readonly appId: string; readonly kind: PrincipalKind; readonly displayName: string; readonly boundTo: string | null };
    }
  | { readonly type: 'AddClientSecret'; readonly data: { readonly secretId: string; readonly hash: string; readonly hint: string; readonly expiresAt: string | null } }
  | { readonly type: 'RevokeClientSecret'; readonly data: { readonly secretId: string } }
  | {
      readonly type: 'RegisterClientCertificate';
      readonly data: { readonly thumbprintSha256: string; readonly thumbprintSha1: string; readonly publicKeyPem: string; readonly subject: string; readonly notAfter: string };
    }
  | { readonly type: 'RevokeClientCertificate'; readonly data: { readonly thumbprintSha256: string } }
  | { readonly type: 'IssueManagedIdentityHeader'; readonly data: { readonly headerHash: string } }
  | { readonly type: 'DisablePrincipal'; readonly data: { readonly reason: string } }
  | { readonly type: 'SetUserPassword'; readonly data: { readonly hash: string } };

const NAME = /^[A-Za-z0-9][A-Za-z0-9._ @-]{0,119}$/;

function active(state: PrincipalState): Extract<PrincipalState, { status: 'active' | 'disabled' }> {
  if (state.status === 'absent') throw new DomainError('PrincipalNotFound', 'the principal does not exist');
  return state;
}

export const principalDecider: Decider<PrincipalState, PrincipalCommand, PrincipalEvent> = {
  initialState: () => ({ status: 'absent' }),
  decide(command, state) {
    switch (command.type) {
      case 'CreatePrincipal':
        if (state.status !== 'absent') throw new DomainError('PrincipalExists', 'the principal already exists');
        if (!NAME.test(command.data.displayName)) {
          throw new DomainError('BadParameter', 'a display name is 1-120 characters: letters, digits, space, dot, dash, underscore, @');
        }
        return [{ type: 'PrincipalCreated', data: command.data }];
      case 'AddClientSecret': {
        const s = active(state);
        if (s.kind === 'managedIdentity') throw new DomainError('BadParameter', 'managed identities have no client secrets');
        return [{ type: 'ClientSecretAdded', data: command.data }];
      }
      case 'RevokeClientSecret': {
        const s = active(state);
        const secret = s.secrets.get(command.data.secretId);
        if (!secret) throw new DomainError('CredentialNotFound', 'no such client secret on this principal');
        return secret.revoked ? [] : [{ type: 'ClientSecretRevoked', data: command.data }];
      }
      case 'RegisterClientCertificate': {
        const s = active(state);
        if (s.kind !== 'servicePrincipal') throw new DomainError('BadParameter', 'only service principals have client certificates');
        if (s.certificates.has(command.data.thumbprintSha256)) throw new DomainError('CredentialExists', 'this certificate is already registered');
        return [{ type: 'ClientCertificateRegistered', data: command.data }];
      }
      case 'RevokeClientCertificate': {
        const s = active(state);
        const cert = s.certificates.get(command.data.thumbprintSha256);
        if (!cert) throw new DomainError('CredentialNotFound', 'no such certificate on this principal');
        return cert.revoked ? [] : [{ type: 'ClientCertificateRevoked', data: command.data }];
      }
      case 'IssueManagedIdentityHeader': {
        const s = active(state);
        if (s.kind !== 'managedIdentity') throw new DomainError('BadParameter', 'only managed identities have an identity header');
        return [{ type: 'ManagedIdentityHeaderIssued', data: command.data }];
      }
      case 'DisablePrincipal': {
        const s = active(state);
        return s.status === 'disabled' ? [] : [{ type: 'PrincipalDisabled', data: command.data }];
      }
      case 'SetUserPassword': {
        const s = active(state);
        if (s.kind !== 'user') throw new DomainError('BadParameter', 'only users have a sign-in password');
        return [{ type: 'UserPasswordSet', data: command.data }];
      }
      default:
        return assertNever(command, 'command');
    }
  },
  evolve(state, event) {
    switch (event.type) {
      case 'PrincipalCreated':
        return { status: 'active', objectId: event.data.objectId, kind: event.data.kind, secrets: new Map(), certificates: new Map() };
      case 'ClientSecretAdded': {
        const s = active(state);
        return { ...s, secrets: new Map(s.secrets).set(event.data.secretId, { revoked: false }) };
      }
      case 'ClientSecretRevoked': {
        const s = active(state);
        return { ...s, secrets: new Map(s.secrets).set(event.data.secretId, { revoked: true }) };
      }
      case 'ClientCertificateRegistered': {
        const s = active(state);
        return { ...s, certificates: new Map(s.certificates).set(event.data.thumbprintSha256, { revoked: false }) };
      }
      case 'ClientCertificateRevoked': {
        const s = active(state);
        return { ...s, certificates: new Map(s.certificates).set(event.data.thumbprintSha256, { revoked: true }) };
      }
      case 'ManagedIdentityHeaderIssued':
      case 'UserPasswordSet':
        return state;
      case 'PrincipalDisabled':
        return { ...active(state), status: 'disabled' };
      default:
        return assertNever(event, 'event');
    }
  },
};
