import { assertNever, DomainError } from '#libs/kernel';
import type { SecurityDomainEvent, SecurityDomainVia } from './security-domain.events.js';

/** Stable codes of the security domain (mapped to Azure's answers by the HTTP adapter). */
export const SecurityDomainErrorCode = {
  NotActivated: 'ManagedHsmNotActivated',
  AlreadyActivated: 'ManagedHsmAlreadyActivated',
  BadSecurityDomain: 'BadSecurityDomain',
} as const;

/**
 * A pool's activation. `legacy`: the pool was created without a pending security domain (the
 * bootstrap pool `dev`, pools from before security domains, pools created "activated for
 * development"): usable at once, its domain key generated on first need. `pending`: created
 * awaiting its security domain (download, or upload of an existing one). `active`: a domain
 * took effect.
 */
export type SecurityDomainState =
  | { readonly status: 'legacy' | 'pending' }
  | { readonly status: 'active'; readonly domainId: string; readonly sealedKey: string; readonly via: SecurityDomainVia };

export type ActivateSecurityDomain = {
  readonly type: 'ActivateSecurityDomain';
  readonly data: { readonly vaultId: string; readonly domainId: string; readonly sealedKey: string; readonly via: SecurityDomainVia; readonly required: number | null; readonly shares: number | null; readonly now: number };
};
export type SecurityDomainCommand = ActivateSecurityDomain;

export const securityDomainDecider = {
  /** `pending`: whether the pool was created awaiting its domain (its VaultCreated says so). */
  initialState: (pending = false): SecurityDomainState => ({ status: pending ? 'pending' : 'legacy' }),
  decide(command: SecurityDomainCommand, state: SecurityDomainState): readonly SecurityDomainEvent[] {
    switch (command.type) {
      case 'ActivateSecurityDomain': {
        const c = command.data;
        if (state.status === 'active') throw new DomainError(SecurityDomainErrorCode.AlreadyActivated, 'the pool already has a security domain');
        // Download and upload are for a pool awaiting its domain; bootstrap gives a legacy pool one.
        if (c.via !== 'bootstrap' && state.status !== 'pending') throw new DomainError(SecurityDomainErrorCode.AlreadyActivated, 'the pool was activated without a security domain download');
        if (c.via === 'bootstrap' && state.status !== 'legacy') throw new DomainError(SecurityDomainErrorCode.NotActivated, 'the pool awaits its security domain');
        return [{ type: 'ManagedHsmSecurityDomainActivated', data: { vaultId: c.vaultId, domainId: c.domainId, sealedKey: c.sealedKey, via: c.via, required: c.required, shares: c.shares, activated: c.now } }];
      }
      default:
        return assertNever(command.type);
    }
  },
  evolve(state: SecurityDomainState, event: SecurityDomainEvent): SecurityDomainState {
    switch (event.type) {
      case 'ManagedHsmSecurityDomainActivated':
        return { status: 'active', domainId: event.data.domainId, sealedKey: event.data.sealedKey, via: event.data.via };
      default:
        return assertNever(event.type);
    }
  },
};

/** Whether key and data-plane operations are served: a pool awaiting its domain serves none. */
export const isActivated = (s: SecurityDomainState): boolean => s.status !== 'pending';
