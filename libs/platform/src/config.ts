/**
 * Configuration is read from the environment once, at boot, against a declared schema.
 * Every problem is collected and reported together, naming the variable, so a bad
 * deployment fails fast with one readable message instead of a crash at first use.
 */
export type VarSpec<T> = {
  readonly description: string;
  readonly parse: (raw: string) => T;
  readonly default?: T | (() => T);
  /** Never echo the value in errors. */
  readonly secret?: boolean;
};

export type ConfigSchema = Record<string, VarSpec<unknown>>;
export type ConfigOf<S extends ConfigSchema> = { readonly [K in keyof S]: S[K] extends VarSpec<infer T> ? T : never };

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

export function loadConfig<S extends ConfigSchema>(schema: S, env: NodeJS.ProcessEnv = process.env): ConfigOf<S> {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(schema)) {
    const raw = env[name];
    if (raw === undefined || raw === '') {
      if (spec.default === undefined) {
        problems.push(`${name} is required (${spec.description})`);
        continue;
      }
      out[name] = typeof spec.default === 'function' ? (spec.default as () => unknown)() : spec.default;
      continue;
    }
    try {
      out[name] = spec.parse(raw);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      const shown = spec.secret ? '' : ` (got "${raw.length > 80 ? `${raw.slice(0, 80)}…` : raw}")`;
      problems.push(`${name} ${why}${shown}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return out as ConfigOf<S>;
}

export const str = (description: string, def?: string, secret = false): VarSpec<string> => ({
  description,
  parse: (raw) => raw,
  ...(def !== undefined ? { default: def } : {}),
  secret,
});

export const int = (description: string, def?: number, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): VarSpec<number> => ({
  description,
  parse: (raw) => {
    if (!/^-?\d+$/.test(raw.trim())) throw new Error('must be an integer');
    const n = Number(raw);
    if (n < min || n > max) throw new Error(`must be between ${min} and ${max}`);
    return n;
  },
  ...(def !== undefined ? { default: def } : {}),
});

export const port = (description: string, def?: number): VarSpec<number> => int(description, def, 0, 65535);

export const bool = (description: string, def?: boolean): VarSpec<boolean> => ({
  description,
  parse: (raw) => {
    const v = raw.trim().toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(v)) return true;
    if (['0', 'false', 'no', 'off'].includes(v)) return false;
    throw new Error('must be true or false');
  },
  ...(def !== undefined ? { default: def } : {}),
});

export const url = (description: string, def?: string, protocols: readonly string[] = []): VarSpec<string> => ({
  description,
  parse: (raw) => {
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      throw new Error('must be an absolute URL');
    }
    if (protocols.length > 0 && !protocols.includes(u.protocol.replace(/:$/, ''))) {
      throw new Error(`must use ${protocols.join(' or ')}`);
    }
    return raw.replace(/\/+$/, '');
  },
  ...(def !== undefined ? { default: def } : {}),
});

export const list = (description: string, def?: readonly string[]): VarSpec<readonly string[]> => ({
  description,
  parse: (raw) => {
    const items = raw.split(',').map((s) => s.trim()).filter(Boolean);
    if (items.length === 0) throw new Error('must list at least one value');
    return items;
  },
  ...(def !== undefined ? { default: def } : {}),
});

export const oneOf = <T extends string>(description: string, values: readonly T[], def?: T): VarSpec<T> => ({
  description,
  parse: (raw) => {
    if (!(values as readonly string[]).includes(raw)) throw new Error(`must be one of ${values.join(', ')}`);
    return raw as T;
  },
  ...(def !== undefined ? { default: def } : {}),
});
