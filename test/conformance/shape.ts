/** JSON shape comparison: keys recursively, values ignored. */
export type Shape = { readonly kind: 'object'; readonly keys: Map<string, Shape> } | { readonly kind: 'array'; readonly item: Shape | undefined } | { readonly kind: 'scalar' };

export function shapeOf(value: unknown): Shape {
  if (Array.isArray(value)) {
    let item: Shape | undefined;
    for (const v of value) item = item ? mergeShapes(item, shapeOf(v)) : shapeOf(v);
    return { kind: 'array', item };
  }
  if (typeof value === 'object' && value !== null) {
    const keys = new Map<string, Shape>();
    for (const [k, v] of Object.entries(value)) keys.set(k, shapeOf(v));
    return { kind: 'object', keys };
  }
  return { kind: 'scalar' };
}

function mergeShapes(a: Shape, b: Shape): Shape {
  if (a.kind === 'object' && b.kind === 'object') {
    const keys = new Map(a.keys);
    for (const [k, v] of b.keys) keys.set(k, keys.has(k) ? mergeShapes(keys.get(k)!, v) : v);
    return { kind: 'object', keys };
  }
  if (a.kind === 'array' && b.kind === 'array') return { kind: 'array', item: a.item && b.item ? mergeShapes(a.item, b.item) : (a.item ?? b.item) };
  return a;
}

/**
 * Differences between the recorded shape and ours. Array items are compared as the union of
 * their keys; with `lenientArrays`, items of ours may lack keys that some recorded items had
 * (lists of a shared vault hold other tests' objects).
 */
export function compareShapes(expected: Shape, actual: Shape, path = '', lenientArrays = false): string[] {
  // Tag names are user data, not schema: a tags object is compared as a map, keys ignored.
  if (/(^|\.)tags$/.test(path)) return expected.kind === actual.kind || actual.kind === 'object' ? [] : [`${path}: expected ${expected.kind}, got ${actual.kind}`];
  if (expected.kind !== actual.kind) {
    // A recorded empty array has no item shape; an empty object {} vs a scalar still differs.
    return [`${path || '(body)'}: expected ${expected.kind}, got ${actual.kind}`];
  }
  if (expected.kind === 'object' && actual.kind === 'object') {
    const diffs: string[] = [];
    const missing = [...expected.keys.keys()].filter((k) => !actual.keys.has(k));
    const extra = [...actual.keys.keys()].filter((k) => !expected.keys.has(k));
    if (missing.length && !lenientArrays) diffs.push(`${path || '(body)'}: missing keys {${missing.join(', ')}}`);
    if (extra.length) diffs.push(`${path || '(body)'}: unexpected keys {${extra.join(', ')}}`);
    for (const [k, v] of expected.keys) {
      const a = actual.keys.get(k);
      if (a) diffs.push(...compareShapes(v, a, path ? `${path}.${k}` : k, lenientArrays));
    }
    return diffs;
  }
  if (expected.kind === 'array' && actual.kind === 'array') {
    if (!expected.item || !actual.item) return [];
    return compareShapes(expected.item, actual.item, `${path}[]`, true);
  }
  return [];
}

export function keysOf(value: unknown): string {
  return typeof value === 'object' && value !== null ? `{${Object.keys(value).join(', ')}}` : JSON.stringify(value);
}
