import type { FastifyReply, FastifyRequest } from 'fastify';
import { SecretDataActions } from '#libs/auth';
import type { DomainError } from '#libs/kernel';
import { parsePkcs12, toPem } from '#libs/x509';
import type { AccessControl } from '../../application/access/access-control.js';
import { pageSize, type Page } from '../../application/secrets/paging.js';
import type { SecretsService, SecretView } from '../../application/secrets/secrets.service.js';
import { assertSecretName, assertSecretVersion, parseBackupBlob, parseBatchNames, parseSetSecret, parseUpdateSecret } from '../../domain/secret/secret.rules.js';
import { recoveryLevelOf } from '../../domain/vault/vault.decider.js';
import type { VaultRecord } from '../persistence/vaults.repository.js';
import { reportsRecoverableDays } from './api-version.js';
import { HttpProblem, toProblem } from './azure-errors.js';
import { dataPlane, type ApiPipeline, type ApiRequest, type OperationSpec } from './request-pipeline.js';

type Params = { name?: string; version?: string };

const op = (name: string, action: string | undefined, withName = true, withVersion = false): OperationSpec => ({
  name,
  kind: 'data',
  ...(action ? { action } : {}),
  collection: 'secrets',
  ...(withName ? { nameParam: 'name' } : {}),
  ...(withVersion ? { versionParam: 'version' } : {}),
  validate: (n, v) => {
    if (n !== undefined) assertSecretName(n);
    if (v !== undefined) assertSecretVersion(v);
  },
});

const OPS = {
  set: op('SecretSet', SecretDataActions.setSecret),
  get: op('SecretGet', SecretDataActions.getSecret, true, true),
  update: op('SecretUpdate', SecretDataActions.update, true, true),
  delete: op('SecretDelete', SecretDataActions.delete),
  list: op('SecretList', SecretDataActions.readMetadata, false),
  listVersions: op('SecretListVersions', SecretDataActions.readMetadata),
  listDeleted: op('SecretListDeleted', SecretDataActions.readMetadata, false),
  getDeleted: op('SecretGetDeleted', SecretDataActions.readMetadata),
  purge: op('SecretPurge', SecretDataActions.purge),
  recover: op('SecretRecover', SecretDataActions.recover),
  backup: op('SecretBackup', SecretDataActions.backup),
  restore: op('SecretRestore', SecretDataActions.restore, false),
  batchGet: op('SecretBatchGet', undefined, false),
} as const;

/** Azure's JSON for secrets, built from the client-visible origin and the vault's recovery settings. */
class SecretJson {
  constructor(
    private readonly origin: string,
    private readonly vault: VaultRecord,
    private readonly apiVersion: string,
  ) {}

  // Built by assignment, in Azure's key order: conditional spreads cost an object each, per answer.
  private attributes(s: SecretView): Record<string, unknown> {
    const a: Record<string, unknown> = { enabled: s.enabled };
    if (s.nbf !== null) a.nbf = s.nbf;
    if (s.exp !== null) a.exp = s.exp;
    a.created = s.created;
    a.updated = s.updated;
    a.recoveryLevel = recoveryLevelOf(this.vault.retentionDays, this.vault.purgeProtection);
    if (reportsRecoverableDays(this.apiVersion)) a.recoverableDays = this.vault.retentionDays;
    return a;
  }

  /** The fields every secret answer has, added to `out` (after what it holds already). */
  private common(out: Record<string, unknown>, s: SecretView, id: string): Record<string, unknown> {
    if (s.contentType !== null) out.contentType = s.contentType;
    out.id = id;
    out.attributes = this.attributes(s);
    if (s.tags !== null) out.tags = s.tags;
    if (s.managed) out.managed = true;
    return out;
  }

  versionId(s: SecretView): string {
    return `${this.origin}/secrets/${s.name}/${s.version}`;
  }

  /** SecretBundle: `value` when the operation returns one. */
  bundle(s: SecretView): Record<string, unknown> {
    const out = this.common(s.value !== undefined ? { value: s.value } : {}, s, this.versionId(s));
    // A certificate's secret names the certificate's key version, as Azure's does.
    if (s.managed) out.kid = `${this.origin}/keys/${s.name}/${s.version}`;
    return out;
  }

  deletedBundle(s: SecretView): Record<string, unknown> {
    return this.common({ recoveryId: `${this.origin}/deletedsecrets/${s.name}`, deletedDate: s.deletedDate, scheduledPurgeDate: s.scheduledPurgeDate }, s, this.versionId(s));
  }

  /** SecretItem in a list of secrets: the id has no version. */
  item(s: SecretView): Record<string, unknown> {
    return this.common({}, s, `${this.origin}/secrets/${s.name}`);
  }

  versionItem(s: SecretView): Record<string, unknown> {
    return this.common({}, s, this.versionId(s));
  }

  deletedItem(s: SecretView): Record<string, unknown> {
    return this.common({ recoveryId: `${this.origin}/deletedsecrets/${s.name}`, deletedDate: s.deletedDate, scheduledPurgeDate: s.scheduledPurgeDate }, s, `${this.origin}/secrets/${s.name}`);
  }

  /** `{value, nextLink}` with an absolute nextLink that carries api-version (and maxresults when given). */
  page(path: string, page: Page<SecretView>, format: (s: SecretView) => Record<string, unknown>, maxresults: string | null): Record<string, unknown> {
    const next =
      page.next === null
        ? null
        : `${this.origin}${path}?api-version=${encodeURIComponent(this.apiVersion)}&$skiptoken=${page.next}${maxresults !== null ? `&maxresults=${encodeURIComponent(maxresults)}` : ''}`;
    return { value: page.items.map(format), nextLink: next };
  }
}

function json(st: ApiRequest, vault: VaultRecord): SecretJson {
  return new SecretJson(st.origin, vault, st.apiVersion);
}

function nameParam(req: FastifyRequest): string {
  const name = (req.params as Params).name ?? '';
  if (name === '') throw new HttpProblem(405, 'MethodNotAllowed', `HTTP ${req.method} not allowed`);
  return assertSecretName(name);
}

function versionParam(req: FastifyRequest): string | null {
  const v = (req.params as Params).version;
  return v === undefined || v === '' ? null : assertSecretVersion(v);
}

const PFX_TYPE = 'application/x-pkcs12';
const PEM_TYPE = 'application/x-pem-file';
const formatName = (t: string | null): string => (t === PFX_TYPE ? 'PFX' : t === PEM_TYPE ? 'PEM' : 'Unsupported');

/**
 * `outContentType` converts a certificate's managed secret from PFX to PEM (key, then the chain);
 * asking for the format it already has returns it unchanged; anything else is refused as Azure does.
 */
function convertOut(st: ApiRequest, s: SecretView): SecretView {
  const out = st.query.get('outContentType');
  if (out === null || out === '') return s;
  if (s.managed && s.value !== undefined && out === s.contentType) return s;
  if (s.managed && s.value !== undefined && s.contentType === PFX_TYPE && out === PEM_TYPE) {
    return { ...s, value: toPem(parsePkcs12(new Uint8Array(Buffer.from(s.value, 'base64')))), contentType: PEM_TYPE };
  }
  const target = out === PFX_TYPE ? 'PFX' : out === PEM_TYPE ? 'PEM' : out.slice(0, 64);
  throw new HttpProblem(400, 'BadParameter', `The '${s.managed ? formatName(s.contentType) : 'Unsupported'}' to '${target}' transformation is not supported. Only PFX to PEM transformation is supported.`);
}

export type SecretRoutesDeps = {
  readonly secrets: SecretsService;
  readonly access: AccessControl;
  readonly maxRestoreBytes: number;
};

/** The Azure Key Vault secrets REST surface (`Security.KeyVault.Secrets`) plus the batch-get extension. */
export function registerSecretRoutes(api: ApiPipeline, deps: SecretRoutesDeps): void {
  const { secrets } = deps;

  const set = async (req: FastifyRequest) => {
    const { st, vault, caller } = dataPlane(req);
    const name = nameParam(req);
    const input = parseSetSecret(req.body);
    return json(st, vault).bundle(await secrets.set(vault, name, input, caller));
  };
  api.route('PUT', '/secrets/:name', OPS.set, set);
  api.route('PUT', '/secrets/:name/', OPS.set, set);

  const get = async (req: FastifyRequest) => {
    const { st, vault, caller } = dataPlane(req);
    const name = nameParam(req);
    const version = versionParam(req);
    return json(st, vault).bundle(convertOut(st, await secrets.get(vault, name, version, caller)));
  };
  api.route('GET', '/secrets/:name', OPS.get, get);
  api.route('GET', '/secrets/:name/', OPS.get, get);
  api.route('GET', '/secrets/:name/:version', OPS.get, get);

  const update = async (req: FastifyRequest) => {
    const { st, vault, caller } = dataPlane(req);
    const name = nameParam(req);
    const version = versionParam(req);
    const patch = parseUpdateSecret(req.body);
    return json(st, vault).bundle(await secrets.update(vault, name, version, patch, caller));
  };
  api.route('PATCH', '/secrets/:name', OPS.update, update);
  api.route('PATCH', '/secrets/:name/', OPS.update, update);
  api.route('PATCH', '/secrets/:name/:version', OPS.update, update);

  const del = async (req: FastifyRequest) => {
    const { st, vault, caller } = dataPlane(req);
    return json(st, vault).deletedBundle(await secrets.delete(vault, nameParam(req), caller));
  };
  api.route('DELETE', '/secrets/:name', OPS.delete, del);
  api.route('DELETE', '/secrets/:name/', OPS.delete, del);

  const list = async (req: FastifyRequest) => {
    const { st, vault } = dataPlane(req);
    const max = st.query.get('maxresults');
    const page = await secrets.list(vault, st.query.get('$skiptoken') ?? undefined, pageSize(max ?? undefined));
    const j = json(st, vault);
    return j.page('/secrets', page, (s) => j.item(s), max);
  };
  api.route('GET', '/secrets', OPS.list, list);
  api.route('GET', '/secrets/', OPS.list, list);

  const listVersions = async (req: FastifyRequest) => {
    const { st, vault } = dataPlane(req);
    const name = nameParam(req);
    const max = st.query.get('maxresults');
    const page = await secrets.listVersions(vault, name, st.query.get('$skiptoken') ?? undefined, pageSize(max ?? undefined));
    const j = json(st, vault);
    return j.page(`/secrets/${name}/versions`, page, (s) => j.versionItem(s), max);
  };
  api.route('GET', '/secrets/:name/versions', OPS.listVersions, listVersions);
  api.route('GET', '/secrets/:name/versions/', OPS.listVersions, listVersions);

  const listDeleted = async (req: FastifyRequest) => {
    const { st, vault } = dataPlane(req);
    const max = st.query.get('maxresults');
    const page = await secrets.listDeleted(vault, st.query.get('$skiptoken') ?? undefined, pageSize(max ?? undefined));
    const j = json(st, vault);
    return j.page('/deletedsecrets', page, (s) => j.deletedItem(s), max);
  };
  api.route('GET', '/deletedsecrets', OPS.listDeleted, listDeleted);
  api.route('GET', '/deletedsecrets/', OPS.listDeleted, listDeleted);

  const getDeleted = async (req: FastifyRequest) => {
    const { st, vault } = dataPlane(req);
    return json(st, vault).deletedBundle(await secrets.getDeleted(vault, nameParam(req)));
  };
  api.route('GET', '/deletedsecrets/:name', OPS.getDeleted, getDeleted);
  api.route('GET', '/deletedsecrets/:name/', OPS.getDeleted, getDeleted);

  const purge = async (req: FastifyRequest, reply: FastifyReply) => {
    const { vault, caller } = dataPlane(req);
    await secrets.purge(vault, nameParam(req), 'request', caller, 204);
    return reply.code(204).send();
  };
  api.route('DELETE', '/deletedsecrets/:name', OPS.purge, purge);
  api.route('DELETE', '/deletedsecrets/:name/', OPS.purge, purge);

  const recover = async (req: FastifyRequest) => {
    const { st, vault, caller } = dataPlane(req);
    return json(st, vault).bundle(await secrets.recover(vault, nameParam(req), caller));
  };
  api.route('POST', '/deletedsecrets/:name/recover', OPS.recover, recover);

  const backup = async (req: FastifyRequest) => {
    const { vault, caller } = dataPlane(req);
    const blob = await secrets.backup(vault, nameParam(req), caller);
    return { value: blob.toString('base64url') };
  };
  api.route('POST', '/secrets/:name/backup', OPS.backup, backup);

  const restore = async (req: FastifyRequest) => {
    const { st, vault, caller } = dataPlane(req);
    const encoded = parseBackupBlob(req.body);
    if (!/^[A-Za-z0-9_-]+=*$/.test(encoded)) throw new HttpProblem(400, 'Malformed backup blob', 'Backup blob contains invalid or corrupt version.');
    const restored = await secrets.restore(vault, Buffer.from(encoded, 'base64url'), caller);
    st.audit.objectName = restored.name;
    return json(st, vault).bundle(restored);
  };
  api.route('POST', '/secrets/restore', OPS.restore, restore, deps.maxRestoreBytes);

  // Keyledger extension (not Azure): the latest values of up to 25 secrets in one request.
  // RBAC is checked per name (getSecret on the secret); each item answers on its own.
  const batchGet = async (req: FastifyRequest) => {
    const { st, vault, caller } = dataPlane(req);
    const names = parseBatchNames(req.body);
    const allowed = (name: string): boolean => deps.access.check(caller.objectId, SecretDataActions.getSecret, `/vaults/${vault.nameKey}/secrets/${name.toLowerCase()}`).allowed;
    st.audit.isRbacAuthorized = true;
    const items = await secrets.batchGet(vault, names, allowed, caller);
    const j = json(st, vault);
    return {
      value: items.map((i) => {
        if (i.secret) return { name: i.name, ...j.bundle(i.secret) };
        const p = i.error?.code === 'ForbiddenByRbac' ? new HttpProblem(403, 'Forbidden', (i.error as DomainError).message, 'ForbiddenByRbac') : toProblem(i.error, st.origin);
        return { name: i.name, status: p.status, ...p.body() };
      }),
    };
  };
  api.route('POST', '/secrets/batchget', OPS.batchGet, batchGet);
}
