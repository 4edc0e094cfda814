/**
 * Helpers of the interactive sign-in specs: a browser of one (cookies, with the path, expiry
 * and deletion a browser honours), the sign-in form's sealed context, the token endpoint,
 * and the identity schema's SignIn / SignOut audit records.
 */
import { bootstrap, db, raw, type RawResponse } from '../vault/vault-e2e.support.js';

export const AUTHORITY = bootstrap.authorityHost;
export const TENANT = bootstrap.tenantId;

export const token = (form: Record<string, string>): Promise<RawResponse> =>
  raw(`${AUTHORITY}/${TENANT}/oauth2/v2.0/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form).toString() });
export const claims = (jwt: string): Record<string, unknown> => JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString()) as Record<string, unknown>;
export const aad = (r: RawResponse) => r.json as { error?: string; error_description?: string; error_codes?: number[]; access_token?: string; refresh_token?: string; id_token?: string };

type Cookie = { value: string; path: string; attributes: string };

/** A browser of one: keeps its cookies (sent on the paths they are scoped to), reads the form's sealed context. */
export class Browser {
  readonly cookies = new Map<string, Cookie>();

  async request(url: string, init: { method?: string; form?: Record<string, string> } = {}): Promise<RawResponse> {
    const headers: Record<string, string> = {};
    const path = new URL(url).pathname;
    const sent = [...this.cookies].filter(([, c]) => path.startsWith(c.path));
    if (sent.length > 0) headers.cookie = sent.map(([k, c]) => `${k}=${c.value}`).join('; ');
    if (init.form) headers['content-type'] = 'application/x-www-form-urlencoded';
    const res = await raw(url, { method: init.method ?? 'GET', headers, ...(init.form ? { body: new URLSearchParams(init.form).toString() } : {}) });
    const set = res.headers['set-cookie'];
    for (const c of Array.isArray(set) ? set : set ? [set] : []) {
      const [pair, ...attributes] = c.split(';').map((s) => s.trim());
      const i = pair!.indexOf('=');
      const name = pair!.slice(0, i);
      const cookiePath = attributes.find((a) => a.toLowerCase().startsWith('path='))?.slice(5) ?? '/';
      if (attributes.some((a) => a.toLowerCase() === 'max-age=0')) this.cookies.delete(name);
      else this.cookies.set(name, { value: pair!.slice(i + 1), path: cookiePath, attributes: attributes.join('; ') });
    }
    return res;
  }

  static ctxOf(page: RawResponse): string {
    const m = /name="ctx" value="([^"]+)"/.exec(page.text);
    if (!m) throw new Error(`no sign-in form: ${page.status} ${page.text.slice(0, 300)}`);
    return m[1]!;
  }
}

export type SignInRecord = { operationName: string; resultType: string; resultSignature: string; resultDescription?: string; identity: { oid?: string; appid?: string }; properties: { extra?: Record<string, string> } };

/** The SignIn (and SignOut) records of a user name, oldest first. */
export async function signInRecords(username: string, operations: readonly string[] = ['SignIn']): Promise<SignInRecord[]> {
  const res = await db().query<{ data: SignInRecord }>(
    `SELECT payload->'data' AS data FROM identity.outbox WHERE topic = 'keyledger.audit.records.v1' AND payload->'data'->>'operationName' = ANY($2::text[]) AND payload->'data'->'properties'->'extra'->>'username' = $1 ORDER BY id`,
    [username, operations],
  );
  return res.rows.map((r) => r.data);
}
