/**
 * Canonical JSON (the subset of RFC 8785 / JCS that audit records use): object keys sorted by
 * UTF-16 code units, no insignificant whitespace, numbers in ECMAScript's shortest form, and
 * `undefined` members dropped. Two parties that agree on a value produce the same bytes, so
 * hashes over records and checkpoint payloads are reproducible by any verifier.
 */
export class CanonicalJsonError extends Error {
  readonly code = 'CanonicalJsonInvalid';
  constructor(message: string) {
    super(message);
    this.name = 'CanonicalJsonError';
  }
}

export function canonicalJson(value: unknown): string {
  return write(value, '$');
}

function write(value: unknown, path: string): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new CanonicalJsonError(`${path} is not a finite number`);
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((v, i) => (v === undefined ? 'null' : write(v, `${path}[${i}]`))).join(',')}]`;
      const o = value as Record<string, unknown>;
      const keys = Object.keys(o)
        .filter((k) => o[k] !== undefined)
        .sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${write(o[k], `${path}.${k}`)}`).join(',')}}`;
    }
    default:
      throw new CanonicalJsonError(`${path} has a type JSON cannot carry (${typeof value})`);
  }
}
