import type { OperationDeclaration } from './operation.js';

/**
 * Azure's service-limit classes of the Key Vault data plane ("Azure Key Vault service limits":
 * transactions per vault per region, per 10 seconds). Key limits depend on the key type; the
 * defaults take software RSA 2048 / EC P-256, the most common and the most generous row.
 */
export type ThrottleClass = 'keys-create' | 'keys' | 'secrets' | 'other';

export type ThrottleLimits = Readonly<Record<ThrottleClass, number>>;

/** Azure's published limits per vault per 10 s (software keys: CREATE 10, all other key transactions 2,000; secrets and vault transactions 4,000). */
export const AZURE_VAULT_LIMITS: ThrottleLimits = { 'keys-create': 10, keys: 2000, secrets: 4000, other: 4000 };

export const THROTTLE_WINDOW_MS = 10_000;

const CREATES = new Set(['KeyCreate', 'KeyImport', 'KeyRotate', 'KeyRestore']);

/** The class an operation's requests count against. */
export function throttleClassOf(op: Pick<OperationDeclaration, 'name' | 'collection'>): ThrottleClass {
  if (op.collection === 'keys') return CREATES.has(op.name) ? 'keys-create' : 'keys';
  if (op.collection === 'secrets') return 'secrets';
  return 'other';
}

type Window = { start: number; count: number };

/**
 * Fixed 10-second windows, as Azure counts: one budget per container and class, and one per
 * principal and class (a single caller cannot spend a whole vault's budget unless its limit
 * says so). A refused request counts in neither. `take` answers the seconds to wait (Azure's
 * `Retry-After`) or undefined when the request may go on.
 */
export class RequestThrottle {
  private readonly windows = new Map<string, Window>();
  private lastSweep = 0;

  constructor(
    private readonly perContainer: ThrottleLimits,
    private readonly perPrincipal: ThrottleLimits,
    private readonly now: () => number = Date.now,
    private readonly windowMs = THROTTLE_WINDOW_MS,
  ) {}

  take(container: string, principal: string, cls: ThrottleClass): number | undefined {
    const t = this.now();
    this.sweep(t);
    const byContainer = this.window(`c|${container}|${cls}`, t);
    const byPrincipal = this.window(`p|${principal}|${cls}`, t);
    const full = [
      [byContainer, this.perContainer[cls]],
      [byPrincipal, this.perPrincipal[cls]],
    ] as const;
    const exhausted = full.filter(([w, limit]) => w.count >= limit);
    if (exhausted.length > 0) {
      const waitMs = Math.max(...exhausted.map(([w]) => w.start + this.windowMs - t));
      return Math.max(1, Math.ceil(waitMs / 1000));
    }
    byContainer.count += 1;
    byPrincipal.count += 1;
    return undefined;
  }

  private window(key: string, t: number): Window {
    let w = this.windows.get(key);
    if (!w || t - w.start >= this.windowMs) {
      w = { start: t, count: 0 };
      this.windows.set(key, w);
    }
    return w;
  }

  /** Drops windows that ended, at most once a window, so idle callers do not accumulate. */
  private sweep(t: number): void {
    if (t - this.lastSweep < this.windowMs) return;
    this.lastSweep = t;
    for (const [k, w] of this.windows) if (t - w.start >= this.windowMs) this.windows.delete(k);
  }
}

/** Limits from `KEY=n,KEY=n` (e.g. `keys-create=10,keys=2000`), over the defaults; throws naming a bad entry. */
export function parseThrottleLimits(spec: string, defaults: ThrottleLimits = AZURE_VAULT_LIMITS): ThrottleLimits {
  const out: Record<ThrottleClass, number> = { ...defaults };
  for (const part of spec.split(',').map((p) => p.trim()).filter(Boolean)) {
    const [k, v] = part.split('=').map((x) => x.trim());
    if (!k || !(k in out) || v === undefined || !/^\d+$/.test(v) || Number(v) < 1) throw new Error(`bad throttle limit "${part}" (classes: ${Object.keys(out).join(', ')}; a positive integer each)`);
    out[k as ThrottleClass] = Number(v);
  }
  return out;
}
