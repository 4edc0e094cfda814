import { describe, expect, it } from '@jest/globals';
import { deciderSpec } from '#libs/testing';
import { principalDecider, type PrincipalCommand } from './principal.decider.js';
import type { PrincipalEvent, PrincipalKind } from './identity.events.js';

const OID = '0b6a1e52-1f4e-4a57-9e0c-2d8f0c1d0001';
const TENANT = '4eeb1e29-c100-4249-9b4c-7c16d469679f';
const APP = '5c1b7d2e-8a43-4f0e-b3a1-6e2c9d4f0002';
const SECRET_ID = '7d2e8f3a-9b54-4c1f-a4b2-7f3d0e5a0003';
const THUMB = 'b'.repeat(64);

const create = (kind: PrincipalKind = 'servicePrincipal', displayName = 'build-agent'): PrincipalCommand => ({
  type: 'CreatePrincipal',
  data: { objectId: OID, tenantId: TENANT, appId: APP, kind, displayName, boundTo: null },
});
const created = (kind: PrincipalKind = 'servicePrincipal'): PrincipalEvent => ({
  type: 'PrincipalCreated',
  data: { objectId: OID, tenantId: TENANT, appId: APP, kind, displayName: 'build-agent', boundTo: null },
});
const secretData = { secretId: SECRET_ID, hash: 'scrypt$16384$8$1$c2FsdA$aGFzaA', hint: 'abc', expiresAt: null };
const secretAdded: PrincipalEvent = { type: 'ClientSecretAdded', data: secretData };
const secretRevoked: PrincipalEvent = { type: 'ClientSecretRevoked', data: { secretId: SECRET_ID } };
const certData = { thumbprintSha256: THUMB, thumbprintSha1: 'c'.repeat(40), publicKeyPem: '-----BEGIN PUBLIC KEY-----\nMA==\n-----END PUBLIC KEY-----', subject: 'CN=build-agent', notAfter: '2030-01-01T00:00:00Z' };
const certRegistered: PrincipalEvent = { type: 'ClientCertificateRegistered', data: certData };
const certRevoked: PrincipalEvent = { type: 'ClientCertificateRevoked', data: { thumbprintSha256: THUMB } };
const disabled: PrincipalEvent = { type: 'PrincipalDisabled', data: { reason: 'offboarded' } };

describe('principal decider', () => {
  it('creates a principal once; a second create is PrincipalExists', () => {
    deciderSpec(principalDecider).given([]).when(create()).then([created()]);
    deciderSpec(principalDecider).given([created()]).when(create()).thenThrows('PrincipalExists');
    deciderSpec(principalDecider)
      .given([])
      .when(create())
      .thenState({ status: 'active', objectId: OID, kind: 'servicePrincipal', secrets: new Map(), certificates: new Map() });
  });

  it('refuses a display name that is empty, too long or has other characters (BadParameter)', () => {
    for (const name of ['', ' leading-space', 'x'.repeat(121), 'semi;colon', 'new\nline']) {
      deciderSpec(principalDecider).given([]).when(create('servicePrincipal', name)).thenThrows('BadParameter');
    }
    deciderSpec(principalDecider)
      .given([])
      .when(create('user', 'alice@contoso.com'))
      .then([{ type: 'PrincipalCreated', data: { objectId: OID, tenantId: TENANT, appId: APP, kind: 'user', displayName: 'alice@contoso.com', boundTo: null } }]);
  });

  it('every command on a principal that does not exist is PrincipalNotFound', () => {
    const commands: PrincipalCommand[] = [
      { type: 'AddClientSecret', data: secretData },
      { type: 'RevokeClientSecret', data: { secretId: SECRET_ID } },
      { type: 'RegisterClientCertificate', data: certData },
      { type: 'RevokeClientCertificate', data: { thumbprintSha256: THUMB } },
      { type: 'IssueManagedIdentityHeader', data: { headerHash: 'h' } },
      { type: 'DisablePrincipal', data: { reason: 'x' } },
    ];
    for (const c of commands) deciderSpec(principalDecider).given([]).when(c).thenThrows('PrincipalNotFound');
  });

  it('adds and revokes client secrets; revoking twice changes nothing; an unknown secret is CredentialNotFound', () => {
    deciderSpec(principalDecider).given([created()]).when({ type: 'AddClientSecret', data: secretData }).then([secretAdded]);
    deciderSpec(principalDecider).given([created(), secretAdded]).when({ type: 'RevokeClientSecret', data: { secretId: SECRET_ID } }).then([secretRevoked]);
    deciderSpec(principalDecider).given([created(), secretAdded, secretRevoked]).when({ type: 'RevokeClientSecret', data: { secretId: SECRET_ID } }).then([]);
    deciderSpec(principalDecider).given([created()]).when({ type: 'RevokeClientSecret', data: { secretId: SECRET_ID } }).thenThrows('CredentialNotFound');
    deciderSpec(principalDecider)
      .given([created(), secretAdded])
      .when({ type: 'RevokeClientSecret', data: { secretId: SECRET_ID } })
      .thenState({ status: 'active', objectId: OID, kind: 'servicePrincipal', secrets: new Map([[SECRET_ID, { revoked: true }]]), certificates: new Map() });
  });

  it('managed identities have no client secrets and no certificates; only they get an identity header', () => {
    deciderSpec(principalDecider).given([created('managedIdentity')]).when({ type: 'AddClientSecret', data: secretData }).thenThrows('BadParameter');
    deciderSpec(principalDecider).given([created('managedIdentity')]).when({ type: 'RegisterClientCertificate', data: certData }).thenThrows('BadParameter');
    deciderSpec(principalDecider)
      .given([created('managedIdentity')])
      .when({ type: 'IssueManagedIdentityHeader', data: { headerHash: 'h1' } })
      .then([{ type: 'ManagedIdentityHeaderIssued', data: { headerHash: 'h1' } }]);
    deciderSpec(principalDecider).given([created()]).when({ type: 'IssueManagedIdentityHeader', data: { headerHash: 'h1' } }).thenThrows('BadParameter');
  });

  it('registers a certificate on a service principal once; users cannot; revoke is idempotent; unknown is CredentialNotFound', () => {
    deciderSpec(principalDecider).given([created()]).when({ type: 'RegisterClientCertificate', data: certData }).then([certRegistered]);
    deciderSpec(principalDecider).given([created(), certRegistered]).when({ type: 'RegisterClientCertificate', data: certData }).thenThrows('CredentialExists');
    deciderSpec(principalDecider).given([created('user')]).when({ type: 'RegisterClientCertificate', data: certData }).thenThrows('BadParameter');
    deciderSpec(principalDecider).given([created(), certRegistered]).when({ type: 'RevokeClientCertificate', data: { thumbprintSha256: THUMB } }).then([certRevoked]);
    deciderSpec(principalDecider).given([created(), certRegistered, certRevoked]).when({ type: 'RevokeClientCertificate', data: { thumbprintSha256: THUMB } }).then([]);
    deciderSpec(principalDecider).given([created()]).when({ type: 'RevokeClientCertificate', data: { thumbprintSha256: THUMB } }).thenThrows('CredentialNotFound');
    // A revoked certificate stays known: registering it again is still a conflict.
    deciderSpec(principalDecider).given([created(), certRegistered, certRevoked]).when({ type: 'RegisterClientCertificate', data: certData }).thenThrows('CredentialExists');
  });

  it('disables once; disabling again changes nothing; the disabled state keeps its credentials', () => {
    deciderSpec(principalDecider).given([created()]).when({ type: 'DisablePrincipal', data: { reason: 'offboarded' } }).then([disabled]);
    deciderSpec(principalDecider).given([created(), disabled]).when({ type: 'DisablePrincipal', data: { reason: 'again' } }).then([]);
    deciderSpec(principalDecider)
      .given([created(), secretAdded])
      .when({ type: 'DisablePrincipal', data: { reason: 'offboarded' } })
      .thenState({ status: 'disabled', objectId: OID, kind: 'servicePrincipal', secrets: new Map([[SECRET_ID, { revoked: false }]]), certificates: new Map() });
  });

  it('an event for a principal that was never created cannot be folded', () => {
    expect(() => principalDecider.evolve(principalDecider.initialState(), secretAdded)).toThrow(expect.objectContaining({ code: 'PrincipalNotFound' }));
  });

  it('sets a sign-in password on users only', () => {
    const hash = '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA';
    deciderSpec(principalDecider).given([created('user')]).when({ type: 'SetUserPassword', data: { hash } }).then([{ type: 'UserPasswordSet', data: { hash } }]);
    deciderSpec(principalDecider).given([created()]).when({ type: 'SetUserPassword', data: { hash } }).thenThrows('BadParameter');
    deciderSpec(principalDecider).given([]).when({ type: 'SetUserPassword', data: { hash } }).thenThrows('PrincipalNotFound');
  });
});
