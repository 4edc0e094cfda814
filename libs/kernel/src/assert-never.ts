/** Exhaustiveness check for switches over unions: `default: return assertNever(x, 'command')`. */
export function assertNever(value: never, what = 'value'): never {
  throw new Error(`unexpected ${what}: ${JSON.stringify(value)}`);
}
