import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { REPO_ROOT } from '#libs/platform';
import { accessToken, closeDb, createVault, dropVault, raw, VAULT_RESOURCE, vaultUrl, type RawResponse } from './vault-e2e.support.js';

jest.setTimeout(120_000);

/**
 * Replays Microsoft's recorded Azure Key Vault sessions (shared/conformance, see its README)
 * against the vault: the same requests in order, each file in a vault of its own; compares
 * status codes, error codes (and inner codes), and the set of JSON keys, recursively. Values
 * differ by nature (ids, times, messages). Runs of identical requests (pollers, a restore
 * retried after a purge) count as one: the last recorded answer is the expected one. Lists
 * are followed to their end; only the test's own items are checked.
 */
const DIR = resolve(process.env.KEYLEDGER_CONFORMANCE_DIR ?? join(REPO_ROOT, '..', 'shared', 'conformance', 'recordings', 'keyvault-secrets'));

type Entry = { RequestUri: string; RequestMethod: string; RequestHeaders: Record<string, string>; RequestBody: unknown; StatusCode: number; ResponseHeaders: Record<string, string>; ResponseBody: unknown };

function recordings(): string[] {
  if (!existsSync(DIR)) return [];
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const f of readdirSync(d, { withFileTypes: true })) {
      if (f.isDirectory()) walk(join(d, f.name));
      else if (f.name.endsWith('.json')) out.push(join(d, f.name));
    }
  };
  walk(DIR);
  return out.sort();
}

/** The shape of a JSON value: keys recursively, arrays by the union of their items' shapes. */
function shape(v: unknown): unknown {
  if (Array.isArray(v)) return v.length === 0 ? [] : [Object.assign({}, ...v.map((x) => shape(x) as object))];
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.keys(v as object).sort().map((k) => [k, shape((v as Record<string, unknown>)[k])]));
  return '·';
}

const isList = (path: string): boolean => /^\/(secrets|deletedsecrets)\/?$/.test(path) || /^\/secrets\/[^/]+\/versions\/?$/.test(path);
const nameOfId = (id: string): string | undefined => /\/(?:secrets|deletedsecrets)\/([^/?]+)/.exec(id)?.[1];

const files = recordings();

describe('replay of the recorded Azure Key Vault secrets sessions', () => {
  let token: string;

  beforeAll(async () => {
    token = await accessToken(VAULT_RESOURCE);
  });
  afterAll(() => closeDb());

  it('finds the recordings', () => {
    expect(files.length).toBeGreaterThan(60);
  });

  it.each(files.map((f) => [relative(DIR, f), f]))('%s', async (_label, file) => {
    const entries = (JSON.parse(readFileSync(file, 'utf8')) as { Entries: Entry[] }).Entries;
    const vault = await createVault('e2e-replay');
    const base = vaultUrl(vault);
    const versions = new Map<string, string>();
    let lastBackup: string | undefined;
    const mismatches: string[] = [];
    try {
      for (let i = 0; i < entries.length; i++) {
        const e = entries[i]!;
        const key = (x: Entry) => `${'Authorization' in x.RequestHeaders} ${x.RequestMethod} ${x.RequestUri} ${JSON.stringify(x.RequestBody)}`;
        // A run of identical requests (polling) counts once: the last answer is the final one.
        let last = e;
        while (i + 1 < entries.length && key(entries[i + 1]!) === key(e) && entries[i + 1]!.RequestUri.indexOf('$skiptoken') < 0) last = entries[++i]!;
        const url = new URL(e.RequestUri);
        if (url.searchParams.has('$skiptoken')) continue; // continuation pages: followed below
        let path = url.pathname;
        for (const [recorded, ours] of versions) path = path.replace(`/${recorded}`, `/${ours}`);
        const anonymous = !('Authorization' in e.RequestHeaders);
        let body: string | undefined;
        if (e.RequestBody !== null && e.RequestBody !== undefined) {
          const b = { ...(e.RequestBody as Record<string, unknown>) };
          if (path === '/secrets/restore' && typeof b.value === 'string' && lastBackup) b.value = lastBackup;
          body = JSON.stringify(b);
        }
        const headers: Record<string, string> = { ...(anonymous ? {} : { authorization: `Bearer ${token}` }), ...(body !== undefined || e.RequestMethod === 'PUT' ? { 'content-type': 'application/json' } : {}) };
        if (body === undefined && e.RequestMethod !== 'GET' && e.RequestMethod !== 'DELETE') headers['content-length'] = '0';
        const res: RawResponse = await raw(`${base}${path}${url.search}`, { method: e.RequestMethod, headers, ...(body !== undefined ? { body } : {}) });
        const where = `#${i} ${e.RequestMethod} ${url.pathname}`;
        if (res.status !== last.StatusCode) {
          mismatches.push(`${where}: status ${res.status}, recorded ${last.StatusCode} (${res.text.slice(0, 160)})`);
          continue;
        }
        if (last.StatusCode === 401 && !res.headers['www-authenticate']) mismatches.push(`${where}: 401 without WWW-Authenticate`);
        const recordedBody = last.ResponseBody as Record<string, unknown> | null;
        const ours = res.json as Record<string, unknown> | undefined;
        if (recordedBody && typeof recordedBody === 'object' && 'error' in recordedBody) {
          const re = recordedBody.error as { code: string; innererror?: { code: string } };
          const oe = (ours?.error ?? {}) as { code?: string; innererror?: { code: string } };
          if (oe.code !== re.code || oe.innererror?.code !== re.innererror?.code) mismatches.push(`${where}: error ${oe.code}/${oe.innererror?.code}, recorded ${re.code}/${re.innererror?.code}`);
          continue;
        }
        if (isList(url.pathname) && e.RequestMethod === 'GET') {
          // Follow our nextLinks; compare the page shape and that our own items are listed.
          const recordedPages = entries.filter((x) => x.RequestMethod === 'GET' && new URL(x.RequestUri).pathname === url.pathname).map((x) => x.ResponseBody as { value: Record<string, unknown>[] });
          const recordedItems = recordedPages.flatMap((p) => p?.value ?? []);
          const itemKeys = new Set(recordedItems.flatMap((x) => Object.keys(x)));
          const ourItems: Record<string, unknown>[] = [];
          let page = ours as { value: Record<string, unknown>[]; nextLink: string | null };
          for (let guard = 0; guard < 50; guard++) {
            if (JSON.stringify(Object.keys(page).sort()) !== JSON.stringify(['nextLink', 'value'])) mismatches.push(`${where}: page keys ${Object.keys(page)}`);
            ourItems.push(...page.value);
            if (!page.nextLink) break;
            page = (await raw(page.nextLink, { headers: { authorization: `Bearer ${token}` } })).json as typeof page;
          }
          for (const item of ourItems) for (const k of Object.keys(item)) if (recordedItems.length > 0 && !itemKeys.has(k)) mismatches.push(`${where}: list item key ${k} not recorded`);
          const ownNames = new Set(ourItems.map((x) => nameOfId(String(x.id))));
          for (const r of recordedItems) {
            const n = nameOfId(String(r.id));
            if (n && entries.some((x) => x.RequestMethod === 'PUT' && new URL(x.RequestUri).pathname === `/secrets/${n}`) && !ownNames.has(n)) mismatches.push(`${where}: own item ${n} not listed`);
          }
          continue;
        }
        if (recordedBody && ours && JSON.stringify(shape(ours)) !== JSON.stringify(shape(recordedBody))) {
          mismatches.push(`${where}: keys ${JSON.stringify(shape(ours))} vs recorded ${JSON.stringify(shape(recordedBody))}`);
        }
        // Map the recorded version ids to ours, and remember our backup blob.
        const rid = typeof recordedBody?.id === 'string' ? /\/secrets\/[^/]+\/([0-9a-f]{32})$/.exec(recordedBody.id)?.[1] : undefined;
        const oid = typeof ours?.id === 'string' ? /\/secrets\/[^/]+\/([0-9a-f]{32})$/.exec(ours.id)?.[1] : undefined;
        if (rid && oid) versions.set(rid, oid);
        if (url.pathname.endsWith('/backup') && typeof ours?.value === 'string') lastBackup = ours.value;
      }
    } finally {
      await dropVault(vault);
    }
    expect(mismatches).toEqual([]);
  });
});
