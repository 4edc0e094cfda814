import { describe, expect, it } from '@jest/globals';
import { DomainError } from '#libs/kernel';
import { assertSecretName, assertSecretVersion, MAX_SECRET_VALUE_BYTES, parseBatchNames, parseSetSecret, parseTags, parseUpdateSecret } from './secret.rules.js';

const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof DomainError ? err.code : 'not a DomainError';
  }
};

describe('secret input rules (Azure limits)', () => {
  it('names: 1-127 of [0-9a-zA-Z-]', () => {
    for (const ok of ['a', 'A-1', 'x'.repeat(127), '---']) expect(code(() => assertSecretName(ok))).toBeUndefined();
    for (const bad of ['', 'a_b', 'a.b', 'a b', 'x'.repeat(128), 'é']) expect(code(() => assertSecretName(bad))).toBe('BadParameter');
  });

  it('versions: 32 hex characters', () => {
    expect(assertSecretVersion('0123456789ABCDEF0123456789abcdef')).toBe('0123456789abcdef0123456789abcdef');
    expect(code(() => assertSecretVersion('latest'))).toBe('BadParameter');
  });

  it('values: a string of at most 25 KB (UTF-8 bytes); empty is fine', () => {
    expect(parseSetSecret({ value: '' }).value).toBe('');
    expect(parseSetSecret({ value: 'v'.repeat(MAX_SECRET_VALUE_BYTES) }).value).toHaveLength(MAX_SECRET_VALUE_BYTES);
    expect(code(() => parseSetSecret({ value: 'v'.repeat(MAX_SECRET_VALUE_BYTES + 1) }))).toBe('BadParameter');
    expect(code(() => parseSetSecret({ value: 'é'.repeat(MAX_SECRET_VALUE_BYTES / 2 + 1) }))).toBe('BadParameter');
    expect(code(() => parseSetSecret({}))).toBe('BadParameter');
    expect(code(() => parseSetSecret({ value: 1 }))).toBe('BadParameter');
    expect(code(() => parseSetSecret('text'))).toBe('BadParameter');
    expect(code(() => parseSetSecret(undefined))).toBe('BadParameter');
  });

  it('errors never echo the value', () => {
    try {
      parseSetSecret({ value: `TOPSECRET${'v'.repeat(MAX_SECRET_VALUE_BYTES)}` });
    } catch (err) {
      expect((err as Error).message).not.toContain('TOPSECRET');
    }
  });

  it('tags: at most 15, names and values of at most 256 characters, string values', () => {
    const tags = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']));
    expect(parseTags(tags(15))).toEqual(tags(15));
    expect(code(() => parseTags(tags(16)))).toBe('BadParameter');
    expect(code(() => parseTags({ k: 'v'.repeat(257) }))).toBe('BadParameter');
    expect(code(() => parseTags({ ['k'.repeat(257)]: 'v' }))).toBe('BadParameter');
    expect(code(() => parseTags({ k: 1 }))).toBe('BadParameter');
    expect(parseTags(null)).toBeNull();
  });

  it('attributes: enabled boolean, nbf/exp unix seconds (null clears)', () => {
    expect(parseSetSecret({ value: 'x', attributes: { enabled: false, nbf: 1, exp: 2, created: 99 } }).attributes).toEqual({ enabled: false, nbf: 1, exp: 2 });
    expect(parseUpdateSecret({ attributes: { exp: null } }).attributes).toEqual({ exp: null });
    expect(code(() => parseSetSecret({ value: 'x', attributes: { exp: 1.5 } }))).toBe('BadParameter');
    expect(code(() => parseSetSecret({ value: 'x', attributes: { enabled: 'yes' } }))).toBe('BadParameter');
    expect(code(() => parseSetSecret({ value: 'x', contentType: 'c'.repeat(256) }))).toBe('BadParameter');
  });

  it('an update cannot change the value', () => {
    expect(code(() => parseUpdateSecret({ value: 'new' }))).toBe('BadParameter');
    expect(parseUpdateSecret({ contentType: 'text/plain' })).toEqual({ contentType: 'text/plain', attributes: {} });
  });

  it('batch get: 1-25 valid names, duplicates (case-insensitive) once', () => {
    expect(parseBatchNames({ names: ['a', 'A', 'b'] })).toEqual(['a', 'b']);
    expect(code(() => parseBatchNames({ names: [] }))).toBe('BadParameter');
    expect(code(() => parseBatchNames({ names: Array.from({ length: 26 }, (_, i) => `n${i}`) }))).toBe('BadParameter');
    expect(code(() => parseBatchNames({ names: ['ok', 'not_ok'] }))).toBe('BadParameter');
  });
});
