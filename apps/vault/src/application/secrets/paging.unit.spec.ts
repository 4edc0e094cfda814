import { describe, expect, it } from '@jest/globals';
import { DomainError } from '#libs/kernel';
import { decodeSkipToken, encodeSkipToken, pageSize, toPage } from './paging.js';

describe('paging', () => {
  it('maxresults is 1-25, default 25', () => {
    expect(pageSize(undefined)).toBe(25);
    expect(pageSize('1')).toBe(1);
    expect(pageSize('25')).toBe(25);
    for (const bad of ['0', '26', '-1', '2.5', 'x']) expect(() => pageSize(bad)).toThrow(DomainError);
  });

  it('cuts a limit+1 result into a page and the next skip token', () => {
    const rows = ['a', 'b', 'c'];
    expect(toPage(rows, 3, (r) => r)).toEqual({ items: rows, next: null });
    const page = toPage(rows, 2, (r) => r);
    expect(page.items).toEqual(['a', 'b']);
    expect(decodeSkipToken(page.next!)).toBe('b');
  });

  it('skip tokens round-trip and forged ones are a 400', () => {
    expect(decodeSkipToken(encodeSkipToken('name-key'))).toBe('name-key');
    expect(decodeSkipToken(undefined)).toBe('');
    expect(() => decodeSkipToken('%%%')).toThrow(DomainError);
    expect(() => decodeSkipToken(Buffer.from('{"a":1}').toString('base64url'))).toThrow(DomainError);
  });
});
