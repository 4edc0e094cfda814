import { describe, expect, it } from '@jest/globals';
import { claimAt, evaluateReleasePolicy } from './release-policy.evaluator.js';

const MAA = 'https://sharedeus.eus.attest.azure.net';

const policy = (rules: unknown[]): unknown => ({ version: '1.0.0', anyOf: rules });

const claims = {
  iss: MAA,
  'x-ms-attestation-type': 'sevsnpvm',
  'x-ms-compliance-status': 'azure-compliant-cvm',
  'x-ms-sevsnpvm-is-debuggable': false,
  'x-ms-runtime': { 'client-payload': { nonce: 'abc' }, 'vm-configuration': { 'secure-boot': true } },
  svn: 3,
};

describe('evaluateReleasePolicy', () => {
  it('grants when the authority matches and every allOf condition holds', () => {
    const p = policy([{ authority: MAA, allOf: [{ claim: 'x-ms-attestation-type', equals: 'sevsnpvm' }, { claim: 'x-ms-sevsnpvm-is-debuggable', equals: false }] }]);
    expect(evaluateReleasePolicy(p, MAA, claims)).toEqual({ granted: true });
  });

  it('denies when one allOf condition differs', () => {
    const p = policy([{ authority: MAA, allOf: [{ claim: 'x-ms-attestation-type', equals: 'sevsnpvm' }, { claim: 'x-ms-sevsnpvm-is-debuggable', equals: true }] }]);
    expect(evaluateReleasePolicy(p, MAA, claims)).toMatchObject({ granted: false, reason: 'The attestation claims do not satisfy the release policy.' });
  });

  it('grants with an anyOf rule when one condition holds', () => {
    const p = policy([{ authority: MAA, anyOf: [{ claim: 'svn', equals: 9 }, { claim: 'svn', equals: 3 }] }]);
    expect(evaluateReleasePolicy(p, MAA, claims).granted).toBe(true);
  });

  it('evaluates nested allOf/anyOf and dotted claim paths', () => {
    const p = policy([
      {
        authority: `${MAA}/`,
        allOf: [{ anyOf: [{ claim: 'x-ms-runtime.client-payload.nonce', equals: 'zzz' }, { claim: 'x-ms-runtime.vm-configuration.secure-boot', equals: true }] }, { claim: 'svn', equals: 3 }],
      },
    ]);
    expect(evaluateReleasePolicy(p, MAA, claims).granted).toBe(true);
  });

  it('denies when no rule names the token authority', () => {
    const p = policy([{ authority: 'https://other.attest.azure.net', allOf: [{ claim: 'svn', equals: 3 }] }]);
    expect(evaluateReleasePolicy(p, MAA, claims)).toMatchObject({ granted: false, reason: 'The attestation authority is not named by the release policy.' });
  });

  it('grants through the second rule when the first authority differs', () => {
    const p = policy([
      { authority: 'https://other.attest.azure.net', allOf: [{ claim: 'svn', equals: 3 }] },
      { authority: MAA, allOf: [{ claim: 'svn', equals: 3 }] },
    ]);
    expect(evaluateReleasePolicy(p, MAA, claims).granted).toBe(true);
  });

  it('does not coerce types: "false" is not false, "3" is not 3', () => {
    expect(evaluateReleasePolicy(policy([{ authority: MAA, allOf: [{ claim: 'x-ms-sevsnpvm-is-debuggable', equals: 'false' }] }]), MAA, claims).granted).toBe(false);
    expect(evaluateReleasePolicy(policy([{ authority: MAA, allOf: [{ claim: 'svn', equals: '3' }] }]), MAA, claims).granted).toBe(false);
  });

  it('denies what it cannot understand: missing claims, unknown operators, empty rules, other versions', () => {
    expect(evaluateReleasePolicy(policy([{ authority: MAA, allOf: [{ claim: 'absent', equals: 'x' }] }]), MAA, claims).granted).toBe(false);
    expect(evaluateReleasePolicy(policy([{ authority: MAA, allOf: [{ claim: 'svn', greater: 1 }] }]), MAA, claims).granted).toBe(false);
    expect(evaluateReleasePolicy(policy([{ authority: MAA, allOf: [] }]), MAA, claims).granted).toBe(false);
    expect(evaluateReleasePolicy(policy([{ authority: MAA }]), MAA, claims).granted).toBe(false);
    expect(evaluateReleasePolicy({ version: '2.0.0', anyOf: [{ authority: MAA, allOf: [{ claim: 'svn', equals: 3 }] }] }, MAA, claims).granted).toBe(false);
    expect(evaluateReleasePolicy({ version: '1.0.0', anyOf: [] }, MAA, claims).granted).toBe(false);
    expect(evaluateReleasePolicy('not a policy', MAA, claims).granted).toBe(false);
    // An object claim never equals a scalar.
    expect(evaluateReleasePolicy(policy([{ authority: MAA, allOf: [{ claim: 'x-ms-runtime', equals: 'x' }] }]), MAA, claims).granted).toBe(false);
  });
});

describe('claimAt', () => {
  it('reads top-level keys, dotted paths and keys containing dots', () => {
    expect(claimAt(claims, 'svn')).toBe(3);
    expect(claimAt(claims, 'x-ms-runtime.client-payload.nonce')).toBe('abc');
    expect(claimAt({ 'a.b': { c: 1 } }, 'a.b.c')).toBe(1);
    expect(claimAt(claims, 'x-ms-runtime.missing.deeper')).toBeUndefined();
  });
});
