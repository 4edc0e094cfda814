import { describe, expect, it } from '@jest/globals';
import { GateError } from './gate.errors.js';
import { assertStorable, MAX_INPUT_DEPTH, unstorableIn } from './input-hygiene.js';

describe('input hygiene at the gate', () => {
  it.each([
    ['plain text and numbers', { value: 's3cr3t', tags: { env: 'prod' }, attributes: { enabled: true, exp: 1 } }],
    ['every plane of Unicode, paired surrogates included', { value: 'Grüße — 日本 — 😀 — \uD83D\uDE00', tags: { 'ключ': '値' } }],
    ['null, booleans and empty containers', { a: null, b: false, c: [], d: {} }],
  ])('lets %s through', (_what, input) => {
    expect(unstorableIn(input)).toBeUndefined();
    expect(() => assertStorable(input)).not.toThrow();
  });

  it.each([
    ['U+0000 in a tag value (the fuzz finding)', { value: '', tags: { a: '\u0000' } }, 'tags.a'],
    ['U+0000 in a tag name', { tags: { 'a\u0000b': 'x' } }, 'tags (a key)'],
    ['a lone high surrogate', { value: 'x\uD800' }, 'value'],
    ['a lone low surrogate', { contentType: '\uDC00y' }, 'contentType'],
    ['a reversed pair', { value: '\uDE00\uD83D' }, 'value'],
    ['U+0000 deep in an array', { key_ops: ['sign', 'ver\u0000ify'] }, 'key_ops[1]'],
    ['a bare string', 'a\u0000', 'the request'],
  ])('refuses %s, naming where but not what', (_what, input, where) => {
    expect(unstorableIn(input)).toBe(where);
    let thrown: unknown;
    try {
      assertStorable(input);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(GateError);
    expect((thrown as GateError).code).toBe('BadParameter');
    expect((thrown as GateError).message).toContain(where);
    expect((thrown as GateError).message).not.toContain('\u0000');
  });

  it(`refuses nesting deeper than ${MAX_INPUT_DEPTH} levels without recursing`, () => {
    let deep: unknown = 'leaf';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(unstorableIn(deep)).toMatch(/nested more than/);
    let ok: unknown = 'leaf';
    for (let i = 0; i < MAX_INPUT_DEPTH - 1; i++) ok = { a: ok };
    expect(unstorableIn(ok)).toBeUndefined();
  });

  it(`judges the depth limit exactly: a string may sit at depth ${MAX_INPUT_DEPTH}, a container may not`, () => {
    const wrap = (leaf: unknown, levels: number): unknown => {
      let v = leaf;
      for (let i = 0; i < levels; i++) v = { a: v };
      return v;
    };
    expect(unstorableIn(wrap('leaf', MAX_INPUT_DEPTH))).toBeUndefined();
    expect(unstorableIn(wrap([], MAX_INPUT_DEPTH))).toMatch(/nested more than/);
    expect(unstorableIn(wrap(Buffer.from([0]), MAX_INPUT_DEPTH - 1))).toBeUndefined();
    expect(unstorableIn(wrap('\u0000', MAX_INPUT_DEPTH))).toBe(`${Array(MAX_INPUT_DEPTH).fill('a').join('.')}`);
  });
});
