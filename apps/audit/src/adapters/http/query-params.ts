import { HttpError } from './audit-auth.js';

export type Query = Record<string, string | string[] | undefined>;

export function one(q: Query, name: string): string | undefined {
  const v = q[name];
  const s = Array.isArray(v) ? v[0] : v;
  if (s === undefined || s === '') return undefined;
  if (s.length > 1024) throw new HttpError(400, 'BadParameter', `"${name}" is too long`);
  return s;
}

const UNIT_MS: Readonly<Record<string, number>> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/** `90s`, `15m`, `1h`, `7d`, `2w` → milliseconds. */
export function parseDuration(raw: string, name = 'since'): number {
  const m = /^(\d{1,6})\s*([smhdw])$/i.exec(raw.trim());
  if (!m) throw new HttpError(400, 'BadParameter', `"${name}" must be a duration such as 15m, 1h or 7d`);
  return Number(m[1]) * UNIT_MS[m[2]!.toLowerCase()]!;
}

export function parseTime(raw: string | undefined, name: string): Date | undefined {
  if (raw === undefined) return undefined;
  const t = Date.parse(raw);
  if (Number.isNaN(t)) throw new HttpError(400, 'BadParameter', `"${name}" must be an ISO 8601 time`);
  return new Date(t);
}

/** from/to/since → a time window (since wins over from). */
export function timeWindow(q: Query, now = Date.now()): { from?: Date; to?: Date } {
  const since = one(q, 'since');
  const from = since ? new Date(now - parseDuration(since)) : parseTime(one(q, 'from'), 'from');
  const to = parseTime(one(q, 'to'), 'to');
  if (from && to && from > to) throw new HttpError(400, 'BadParameter', '"from" is after "to"');
  return { ...(from ? { from } : {}), ...(to ? { to } : {}) };
}

export function intParam(q: Query, name: string, def: number, min: number, max: number): number {
  const raw = one(q, name);
  if (raw === undefined) return def;
  if (!/^\d+$/.test(raw)) throw new HttpError(400, 'BadParameter', `"${name}" must be an integer`);
  const n = Number(raw);
  if (n < min || n > max) throw new HttpError(400, 'BadParameter', `"${name}" must be between ${min} and ${max}`);
  return n;
}

export function choice<T extends string>(q: Query, name: string, values: readonly T[]): T | undefined {
  const raw = one(q, name);
  if (raw === undefined) return undefined;
  const v = raw.toLowerCase();
  const found = values.find((x) => x.toLowerCase() === v);
  if (!found) throw new HttpError(400, 'BadParameter', `"${name}" must be one of ${values.join(', ')}`);
  return found;
}
