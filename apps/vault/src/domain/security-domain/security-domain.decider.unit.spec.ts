import { describe, expect, it } from '@jest/globals';
import { DomainError } from '#libs/kernel';
import { isActivated, securityDomainDecider, SecurityDomainErrorCode, type SecurityDomainCommand, type SecurityDomainState } from './security-domain.decider.js';

const activate = (via: 'download' | 'upload' | 'bootstrap'): SecurityDomainCommand => ({
  type: 'ActivateSecurityDomain',
  data: { vaultId: 'pool-1', domainId: '6b1d2c3e-4f50-4a61-8b72-9c83d4e5f607', sealedKey: 'c2VhbGVk', via, required: via === 'download' ? 2 : null, shares: via === 'download' ? 3 : null, now: 1_800_000_000 },
});

function given(state: SecurityDomainState, command: SecurityDomainCommand): SecurityDomainState {
  return securityDomainDecider.decide(command, state).reduce(securityDomainDecider.evolve, state);
}

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof DomainError ? err.code : 'other';
  }
};

describe('a Managed HSM pool security domain (given/when/then)', () => {
  it('a pool created awaiting its domain serves nothing until a download or an upload activates it', () => {
    const pending = securityDomainDecider.initialState(true);
    expect(isActivated(pending)).toBe(false);
    for (const via of ['download', 'upload'] as const) {
      const after = given(pending, activate(via));
      expect(after).toEqual({ status: 'active', domainId: '6b1d2c3e-4f50-4a61-8b72-9c83d4e5f607', sealedKey: 'c2VhbGVk', via });
      expect(isActivated(after)).toBe(true);
    }
  });

  it('the download event records the quorum and the share count', () => {
    expect(securityDomainDecider.decide(activate('download'), securityDomainDecider.initialState(true))).toEqual([
      { type: 'ManagedHsmSecurityDomainActivated', data: { vaultId: 'pool-1', domainId: '6b1d2c3e-4f50-4a61-8b72-9c83d4e5f607', sealedKey: 'c2VhbGVk', via: 'download', required: 2, shares: 3, activated: 1_800_000_000 } },
    ]);
  });

  it('an activated pool refuses a second download or upload', () => {
    const active = given(securityDomainDecider.initialState(true), activate('download'));
    expect(codeOf(() => securityDomainDecider.decide(activate('download'), active))).toBe(SecurityDomainErrorCode.AlreadyActivated);
    expect(codeOf(() => securityDomainDecider.decide(activate('upload'), active))).toBe(SecurityDomainErrorCode.AlreadyActivated);
  });

  it('a pool usable without a domain (bootstrap dev) gets one generated, and cannot download one', () => {
    const legacy = securityDomainDecider.initialState(false);
    expect(isActivated(legacy)).toBe(true);
    expect(codeOf(() => securityDomainDecider.decide(activate('download'), legacy))).toBe(SecurityDomainErrorCode.AlreadyActivated);
    expect(given(legacy, activate('bootstrap'))).toMatchObject({ status: 'active', via: 'bootstrap' });
    expect(codeOf(() => securityDomainDecider.decide(activate('bootstrap'), securityDomainDecider.initialState(true)))).toBe(SecurityDomainErrorCode.NotActivated);
  });
});
