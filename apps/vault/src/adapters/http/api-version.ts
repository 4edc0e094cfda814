import { HttpProblem } from './azure-errors.js';

/**
 * Every api-version Azure has published for the Key Vault data plane, GA and preview, in
 * publication order. Origin: the version folders of `Azure/azure-rest-api-specs`,
 * `specification/keyvault/data-plane/` (listed 2026-12-07 over the repository's history):
 *
 *   Microsoft.KeyVault/stable/   2015-06-01 2016-10-01 7.0 7.1 7.2 7.3 7.4 7.5 7.6 2025-06-01 2025-07-01
 *   Microsoft.KeyVault/preview/  7.0 7.1 7.2-preview 7.3-preview 7.4-preview.1 7.5-preview.1 7.6-preview.1
 *                                7.6-preview.2 2025-06-01-preview 2025-07-01-preview 2026-01-01-preview
 *   Legacy/preview/              7.0-preview 7.1-preview (the api-versions of Microsoft.KeyVault/preview/7.0 and 7.1)
 *   Keys|Secrets|Certificates/stable/   7.5 7.6 2025-07-01 2026-04-01
 *   Keys|Secrets|Certificates/preview/  7.6-preview.2 2025-06-01-preview 2026-01-01-preview 2026-03-01-preview
 *                                       2026-05-01-preview 2026-07-01-preview
 *
 * Each entry names the GA version whose answers it gets (`shape`): a preview behaves like
 * the GA version it precedes (`7.6-preview.2` like `7.6`, `2026-03-01-preview` like
 * `2026-04-01`); a preview newer than every GA version behaves like the newest one.
 */
const PUBLISHED: ReadonlyArray<{ readonly version: string; readonly shape: string }> = [
  { version: '2015-06-01', shape: '2015-06-01' },
  { version: '2016-10-01', shape: '2016-10-01' },
  { version: '7.0-preview', shape: '7.0' },
  { version: '7.0', shape: '7.0' },
  { version: '7.1-preview', shape: '7.1' },
  { version: '7.1', shape: '7.1' },
  { version: '7.2-preview', shape: '7.2' },
  { version: '7.2', shape: '7.2' },
  { version: '7.3-preview', shape: '7.3' },
  { version: '7.3', shape: '7.3' },
  { version: '7.4-preview.1', shape: '7.4' },
  { version: '7.4', shape: '7.4' },
  { version: '7.5-preview.1', shape: '7.5' },
  { version: '7.5', shape: '7.5' },
  { version: '7.6-preview.1', shape: '7.6' },
  { version: '7.6-preview.2', shape: '7.6' },
  { version: '7.6', shape: '7.6' },
  { version: '2025-06-01-preview', shape: '2025-06-01' },
  { version: '2025-06-01', shape: '2025-06-01' },
  { version: '2025-07-01-preview', shape: '2025-07-01' },
  { version: '2025-07-01', shape: '2025-07-01' },
  { version: '2026-01-01-preview', shape: '2026-04-01' },
  { version: '2026-03-01-preview', shape: '2026-04-01' },
  { version: '2026-04-01', shape: '2026-04-01' },
  { version: '2026-05-01-preview', shape: '2026-04-01' },
  { version: '2026-07-01-preview', shape: '2026-04-01' },
];

/** Every accepted api-version, oldest first. */
export const API_VERSIONS: readonly string[] = PUBLISHED.map((p) => p.version);
/** The GA versions, oldest first. */
export const GA_API_VERSIONS: readonly string[] = [...new Set(PUBLISHED.map((p) => p.shape))];
export const LATEST_API_VERSION = '2026-04-01';

const SHAPE: ReadonlyMap<string, string> = new Map(PUBLISHED.map((p) => [p.version, p.shape]));
const GA_ORDER: ReadonlyMap<string, number> = new Map(GA_API_VERSIONS.map((v, i) => [v, i]));

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
  if (!SHAPE.has(v)) {
    throw new HttpProblem(400, 'BadParameter', `The specified version (${v.slice(0, 40)}) is not recognized. Consider using the latest supported version (${LATEST_API_VERSION}).`);
  }
  return v;
}

/** The GA version whose answer shape an accepted api-version gets (itself for a GA version). */
export function shapeOf(apiVersion: string): string {
  const shape = SHAPE.get(apiVersion);
  if (shape === undefined) throw new Error(`api-version ${apiVersion.slice(0, 40)} was not accepted`);
  return shape;
}

/** Whether answers to `apiVersion` have what GA version `ga` introduced (`atLeast('7.6-preview.2', '7.6')` is true). */
export function atLeast(apiVersion: string, ga: string): boolean {
  const want = GA_ORDER.get(ga);
  if (want === undefined) throw new Error(`${ga} is not a GA api-version`);
  return GA_ORDER.get(shapeOf(apiVersion))! >= want;
}

/** `recoverableDays` appeared in 7.1: older versions do not report it. */
export function reportsRecoverableDays(apiVersion: string): boolean {
  return atLeast(apiVersion, '7.1');
}
