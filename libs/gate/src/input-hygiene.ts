import { GateError, GateErrorCode } from './gate.errors.js';

/** U+0000 (PostgreSQL's text and jsonb cannot hold it) or a UTF-16 surrogate without its pair (not valid Unicode; UTF-8 cannot encode it). */
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Deeper JSON than any Azure request has is refused before anything walks it recursively. */
export const MAX_INPUT_DEPTH = 32;

/**
 * Where in `value` a string (a value or an object key) holds what storage cannot hold, or the
 * nesting is deeper than `MAX_INPUT_DEPTH`; undefined when all is well. The answer names the
 * place (`tags`, `attributes.x`), never the string itself (it may be a secret).
 */
export function unstorableIn(value: unknown): string | undefined {
  // Every request passes: the walk that names the place runs only for one that does not. Should
  // the two walks ever disagree, the request is still refused (the gate fails closed).
  return storable(value, 0) ? undefined : (placeOfUnstorable(value) ?? 'the request');
}

/** Whether `unstorableIn` finds nothing: the same tests, without building the paths it names. */
function storable(v: unknown, depth: number): boolean {
  if (typeof v === 'string') return !UNSTORABLE.test(v);
  if (typeof v !== 'object' || v === null) return true;
  if (depth >= MAX_INPUT_DEPTH) return false;
  if (Array.isArray(v)) {
    for (const item of v) if (!storable(item, depth + 1)) return false;
    return true;
  }
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return true;
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (UNSTORABLE.test(k) || !storable(o[k], depth + 1)) return false;
  return true;
}

function placeOfUnstorable(value: unknown): string | undefined {
  const stack: Array<{ v: unknown; path: string; depth: number }> = [{ v: value, path: '', depth: 0 }];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const { v, path, depth } = top;
    if (typeof v === 'string') {
      if (UNSTORABLE.test(v)) return path || 'the request';
      continue;
    }
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= MAX_INPUT_DEPTH) return `${path || 'the request'} (nested more than ${MAX_INPUT_DEPTH} levels deep)`;
    if (Array.isArray(v)) {
      v.forEach((item, i) => stack.push({ v: item, path: `${path}[${i}]`, depth: depth + 1 }));
      continue;
    }
    if (Buffer.isBuffer(v) || v instanceof Uint8Array) continue;
    for (const [k, item] of Object.entries(v as Record<string, unknown>)) {
      const at = path ? `${path}.${safeKey(k)}` : safeKey(k);
      if (UNSTORABLE.test(k)) return `${path || 'the request'} (a key)`;
      stack.push({ v: item, path: at, depth: depth + 1 });
    }
  }
  return undefined;
}

/** Throws the gate's `InputRejected` (Azure: 400 BadParameter) when `value` holds what storage cannot hold. */
export function assertStorable(value: unknown, what = 'The request'): void {
  const where = unstorableIn(value);
  if (where === undefined) return;
  throw new GateError(
    GateErrorCode.InputRejected,
    where.includes('nested more than')
      ? `${what} is not valid: ${where}.`
      : `${what} contains a string that cannot be stored (U+0000 or an unpaired UTF-16 surrogate) in ${where}.`,
  );
}

/** A key as it may appear in a message: printable ASCII, bounded. */
function safeKey(k: string): string {
  const p = k.replace(/[^\x20-\x7e]/g, '?');
  return p.length > 40 ? `${p.slice(0, 40)}…` : p;
}
