import { badParameter } from '../../domain/vault.errors.js';

/** Azure's page size bounds for `maxresults`. */
export const MAX_PAGE_SIZE = 25;

export type Page<T> = { readonly items: readonly T[]; readonly next: string | null };

export function pageSize(raw: string | undefined): number {
  if (raw === undefined || raw === '') return MAX_PAGE_SIZE;
  if (!/^\d+$/.test(raw)) throw badParameter(`Invalid maxresults value '${raw.slice(0, 32)}': it must be an integer from 1 to ${MAX_PAGE_SIZE}.`, { reason: 'MaxResults' });
  const n = Number(raw);
  if (n < 1 || n > MAX_PAGE_SIZE) throw badParameter(`Invalid maxresults value '${n}': it must be an integer from 1 to ${MAX_PAGE_SIZE}.`, { reason: 'MaxResults' });
  return n;
}

/** `$skiptoken`: opaque to clients; here the base64url JSON of the last key of the previous page. */
export function encodeSkipToken(after: string): string {
  return Buffer.from(JSON.stringify({ a: after }), 'utf8').toString('base64url');
}

export function decodeSkipToken(token: string | undefined): string {
  if (token === undefined || token === '') return '';
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { a?: unknown };
    if (typeof parsed.a === 'string' && parsed.a.length <= 256) return parsed.a;
  } catch {
    // fall through
  }
  throw badParameter('The $skiptoken is invalid.', { reason: 'SkipToken' });
}

/** Cuts a `limit + 1` query result into a page and the token of the next one. */
export function toPage<T>(rows: readonly T[], limit: number, keyOf: (row: T) => string): Page<T> {
  if (rows.length <= limit) return { items: rows, next: null };
  const items = rows.slice(0, limit);
  return { items, next: encodeSkipToken(keyOf(items[items.length - 1]!)) };
}
