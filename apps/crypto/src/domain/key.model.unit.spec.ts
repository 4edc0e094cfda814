import { describe, expect, it } from '@jest/globals';
import { DomainError } from '#libs/kernel';
import { assertKeyUsable, normalizeAttributes, normalizeKeyOps, parseKeyType } from './key.model.js';

const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (e) {
    return e instanceof DomainError ? e.code : 'not-a-domain-error';
  }
  return undefined;
};

describe('key model', () => {
  it('key_ops: defaults per family, validation, order kept, duplicates dropped', () => {
    expect(normalizeKeyOps([], 'EC')).toEqual(['sign', 'verify']);
    expect(normalizeKeyOps(undefined, 'RSA')).toEqual(['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey']);
    expect(normalizeKeyOps(['verify', 'sign', 'verify'], 'EC')).toEqual(['verify', 'sign']);
    expect(code(() => normalizeKeyOps(['encrypt'], 'EC'))).toBe('BadParameter');
    expect(code(() => normalizeKeyOps(['fly'], 'RSA'))).toBe('BadParameter');
    expect(code(() => normalizeKeyOps(['import'], 'oct'))).toBe('BadParameter');
  });

  it('attributes: absent means enabled; 0 means unset; exp must follow nbf', () => {
    expect(normalizeAttributes(null)).toEqual({ enabled: true, notBefore: null, expires: null, exportable: false });
    expect(normalizeAttributes({ enabled: false, notBefore: 0, expires: 20 })).toEqual({ enabled: false, notBefore: null, expires: 20, exportable: false });
    expect(code(() => normalizeAttributes({ enabled: true, notBefore: 30, expires: 20 }))).toBe('BadParameter');
    expect(code(() => normalizeAttributes({ enabled: true, expires: -1 }))).toBe('BadParameter');
  });

  it('kty names are Azure\'s', () => {
    expect(parseKeyType('RSA-HSM')).toBe('RSA-HSM');
    expect(code(() => parseKeyType('rsa'))).toBe('BadParameter');
  });

  it('policy: disabled first, then key_ops, then nbf/exp only for encrypt, wrapKey and sign', () => {
    const key = { enabled: true, notBefore: 100, expires: 200, keyOps: ['sign', 'verify', 'decrypt', 'encrypt'] };
    expect(code(() => assertKeyUsable({ ...key, enabled: false }, 'verify', 150))).toBe('KeyDisabled');
    expect(code(() => assertKeyUsable(key, 'wrapKey', 150))).toBe('KeyOperationNotAllowed');
    expect(code(() => assertKeyUsable(key, 'sign', 99))).toBe('KeyNotYetValid');
    expect(code(() => assertKeyUsable(key, 'encrypt', 200))).toBe('KeyExpired');
    expect(code(() => assertKeyUsable(key, 'verify', 500))).toBeUndefined();
    expect(code(() => assertKeyUsable(key, 'decrypt', 50))).toBeUndefined();
    expect(code(() => assertKeyUsable(key, 'sign', 150))).toBeUndefined();
  });
});
