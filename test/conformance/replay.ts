import { randomUUID } from 'node:crypto';
import https from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { keyMaterialProblems } from './key-material.js';
import { compareShapes, keysOf, shapeOf } from './shape.js';
import type { RecordedEntry, Recording } from './recording.js';

export type Target = {
  /** e.g. 127.0.0.1 */
  readonly connectHost: string;
  readonly port: number;
  /** The vault host the client uses (Host header and TLS server name), e.g. dev.vault.localhost */
  readonly vaultHost: string;
  /** The Managed HSM pool host for recordings made against one (`managedhsm/`), e.g. dev.managedhsm.localhost */
  readonly hsmHost?: string;
  readonly ca: Buffer;
  readonly token: (resource: string) => Promise<string>;
};

export type Reply = { readonly status: number; readonly headers: IncomingHttpHeaders; readonly body: unknown; readonly text: string };

export type EntryResult = { readonly index: number; readonly request: string; readonly ok: boolean; readonly difference?: string };
export type FileResult = { readonly file: string; readonly apiVersion: string; readonly ok: boolean; readonly entries: readonly EntryResult[]; readonly firstDifference?: string };

const VERSION = /^[0-9a-f]{32}$/;
const SPECIAL_SEGMENTS = new Set(['backup', 'restore', 'recover', 'versions', 'pending', 'batchget', 'issuers', 'contacts']);
const TRANSIENT = new Set([404, 409]);
const POLL_ATTEMPTS = 30;

const agent = new https.Agent({ keepAlive: true, maxSockets: 4 });

/** Closes the replay's keep-alive connections. */
export function closeReplayConnections(): void {
  agent.destroy();
}

function send(target: Target, method: string, pathAndQuery: string, headers: Record<string, string>, body: string | undefined): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: target.connectHost,
        port: target.port,
        servername: target.vaultHost,
        method,
        path: pathAndQuery,
        ca: target.ca,
        agent,
        headers: { ...headers, host: `${target.vaultHost}:${target.port}`, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try {
            parsed = text.length > 0 ? JSON.parse(text) : undefined;
          } catch {
            parsed = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed, text });
        });
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** Request paths whose answer `value` is fed into later requests (verify, decrypt, unwrapkey, restore). */
const PRODUCES_VALUE = /\/(backup|sign|encrypt|wrapkey)$/i;
/** Fields of a request body that carry bytes an earlier answer produced. */
const FED_FIELDS = ['value', 'iv', 'tag', 'authenticationTag'] as const;

/** Rewrites names, versions and blobs of one recording onto Keyledger's own values. */
class Mapper {
  readonly names = new Map<string, string>();
  readonly versions = new Map<string, string>();
  /** Recorded bytes (backup blobs, signatures, ciphertexts, wrapped keys, IVs, tags) → ours. */
  readonly blobs = new Map<string, string>();

  /** Who the Managed HSM role-assignment recordings assign to, in place of their sanitized placeholder `azure_client_id`. */
  readonly principalId = randomUUID();

  constructor(private readonly suffix: string) {}

  name(recorded: string): string {
    let mapped = this.names.get(recorded);
    if (!mapped) {
      mapped = `${recorded}${this.suffix}`.slice(0, 127);
      this.names.set(recorded, mapped);
    }
    return mapped;
  }

  /** `/secrets/{name}/{version}/…` with names suffixed and versions mapped. */
  path(recordedPath: string): string {
    const parts = recordedPath.split('/');
    for (let i = 1; i < parts.length; i++) {
      const prev = parts[i - 1];
      const p = parts[i]!;
      if (!p) continue;
      if ((prev === 'secrets' || prev === 'deletedsecrets' || prev === 'keys' || prev === 'deletedkeys' || prev === 'certificates' || prev === 'deletedcertificates') && !SPECIAL_SEGMENTS.has(p)) {
        parts[i] = this.name(decodeURIComponent(p));
      } else if (VERSION.test(p)) {
        parts[i] = this.versions.get(p) ?? p;
      }
    }
    return parts.join('/');
  }

  body(recorded: unknown): unknown {
    if (typeof recorded !== 'object' || recorded === null) return recorded;
    const o = { ...(recorded as Record<string, unknown>) };
    for (const f of FED_FIELDS) {
      const v = o[f];
      if (typeof v === 'string' && this.blobs.has(v)) o[f] = this.blobs.get(v);
    }
    const props = o.properties as Record<string, unknown> | undefined;
    if (props && typeof props === 'object' && props.principalId === 'azure_client_id') o.properties = { ...props, principalId: this.principalId };
    return o;
  }

  /** Whether a recorded value was produced by an earlier answer of this replay (and so is mapped). */
  fed(recorded: unknown): boolean {
    return typeof recorded === 'string' && this.blobs.has(recorded);
  }

  /**
   * Learns ids and blobs by comparing the recorded response with ours: the version of every
   * `id`, `kid` (a key bundle's `key.kid` too) and `sid`, and the bytes an operation produced.
   */
  learn(entry: RecordedEntry, ours: Reply): void {
    const rec = entry.ResponseBody as Record<string, unknown> | null;
    const mine = ours.body as Record<string, unknown> | undefined;
    if (!rec || !mine || typeof rec !== 'object' || typeof mine !== 'object') return;
    const version = (id: unknown) => (typeof id === 'string' ? id.split('/').filter(Boolean).pop() : undefined);
    const learnVersion = (r: unknown, m: unknown): void => {
      const rv = version(r);
      const mv = version(m);
      if (rv && mv && VERSION.test(rv) && VERSION.test(mv)) this.versions.set(rv, mv);
    };
    const recKey = rec.key as Record<string, unknown> | undefined;
    const myKey = mine.key as Record<string, unknown> | undefined;
    learnVersion(rec.id, mine.id);
    learnVersion(rec.kid, mine.kid);
    learnVersion(rec.sid, mine.sid);
    if (recKey && myKey && typeof recKey === 'object' && typeof myKey === 'object') learnVersion(recKey.kid, myKey.kid);
    if (Array.isArray(rec.value) && Array.isArray(mine.value)) return;
    if (PRODUCES_VALUE.test(pathOf(entry.RequestUri))) {
      for (const f of FED_FIELDS) if (typeof rec[f] === 'string' && typeof mine[f] === 'string') this.blobs.set(rec[f] as string, mine[f] as string);
    }
  }
}

const pathOf = (uri: string): string => new URL(uri).pathname;
const queryOf = (uri: string): URLSearchParams => new URL(uri).searchParams;
const isListRequest = (e: RecordedEntry): boolean => e.RequestMethod === 'GET' && /\/(secrets|deletedsecrets|keys|deletedkeys|certificates|deletedcertificates)(\/[^/]+\/versions)?\/?$/.test(pathOf(e.RequestUri));
const hasAuth = (e: RecordedEntry): boolean => Object.keys(e.RequestHeaders).some((k) => k.toLowerCase() === 'authorization');
const sameRequest = (a: RecordedEntry, b: RecordedEntry): boolean =>
  a.RequestMethod === b.RequestMethod && a.RequestUri === b.RequestUri && hasAuth(a) === hasAuth(b) && JSON.stringify(a.RequestBody) === JSON.stringify(b.RequestBody);
const isKeysRequest = (e: RecordedEntry): boolean => /^\/(keys|deletedkeys|rng)(\/|$)/.test(pathOf(e.RequestUri));

function errorCodes(body: unknown): { code?: string; inner?: string } {
  const err = (body as { error?: { code?: string; innererror?: { code?: string } } } | undefined)?.error;
  return { ...(err?.code ? { code: err.code } : {}), ...(err?.innererror?.code ? { inner: err.innererror.code } : {}) };
}

function describe(method: string, path: string, status: number, body: unknown): string {
  const { code, inner } = errorCodes(body);
  return `${status}${code ? ` ${code}` : ''}${inner ? ` (${inner})` : ''}`;
}

/** Recorded response headers Keyledger deliberately does not send (differences.json, with reasons). */
let absentHeaders: ReadonlySet<string> = new Set();
export function setDocumentedAbsentHeaders(headers: readonly string[]): void {
  absentHeaders = new Set(headers.map((h) => h.toLowerCase()));
}

/**
 * A list page of the shared development vault also holds other tests' objects (a deleted
 * certificate's managed secret carries `contentType` and `managed`, which no item of the
 * recording had): secrets, keys and certificates whose ids do not carry this replay's suffix
 * are left out of the shape comparison. Other items (role assignments and definitions) and the
 * page's own keys are compared as they are.
 */
export function ownItemsOnly(reply: Reply, suffix: string): Reply {
  const body = reply.body as { value?: unknown } | undefined;
  if (!body || typeof body !== 'object' || !Array.isArray(body.value)) return reply;
  const objectId = /\/(deleted)?(secrets|keys|certificates)\//;
  const foreign = (item: unknown): boolean => {
    if (!item || typeof item !== 'object') return false;
    const o = item as { id?: unknown; kid?: unknown; key?: { kid?: unknown } };
    const id = [o.id, o.kid, o.key?.kid].find((x): x is string => typeof x === 'string');
    return id !== undefined && objectId.test(id) && !id.includes(suffix);
  };
  return { ...reply, body: { ...body, value: body.value.filter((item) => !foreign(item)) } };
}

/** Compares one of our replies with the recorded one: status, error codes, JSON keys, headers. */
export function compareEntry(entry: RecordedEntry, ours: Reply, lenientArrays: boolean): string | undefined {
  const label = `${entry.RequestMethod} ${pathOf(entry.RequestUri)}`;
  if (ours.status !== entry.StatusCode) {
    return `${label} → expected ${describe(entry.RequestMethod, label, entry.StatusCode, entry.ResponseBody)}${entry.StatusCode < 300 ? ` with keys ${keysOf(entry.ResponseBody)}` : ''}, got ${describe(entry.RequestMethod, label, ours.status, ours.body)}`;
  }
  const exp = errorCodes(entry.ResponseBody);
  const got = errorCodes(ours.body);
  if (exp.code !== got.code) return `${label} → expected error.code ${exp.code}, got ${got.code}`;
  if (exp.inner !== got.inner) return `${label} → expected inner error ${exp.inner}, got ${got.inner}`;
  if (entry.ResponseBody !== null && entry.ResponseBody !== undefined && entry.ResponseBody !== '') {
    const diffs = compareShapes(shapeOf(entry.ResponseBody), shapeOf(ours.body), '', lenientArrays);
    if (diffs.length) return `${label} → ${diffs[0]}`;
    const ct = entry.ResponseHeaders['Content-Type'];
    if (ct && String(ours.headers['content-type']).toLowerCase() !== ct.toLowerCase()) return `${label} → expected content-type "${ct}", got "${ours.headers['content-type']}"`;
  }
  if (!ours.headers['x-ms-request-id']) return `${label} → no x-ms-request-id header`;
  for (const h of Object.keys(entry.ResponseHeaders).map((k) => k.toLowerCase())) {
    if (ours.headers[h] === undefined && !absentHeaders.has(h) && h !== 'content-length') return `${label} → response header "${h}" missing (not on the documented difference list)`;
  }
  if (entry.StatusCode === 401) {
    const challenge = String(ours.headers['www-authenticate'] ?? '');
    if (!/^Bearer authorization="https:\/\/[^"]+\/[0-9a-f-]{36}", (resource|scope)="https:\/\/[^"]+"$/.test(challenge)) return `${label} → WWW-Authenticate "${challenge}" is not Azure's shape`;
  }
  return undefined;
}

/**
 * Replays one recording in order. The first request goes without a token and must get the
 * challenge; the rest carry a token for the challenge's resource. Runs of identical requests
 * (polling) are collapsed: zero or more transient replies, then the final recorded one.
 * List requests are followed through nextLink; only the test's own items must appear.
 */
export async function replay(recording: Recording, serverTarget: Target, suffix: string): Promise<FileResult> {
  const map = new Mapper(suffix);
  // Recordings made against a Managed HSM pool go to Keyledger's pool host.
  const first = recording.entries[0];
  const target = first && new URL(first.RequestUri).hostname.includes('.managedhsm.') ? { ...serverTarget, vaultHost: serverTarget.hsmHost ?? serverTarget.vaultHost } : serverTarget;
  const results: EntryResult[] = [];
  let resource: string | undefined;
  /** Keyledger's latest nextLink per list path, for recorded page requests that come one at a time. */
  const nextLinks = new Map<string, string>();
  const entries = recording.entries;
  let i = 0;
  while (i < entries.length) {
    const entry = entries[i]!;
    // Group the run of identical requests (polling) and of list pages (nextLink/$skiptoken).
    let j = i + 1;
    if (isListRequest(entry) && !queryOf(entry.RequestUri).has('$skiptoken')) {
      while (j < entries.length && isListRequest(entries[j]!) && pathOf(entries[j]!.RequestUri) === pathOf(entry.RequestUri) && queryOf(entries[j]!.RequestUri).has('$skiptoken')) j++;
    } else {
      // Polling: identical requests after transient replies (404/409). Identical requests after
      // a success are separate calls (two creates make two versions).
      while (j < entries.length && sameRequest(entries[j]!, entry) && TRANSIENT.has(entries[j - 1]!.StatusCode)) j++;
    }
    const run = entries.slice(i, j);
    const final = run[run.length - 1]!;
    const url = new URL(entry.RequestUri);
    const path = map.path(url.pathname);
    const query = url.search.replace(/^\?/, '');
    const headers: Record<string, string> = { accept: 'application/json' };
    const ct = Object.entries(entry.RequestHeaders).find(([k]) => k.toLowerCase() === 'content-type')?.[1];
    if (ct) headers['content-type'] = ct;
    if (Object.keys(entry.RequestHeaders).some((k) => k.toLowerCase() === 'x-ms-client-request-id')) headers['x-ms-client-request-id'] = randomUUID();
    const authorized = Object.keys(entry.RequestHeaders).some((k) => k.toLowerCase() === 'authorization');
    if (authorized) {
      if (!resource) throw new Error('an authorized request came before any challenge');
      headers.authorization = `Bearer ${await target.token(resource)}`;
    }
    const request = `${entry.RequestMethod} ${path}`;
    // A verify, decrypt or unwrapkey of bytes no earlier step of this replay produced (the SDK
    // signed or encrypted locally with the recorded key): produce them with Keyledger's key first.
    let preDifference: string | undefined;
    if (authorized && isKeysRequest(entry)) preDifference = await feedFromKeyledger(target, path, query, headers, entry, map);
    const body = entry.RequestBody === null || entry.RequestBody === undefined || entry.RequestBody === '' ? undefined : JSON.stringify(map.body(entry.RequestBody));

    let ours: Reply;
    let difference: string | undefined;
    if (isListRequest(entry) && final.StatusCode === 200 && run.length === 1) {
      // One page at a time (the test pages by hand): a recorded $skiptoken means "our next page".
      let pageUrl = `${path}${query ? `?${query}` : ''}`;
      if (queryOf(entry.RequestUri).has('$skiptoken')) {
        const n = nextLinks.get(path);
        if (n) pageUrl = n;
        else difference = `${request} → the recording asks for a next page, but Keyledger's previous page had no nextLink`;
      }
      ours = await send(target, entry.RequestMethod, pageUrl, headers, undefined);
      difference ??= compareEntry(entry, ownItemsOnly(ours, suffix), true);
      const link = (ours.body as { nextLink?: string | null } | undefined)?.nextLink;
      if (link) {
        const n = new URL(link);
        nextLinks.set(path, `${n.pathname}${n.search}`);
      } else nextLinks.delete(path);
    } else if (isListRequest(entry) && final.StatusCode === 200) {
      // Follow nextLink to the end; compare every page's shape with the recorded pages.
      const recordedPages = run.map((e) => e.ResponseBody);
      const items: unknown[] = [];
      let next: string | undefined = `${path}?${query}`;
      ours = await send(target, entry.RequestMethod, next, headers, undefined);
      for (let page = 0; page < 200 && next; page++) {
        if (page > 0) ours = await send(target, entry.RequestMethod, next, headers, undefined);
        const cmp = compareEntry({ ...entry, ResponseBody: mergePages(recordedPages) }, ownItemsOnly(ours, suffix), true);
        if (cmp) {
          difference = cmp;
          break;
        }
        const b = ours.body as { value?: unknown[]; nextLink?: string | null };
        items.push(...(b.value ?? []));
        if (b.nextLink) {
          const n = new URL(b.nextLink);
          if (!n.searchParams.get('api-version')) {
            difference = `${request} → nextLink has no api-version`;
            break;
          }
          next = `${n.pathname}${n.search}`;
        } else next = undefined;
      }
      if (!difference) {
        const recordedOwn = recordedPages.flatMap((p) => ((p as { value?: { id?: string; kid?: string; recoveryId?: string }[] }).value ?? []).map((v) => v.recoveryId ?? v.id ?? v.kid ?? ''));
        const ownNames = [...map.names.entries()];
        for (const [recName, ourName] of ownNames) {
          const wasListed = recordedOwn.some((id) => id.includes(`/${recName}`) && (id.endsWith(`/${recName}`) || id.includes(`/${recName}/`)));
          const isListed = items.some((v) => JSON.stringify(v).includes(`/${ourName}`));
          if (wasListed && !isListed) {
            difference = `${request} → ${recName} was listed by Azure but not by Keyledger`;
            break;
          }
        }
      }
    } else {
      const allowed = new Set(run.slice(0, -1).map((e) => e.StatusCode).filter((s) => TRANSIENT.has(s)));
      ours = await send(target, entry.RequestMethod, `${path}${query ? `?${query}` : ''}`, headers, body);
      for (let attempt = 1; attempt < POLL_ATTEMPTS && ours.status !== final.StatusCode && allowed.has(ours.status); attempt++) {
        await new Promise((r) => setTimeout(r, 100));
        ours = await send(target, entry.RequestMethod, `${path}${query ? `?${query}` : ''}`, headers, body);
      }
      difference = preDifference ?? compareEntry(final, ours, false);
    }
    if (!difference && isKeysRequest(entry) && ours.status < 300) {
      const problems = keyMaterialProblems(path, body === undefined ? undefined : (JSON.parse(body) as unknown), ours.body, `https://${target.vaultHost}:${target.port}`);
      if (problems.length) difference = `${request} → ${problems[0]}`;
    }
    if (final.StatusCode === 401 && ours.status === 401) {
      const m = /resource="([^"]+)"/.exec(String(ours.headers['www-authenticate'] ?? '')) ?? /scope="([^"]+)\/\.default"/.exec(String(ours.headers['www-authenticate'] ?? ''));
      if (m) resource = m[1];
    }
    map.learn(final, ours);
    results.push({ index: i, request, ok: !difference, ...(difference ? { difference } : {}) });
    if (difference) break; // later entries depend on this one
    i = j;
  }
  const failed = results.find((r) => !r.ok);
  return { file: recording.file, apiVersion: recording.apiVersion, ok: !failed, entries: results, ...(failed?.difference ? { firstDifference: failed.difference } : {}) };
}

/**
 * Before a recorded `verify`, `decrypt` or `unwrapkey` whose bytes no earlier answer of this
 * replay produced, produces them with Keyledger's key: re-signs the recorded digest, or
 * encrypts (wraps) the plaintext (key) the recording answered, and maps the recorded bytes to
 * Keyledger's. Returns a difference when that step fails.
 */
async function feedFromKeyledger(target: Target, path: string, query: string, headers: Record<string, string>, entry: RecordedEntry, map: Mapper): Promise<string | undefined> {
  const m = /^(.*)\/(verify|decrypt|unwrapkey)$/i.exec(path);
  const req = entry.RequestBody as Record<string, unknown> | null;
  if (!m || !req || typeof req !== 'object' || map.fed(req.value) || typeof req.value !== 'string') return undefined;
  const op = m[2]!.toLowerCase();
  let producer: string;
  let input: Record<string, unknown>;
  if (op === 'verify') {
    if (typeof req.digest !== 'string') return undefined;
    producer = 'sign';
    input = { alg: req.alg, value: req.digest };
  } else {
    const plain = (entry.ResponseBody as { value?: unknown } | null)?.value;
    if (typeof plain !== 'string') return undefined;
    producer = op === 'decrypt' ? 'encrypt' : 'wrapkey';
    input = { ...req, value: plain };
    delete input.tag;
  }
  const url = `${m[1]}/${producer}${query ? `?${query}` : ''}`;
  const produced = await send(target, 'POST', url, { ...headers, 'content-type': 'application/json' }, JSON.stringify(input));
  const value = (produced.body as { value?: unknown } | undefined)?.value;
  if (produced.status !== 200 || typeof value !== 'string') return `POST ${m[1]}/${producer} (to feed the recorded ${op}) → ${produced.status} ${JSON.stringify(produced.body ?? produced.text).slice(0, 200)}`;
  map.blobs.set(req.value, value);
  return undefined;
}

function mergePages(pages: readonly unknown[]): unknown {
  const value: unknown[] = [];
  let nextLink = false;
  for (const p of pages) {
    const b = p as { value?: unknown[]; nextLink?: unknown };
    value.push(...(b.value ?? []));
    if ('nextLink' in (b as object)) nextLink = true;
  }
  return nextLink ? { value, nextLink: '' } : { value };
}
