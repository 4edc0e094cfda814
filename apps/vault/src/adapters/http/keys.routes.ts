import type { FastifyReply, FastifyRequest, RouteHandlerMethod } from 'fastify';
import { KeyDataActions, KeyRotationPolicyDataActions } from '#libs/auth';
import { CryptoError, type CryptoClient } from '#libs/crypto-client';
import { DomainError } from '#libs/kernel';
import type { KeysService, KeyView, RotationPolicyView } from '../../application/keys/keys.service.js';
import { pageSize, type Page } from '../../application/secrets/paging.js';
import { KeyErrorCode } from '../../domain/key/key.decider.js';
import { assertKeyName, assertKeyVersion, parseCreateKey, parseImportKey, parseRotationPolicy, parseUpdateKey } from '../../domain/key/key.rules.js';
import { parseBackupBlob } from '../../domain/secret/secret.rules.js';
import { recoveryLevelOf } from '../../domain/vault/vault.decider.js';
import type { VaultRecord } from '../persistence/vaults.repository.js';
import { reportsRecoverableDays } from './api-version.js';
import { HttpProblem } from './azure-errors.js';
import { apiRequest, dataPlane, type ApiPipeline, type ApiRequest, type OperationSpec } from './request-pipeline.js';

type Params = { name?: string; version?: string };

const op = (name: string, action: string, withName = true, withVersion = false): OperationSpec => ({
  name,
  kind: 'data',
  action,
  collection: 'keys',
  ...(withName ? { nameParam: 'name' } : {}),
  ...(withVersion ? { versionParam: 'version' } : {}),
  validate: (n, v) => {
    if (n !== undefined) assertKeyName(n);
    if (v !== undefined) assertKeyVersion(v);
  },
});

/** One spec per operation, with Azure's audit operationName and Key Vault data action. */
export const KEY_OPERATIONS = {
  create: op('KeyCreate', KeyDataActions.create),
  import: op('KeyImport', KeyDataActions.import),
  get: op('KeyGet', KeyDataActions.read, true, true),
  list: op('KeyList', KeyDataActions.read, false),
  listVersions: op('KeyListVersions', KeyDataActions.read),
  update: op('KeyUpdate', KeyDataActions.update, true, true),
  delete: op('KeyDelete', KeyDataActions.delete),
  getDeleted: op('KeyGetDeleted', KeyDataActions.read),
  listDeleted: op('KeyListDeleted', KeyDataActions.read, false),
  recover: op('KeyRecover', KeyDataActions.recover),
  purge: op('KeyPurge', KeyDataActions.purge),
  backup: op('KeyBackup', KeyDataActions.backup),
  restore: op('KeyRestore', KeyDataActions.restore, false),
  rotate: op('KeyRotate', KeyDataActions.rotate),
  getRotationPolicy: op('KeyRotationPolicyGet', KeyRotationPolicyDataActions.read),
  setRotationPolicy: op('KeyRotationPolicySet', KeyRotationPolicyDataActions.write),
} as const;

/** Rank of an api-version, to leave out fields older versions did not have: 2016-10-01 → 6.0, 7.x → 7.x, dated (2025+) → 8. */
function rank(apiVersion: string): number {
  if (apiVersion.startsWith('2016')) return 6;
  const m = /^7\.(\d)/.exec(apiVersion);
  if (m) return 7 + Number(m[1]) / 10;
  return 8;
}

const NOT_FOUND_HELP =
  'was not found in this key vault. If you recently deleted this key you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182';

/** Azure's JSON for keys, built from the client-visible origin, the vault's recovery settings and the api-version. */
class KeyJson {
  constructor(
    private readonly origin: string,
    private readonly vault: VaultRecord,
    private readonly apiVersion: string,
  ) {}

  private attributes(k: KeyView): Record<string, unknown> {
    const r = rank(this.apiVersion);
    return {
      enabled: k.enabled,
      ...(k.nbf !== null ? { nbf: k.nbf } : {}),
      ...(k.exp !== null ? { exp: k.exp } : {}),
      ...(k.keySize !== null && r >= 7.55 ? { key_size: k.keySize } : {}),
      created: k.created,
      updated: k.updated,
      recoveryLevel: recoveryLevelOf(this.vault.retentionDays, this.vault.purgeProtection),
      ...(reportsRecoverableDays(this.apiVersion) ? { recoverableDays: this.vault.retentionDays } : {}),
      ...(r >= 7.3 ? { exportable: k.exportable } : {}),
      // Azure reports "0" for software-protected keys; HSM-protected ones name the HSM platform.
      ...(r >= 7.5 ? { hsmPlatform: k.hsm ? '2' : '0' } : {}),
    };
  }

  private extras(k: KeyView): Record<string, unknown> {
    return {
      ...(k.tags !== null ? { tags: k.tags } : {}),
      ...(k.managed ? { managed: true } : {}),
      ...(k.releasePolicy !== null && rank(this.apiVersion) >= 7.3 ? { release_policy: { contentType: k.releasePolicy.contentType, immutable: k.releasePolicy.immutable, data: k.releasePolicy.data } } : {}),
    };
  }

  kid(k: KeyView): string {
    return `${this.origin}/keys/${k.name}/${k.version}`;
  }

  /** KeyBundle: the public JWK (never a private part), attributes, tags, managed, release_policy. */
  bundle(k: KeyView): Record<string, unknown> {
    const j = k.jwk ?? {};
    const key = {
      kid: this.kid(k),
      kty: k.kty,
      key_ops: k.keyOps,
      ...(j.n !== undefined ? { n: j.n } : {}),
      ...(j.e !== undefined ? { e: j.e } : {}),
      ...(j.crv !== undefined ? { crv: j.crv } : k.crv !== null ? { crv: k.crv } : {}),
      ...(j.x !== undefined ? { x: j.x } : {}),
      ...(j.y !== undefined ? { y: j.y } : {}),
    };
    return { key, attributes: this.attributes(k), ...this.extras(k) };
  }

  private deletedPart(k: KeyView): Record<string, unknown> {
    return { recoveryId: `${this.origin}/deletedkeys/${k.name}`, deletedDate: k.deletedDate, scheduledPurgeDate: k.scheduledPurgeDate };
  }

  deletedBundle(k: KeyView): Record<string, unknown> {
    return { ...this.deletedPart(k), ...this.bundle(k) };
  }

  /** KeyItem in a list of keys: the kid has no version. */
  item(k: KeyView): Record<string, unknown> {
    return { kid: `${this.origin}/keys/${k.name}`, attributes: this.attributes(k), ...this.extras(k) };
  }

  versionItem(k: KeyView): Record<string, unknown> {
    return { kid: this.kid(k), attributes: this.attributes(k), ...this.extras(k) };
  }

  deletedItem(k: KeyView): Record<string, unknown> {
    return { ...this.deletedPart(k), ...this.item(k) };
  }

  rotationPolicy(p: RotationPolicyView): Record<string, unknown> {
    const id = `${this.origin}/keys/${p.name}/rotationpolicy`;
    // A key without a policy answers Azure's default: notify 30 days before expiry.
    if (p.policy === null) return { id, lifetimeActions: [{ trigger: { timeBeforeExpiry: 'P30D' }, action: { type: 'Notify' } }], attributes: {} };
    return {
      id,
      lifetimeActions: p.policy.lifetimeActions,
      attributes: { ...(p.policy.expiryTime !== null ? { expiryTime: p.policy.expiryTime } : {}), created: p.policy.created, updated: p.policy.updated },
    };
  }

  page(path: string, page: Page<KeyView>, format: (k: KeyView) => Record<string, unknown>, maxresults: string | null): Record<string, unknown> {
    const next =
      page.next === null
        ? null
        : `${this.origin}${path}?api-version=${encodeURIComponent(this.apiVersion)}&$skiptoken=${page.next}${maxresults !== null ? `&maxresults=${encodeURIComponent(maxresults)}` : ''}`;
    return { value: page.items.map(format), nextLink: next };
  }
}

const json = (st: ApiRequest, vault: VaultRecord): KeyJson => new KeyJson(st.origin, vault, st.apiVersion);

/** Azure's KeyBundle of a key version (the public JWK, attributes, tags, release_policy) for this request. */
export const keyBundleOf = (st: ApiRequest, vault: VaultRecord, k: KeyView): Record<string, unknown> => json(st, vault).bundle(k);

const clip = (s: string, max = 200): string => (s.length > max ? `${s.slice(0, max)}…` : s);

/**
 * Key-domain and crypto-service errors in Azure's words (status, code, inner code). Other
 * errors pass through to the pipeline's own mapping (BadParameter, PurgeProtected, backup…).
 */
export function keyProblem(err: unknown, origin: string, objectName: string): unknown {
  if (err instanceof DomainError) {
    const name = String(err.details.name ?? objectName);
    switch (err.code) {
      case KeyErrorCode.KeyNotFound:
        return new HttpProblem(404, 'KeyNotFound', `A key with (name/id) ${name} ${NOT_FOUND_HELP}`);
      case KeyErrorCode.DeletedKeyNotFound:
        return new HttpProblem(404, 'KeyNotFound', `Deleted Key not found: ${name}`);
      case KeyErrorCode.KeyIsDeletedButRecoverable:
        return new HttpProblem(
          409,
          'Conflict',
          `Key ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the key can only be recovered or purged.`,
          'ObjectIsDeletedButRecoverable',
        );
      case KeyErrorCode.KeyRestoreConflict:
        return new HttpProblem(
          409,
          'Conflict',
          `There was a conflict restoring the key '${origin}/keys/${name}${err.details.version ? `/${String(err.details.version)}` : ''}'. This can happen if either: a second key with the same name was created after the first key was deleted; thus trying to restore a key whose name is already in use. To fix this, rename the second key to something else so that the restore works. The second probable cause of this exception is when multiple operations are performed in parallel against the key. To avoid this error, perform operations against a key in a sequential manner.`,
        );
      case KeyErrorCode.KeyManaged:
        return new HttpProblem(403, 'Forbidden', `Key ${name} is managed by a certificate and cannot be changed directly: change the certificate instead.`);
      case KeyErrorCode.ReleasePolicyImmutable:
        return new HttpProblem(400, 'BadParameter', 'The release policy of this key is immutable and cannot be changed.');
      default:
        return err;
    }
  }
  if (err instanceof CryptoError) {
    switch (err.code) {
      case 'KeyNotFound':
        return new HttpProblem(404, 'KeyNotFound', `A key with (name/id) ${objectName} ${NOT_FOUND_HELP}`);
      case 'KeyConflict':
        return new HttpProblem(409, 'Conflict', `Key ${objectName} already exists in a state that does not allow this operation.`);
      case 'BadParameter':
      case 'KeyOperationNotAllowed':
      case 'NotSupported':
        return new HttpProblem(400, 'BadParameter', clip(err.message));
      case 'CiphertextInvalid':
        return new HttpProblem(400, 'BadParameter', 'The key material or its wrapping is not valid.');
      case 'KeyDisabled':
        return new HttpProblem(403, 'Forbidden', 'Operation is not allowed on a disabled key.', 'KeyDisabled');
      case 'Sealed':
      case 'AuditUnavailable':
      case 'Unavailable':
        return new HttpProblem(503, 'ServiceUnavailable', 'The key custody service is unavailable. Retry later.');
      default:
        return new HttpProblem(500, 'InternalServerError', 'The server encountered an internal error.');
    }
  }
  return err;
}

/** Runs a handler, answering key and crypto errors in Azure's words. */
function handler(fn: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>): RouteHandlerMethod {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    try {
      return await fn(req, reply);
    } catch (err) {
      const st = apiRequest(req);
      throw keyProblem(err, st.origin, (req.params as Params).name ?? st.audit.objectName ?? '');
    }
  };
}

function nameParam(req: FastifyRequest, emptyMessage = 'Operation not specified'): string {
  const name = (req.params as Params).name ?? '';
  if (name === '') throw new HttpProblem(400, 'BadParameter', emptyMessage);
  return assertKeyName(name);
}

function versionParam(req: FastifyRequest): string | null {
  const v = (req.params as Params).version;
  return v === undefined || v === '' ? null : assertKeyVersion(v);
}

export type KeyRoutesDeps = {
  readonly crypto: CryptoClient;
  /** The vault's key lifecycle (metadata here, material in crypto). Absent: no keys surface. */
  readonly keys?: KeysService;
  readonly maxRestoreBytes?: number;
};

/** The Azure Key Vault keys REST surface (`KeyVault.Keys`): key lifecycle. */
export function registerKeyRoutes(api: ApiPipeline, deps: KeyRoutesDeps): void {
  const keys = deps.keys;
  if (!keys) return;
  const O = KEY_OPERATIONS;

  const create = handler(async (req) => {
    const { st, vault, caller } = dataPlane(req);
    const name = nameParam(req);
    const input = parseCreateKey(req.body, vault.kind);
    return json(st, vault).bundle(await keys.create(vault, name, input, caller));
  });
  api.route('POST', '/keys/:name/create', O.create, create);

  const importKey = handler(async (req) => {
    const { st, vault, caller } = dataPlane(req);
    const name = nameParam(req);
    const input = parseImportKey(req.body, vault.kind);
    return json(st, vault).bundle(await keys.import(vault, name, input, caller));
  });
  api.route('PUT', '/keys/:name', O.import, importKey);
  api.route('PUT', '/keys/:name/', O.import, importKey);

  const get = handler(async (req) => {
    const { st, vault, caller } = dataPlane(req);
    return json(st, vault).bundle(await keys.get(vault, nameParam(req), versionParam(req), caller));
  });
  api.route('GET', '/keys/:name', O.get, get);
  api.route('GET', '/keys/:name/', O.get, get);
  api.route('GET', '/keys/:name/:version', O.get, get);

  const update = handler(async (req) => {
    const { st, vault, caller } = dataPlane(req);
    const name = nameParam(req);
    const version = versionParam(req);
    const patch = parseUpdateKey(req.body);
    return json(st, vault).bundle(await keys.update(vault, name, version, patch, caller));
  });
  api.route('PATCH', '/keys/:name', O.update, update);
  api.route('PATCH', '/keys/:name/', O.update, update);
  api.route('PATCH', '/keys/:name/:version', O.update, update);

  const del = handler(async (req) => {
    const { st, vault, caller } = dataPlane(req);
    return json(st, vault).deletedBundle(await keys.delete(vault, nameParam(req), caller));
  });
  api.route('DELETE', '/keys/:name', O.delete, del);
  api.route('DELETE', '/keys/:name/', O.delete, del);

  const list = handler(async (req) => {
    const { st, vault } = dataPlane(req);
    const max = st.query.get('maxresults');
    const page = await keys.list(vault, st.query.get('$skiptoken') ?? undefined, pageSize(max ?? undefined));
    const j = json(st, vault);
    return j.page('/keys', page, (k) => j.item(k), max);
  });
  api.route('GET', '/keys', O.list, list);
  api.route('GET', '/keys/', O.list, list);

  const listVersions = handler(async (req) => {
    const { st, vault } = dataPlane(req);
    const name = nameParam(req);
    const max = st.query.get('maxresults');
    const page = await keys.listVersions(vault, name, st.query.get('$skiptoken') ?? undefined, pageSize(max ?? undefined));
    const j = json(st, vault);
    return j.page(`/keys/${name}/versions`, page, (k) => j.versionItem(k), max);
  });
  api.route('GET', '/keys/:name/versions', O.listVersions, listVersions);
  api.route('GET', '/keys/:name/versions/', O.listVersions, listVersions);

  const listDeleted = handler(async (req) => {
    const { st, vault } = dataPlane(req);
    const max = st.query.get('maxresults');
    const page = await keys.list(vault, st.query.get('$skiptoken') ?? undefined, pageSize(max ?? undefined), 'deleted');
    const j = json(st, vault);
    return j.page('/deletedkeys', page, (k) => j.deletedItem(k), max);
  });
  api.route('GET', '/deletedkeys', O.listDeleted, listDeleted);
  api.route('GET', '/deletedkeys/', O.listDeleted, listDeleted);

  const getDeleted = handler(async (req) => {
    const { st, vault, caller } = dataPlane(req);
    return json(st, vault).deletedBundle(await keys.getDeleted(vault, nameParam(req), caller));
  });
  api.route('GET', '/deletedkeys/:name', O.getDeleted, getDeleted);
  api.route('GET', '/deletedkeys/:name/', O.getDeleted, getDeleted);

  const purge = handler(async (req, reply) => {
    const { vault, caller } = dataPlane(req);
    await keys.purge(vault, nameParam(req), 'request', caller);
    return reply.code(204).send();
  });
  api.route('DELETE', '/deletedkeys/:name', O.purge, purge);
  api.route('DELETE', '/deletedkeys/:name/', O.purge, purge);

  const recover = handler(async (req) => {
    const { st, vault, caller } = dataPlane(req);
    return json(st, vault).bundle(await keys.recover(vault, nameParam(req), caller));
  });
  api.route('POST', '/deletedkeys/:name/recover', O.recover, recover);

  const backup = handler(async (req) => {
    const { vault, caller } = dataPlane(req);
    const blob = await keys.backup(vault, nameParam(req), caller);
    return { value: blob.toString('base64url') };
  });
  api.route('POST', '/keys/:name/backup', O.backup, backup);

  const restore = handler(async (req) => {
    const { st, vault, caller } = dataPlane(req);
    const encoded = parseBackupBlob(req.body);
    if (!/^[A-Za-z0-9_-]+=*$/.test(encoded)) throw new HttpProblem(400, 'Malformed backup blob', 'Backup blob contains invalid or corrupt version.');
    const restored = await keys.restore(vault, Buffer.from(encoded, 'base64url'), caller);
    st.audit.objectName = restored.name;
    st.audit.objectVersion = restored.version;
    return json(st, vault).bundle(restored);
  });
  api.route('POST', '/keys/restore', O.restore, restore, deps.maxRestoreBytes);

  const rotate = handler(async (req) => {
    const { st, vault, caller } = dataPlane(req);
    return json(st, vault).bundle(await keys.rotate(vault, nameParam(req), caller));
  });
  api.route('POST', '/keys/:name/rotate', O.rotate, rotate);

  const getPolicy = handler(async (req) => {
    const { st, vault } = dataPlane(req);
    return json(st, vault).rotationPolicy(await keys.getRotationPolicy(vault, nameParam(req)));
  });
  api.route('GET', '/keys/:name/rotationpolicy', O.getRotationPolicy, getPolicy);

  const setPolicy = handler(async (req) => {
    const { st, vault, caller } = dataPlane(req);
    const name = nameParam(req);
    const policy = parseRotationPolicy(req.body);
    return json(st, vault).rotationPolicy(await keys.setRotationPolicy(vault, name, policy, caller));
  });
  api.route('PUT', '/keys/:name/rotationpolicy', O.setRotationPolicy, setPolicy);
}
