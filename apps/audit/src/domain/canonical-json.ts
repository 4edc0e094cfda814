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
  return write(value, []);
}

/** `path`: the keys and indices down to `value`, joined only for an error message (every record is hashed: no string work per member). */
function write(value: unknown, path: (string | number)[]): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new CanonicalJsonError(`${where(path)} is not a finite number`);
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          const v: unknown = value[i];
          if (i > 0) out += ',';
          if (v === undefined) out += 'null';
          else {
            path.push(i);
            out += write(v, path);
            path.pop();
          }
        }
        return `${out}]`;
      }
      const o = value as Record<string, unknown>;
      const keys = Object.keys(o).sort();
      let out = '{';
      for (const k of keys) {
        const v = o[k];
        if (v === undefined) continue;
        if (out.length > 1) out += ',';
        path.push(k);
        out += `${JSON.stringify(k)}:${write(v, path)}`;
        path.pop();
      }
      return `${out}}`;
    }
    default:
      throw new CanonicalJsonError(`${where(path)} has a type JSON cannot carry (${typeof value})`);
  }
}

function where(path: readonly (string | number)[]): string {
  return `$${path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('')}`;
}
