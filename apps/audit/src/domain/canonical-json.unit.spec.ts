import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { canonicalJson, CanonicalJsonError } from './canonical-json.js';

describe('canonicalJson', () => {
  it('sorts keys at every depth, drops undefined members and keeps array order', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: true, y: null }], c: 'x' }, u: undefined })).toBe('{"a":{"c":"x","d":[3,{"y":null,"z":true}]},"b":1}');
  });

  it('writes numbers in the shortest ECMAScript form and escapes strings like JSON', () => {
    expect(canonicalJson([1.0, 0.1, 1e21, -0, 'a"\n\u2028'])).toBe('[1,0.1,1e+21,0,"a\\"\\n\u2028"]');
  });

  it('refuses values JSON cannot carry', () => {
    expect(() => canonicalJson({ n: Number.NaN })).toThrow(CanonicalJsonError);
    expect(() => canonicalJson({ b: 1n })).toThrow(/bigint/);
  });

  it('is independent of key insertion order and survives a JSON round trip (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const once = canonicalJson(v);
        expect(canonicalJson(JSON.parse(once))).toBe(once);
        expect(canonicalJson(JSON.parse(JSON.stringify(v)))).toBe(once);
      }),
      { numRuns: 300 },
    );
  });
});
