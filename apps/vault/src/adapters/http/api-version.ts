import { HttpProblem } from './azure-errors.js';

/**
 * Every Key Vault data-plane api-version Azure publishes (AZURE-COMPAT.md), plus the preview
 * versions seen in Microsoft's recorded sessions. Fields added by later versions are left
 * out of answers to older ones.
 */
export const API_VERSIONS = ['2016-10-01', '7.0', '7.1', '7.2', '7.3', '7.4', '7.5', '7.6', '2025-07-01', '2026-04-01', '2026-03-01-preview'] as const;
export const LATEST_API_VERSION = '2026-04-01';
const SUPPORTED: ReadonlySet<string> = new Set(API_VERSIONS);

/** Query parameters of a request URL, keys percent-decoded (`api%2Dversion` is `api-version`). */
export function queryOf(url: string): URLSearchParams {
  const q = url.indexOf('?');
  return new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
}

/** The request's api-version, or Azure's 400 BadParameter. */
export function requireApiVersion(query: URLSearchParams): string {
  const v = query.get('api-version');
  if (v === null || v === '') {
    throw new HttpProblem(400, 'BadParameter', `The api-version query parameter is missing. Consider using the latest supported version (${LATEST_API_VERSION}).`);
  }
  if (!SUPPORTED.has(v)) {
    throw new HttpProblem(400, 'BadParameter', `The specified version (${v.slice(0, 40)}) is not recognized. Consider using the latest supported version (${LATEST_API_VERSION}).`);
  }
  return v;
}

/** `recoverableDays` appeared in 7.1: older versions do not report it. */
export function reportsRecoverableDays(apiVersion: string): boolean {
  return apiVersion !== '2016-10-01' && apiVersion !== '7.0';
}
