import type { FastifyReply, FastifyRequest, RouteHandlerMethod } from 'fastify';
import { CertificateDataActions } from '#libs/auth';
import { DomainError } from '#libs/kernel';
import type { CertificatesService, CertificateView, PendingView } from '../../application/certificates/certificates.service.js';
import { pageSize, type Page } from '../../application/secrets/paging.js';
import { CertificateErrorCode } from '../../domain/certificate/certificate.decider.js';
import { parseCreateCertificate, parseImportCertificate, parseMerge, parseUpdateCertificate, type PolicyRecord } from '../../domain/certificate/certificate.rules.js';
import { assertKeyName, assertKeyVersion } from '../../domain/key/key.rules.js';
import { parseBackupBlob } from '../../domain/secret/secret.rules.js';
import { recoveryLevelOf } from '../../domain/vault/vault.decider.js';
import type { VaultRecord } from '../persistence/vaults.repository.js';
import { atLeast, reportsRecoverableDays } from './api-version.js';
import { HttpProblem } from './azure-errors.js';
import { keyProblem } from './keys.routes.js';
import { apiRequest, dataPlane, type ApiPipeline, type ApiRequest, type OperationSpec } from './request-pipeline.js';

type Params = { name?: string; version?: string };

const op = (name: string, action: string, withName = true, withVersion = false): OperationSpec => ({
  name,
  kind: 'data',
  action,
  collection: 'certificates',
  ...(withName ? { nameParam: 'name' } : {}),
  ...(withVersion ? { versionParam: 'version' } : {}),
  validate: (n, v) => {
    if (n !== undefined) assertKeyName(n);
    if (v !== undefined) assertKeyVersion(v);
  },
});

const A = CertificateDataActions;
/** One spec per operation, with Azure's audit operationName and Key Vault data action. */
export const CERTIFICATE_OPERATIONS = {
  create: op('CertificateCreate', A.create),
  import: op('CertificateImport', A.import),
  get: op('CertificateGet', A.read, true, true),
  list: op('CertificateList', A.read, false),
  listVersions: op('CertificateListVersions', A.read),
  update: op('CertificateUpdate', A.update, true, true),
  getPolicy: op('CertificatePolicyGet', A.read),
  updatePolicy: op('CertificatePolicyUpdate', A.update),
  getPending: op('CertificatePendingGet', A.read),
  updatePending: op('CertificatePendingUpdate', A.update),
  deletePending: op('CertificatePendingDelete', A.delete),
  merge: op('CertificatePendingMerge', A.create),
  delete: op('CertificateDelete', A.delete),
  getDeleted: op('CertificateGetDeleted', A.read),
  listDeleted: op('CertificateListDeleted', A.read, false),
  recover: op('CertificateRecover', A.recover),
  purge: op('CertificatePurge', A.purge),
  backup: op('CertificateBackup', A.backup),
  restore: op('CertificateRestore', A.restore, false),
} as const;

const NOT_FOUND_HELP =
  'was not found in this key vault. If you recently deleted this certificate you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182';

/** Azure's JSON for certificates, built from the client-visible origin, the vault's recovery settings and the api-version. */
class CertificateJson {
  constructor(
    private readonly origin: string,
    private readonly vault: VaultRecord,
    private readonly apiVersion: string,
  ) {}

  private base(name: string): string {
    return `${this.origin}/certificates/${name}`;
  }

  /** `preserveCertOrder` (CertificateBundle, CertificateOperation) appeared in 2025-07-01; answered only when true, as Azure's recorded answers carry it. */
  private preserveCertOrder(set: boolean | undefined): Record<string, unknown> {
    return set === true && atLeast(this.apiVersion, '2025-07-01') ? { preserveCertOrder: true } : {};
  }

  private attributes(c: CertificateView): Record<string, unknown> {
    const v = c.version;
    return {
      enabled: v.enabled,
      ...(v.nbf !== null ? { nbf: v.nbf } : {}),
      ...(v.exp !== null ? { exp: v.exp } : {}),
      created: v.created,
      updated: v.updated,
      recoveryLevel: recoveryLevelOf(this.vault.retentionDays, this.vault.purgeProtection),
      ...(reportsRecoverableDays(this.apiVersion) ? { recoverableDays: this.vault.retentionDays } : {}),
    };
  }

  policy(name: string, p: PolicyRecord): Record<string, unknown> {
    return {
      id: `${this.base(name)}/policy`,
      key_props: p.key_props,
      secret_props: p.secret_props,
      x509_props: { ...p.x509_props, sans: p.x509_props.sans ?? {} },
      lifetime_actions: p.lifetime_actions,
      issuer: p.issuer,
      attributes: p.attributes,
    };
  }

  /** CertificateBundle: kid/sid/x5t/cer once issued; the policy; the pending link while an operation is recorded. */
  bundle(c: CertificateView): Record<string, unknown> {
    const v = c.version;
    const issued = v.cer !== null;
    return {
      id: `${this.base(c.name)}/${v.version}`,
      ...(issued ? { kid: `${this.origin}/keys/${c.name}/${v.version}`, sid: `${this.origin}/secrets/${c.name}/${v.version}`, x5t: v.x5t, cer: v.cer } : {}),
      attributes: this.attributes(c),
      ...(v.tags !== null ? { tags: v.tags } : {}),
      ...(c.state.policy ? { policy: this.policy(c.name, c.state.policy) } : {}),
      ...(c.state.pending ? { pending: { id: `${this.base(c.name)}/pending` } } : {}),
      ...this.preserveCertOrder(v.preserveCertOrder),
    };
  }

  private deletedPart(c: CertificateView): Record<string, unknown> {
    return { recoveryId: `${this.origin}/deletedcertificates/${c.name}`, deletedDate: c.state.deletedDate, scheduledPurgeDate: c.state.scheduledPurgeDate };
  }

  deletedBundle(c: CertificateView): Record<string, unknown> {
    return { ...this.deletedPart(c), ...this.bundle(c) };
  }

  item(c: CertificateView, withVersion: boolean): Record<string, unknown> {
    return {
      id: withVersion ? `${this.base(c.name)}/${c.version.version}` : this.base(c.name),
      ...(c.version.x5t !== null ? { x5t: c.version.x5t } : {}),
      attributes: this.attributes(c),
      ...(c.version.tags !== null ? { tags: c.version.tags } : {}),
      ...(c.state.policy ? { subject: c.state.policy.x509_props.subject } : {}),
    };
  }

  deletedItem(c: CertificateView): Record<string, unknown> {
    return { ...this.deletedPart(c), ...this.item(c, false) };
  }

  /** CertificateOperation, as the SDK pollers read it. */
  operation(p: PendingView): Record<string, unknown> {
    const o = p.pending;
    return {
      id: `${this.base(p.name)}/pending`,
      issuer: { name: o.issuerName },
      csr: o.csr,
      cancellation_requested: o.cancellationRequested,
      status: o.status,
      ...(o.status !== 'completed' && o.statusDetails ? { status_details: o.statusDetails } : {}),
      ...(o.error ? { error: { code: o.error.code, message: o.error.message } } : {}),
      ...(o.status === 'completed' ? { target: this.base(p.name) } : {}),
      request_id: o.requestId,
      ...this.preserveCertOrder(p.preserveCertOrder),
    };
  }

  page(path: string, page: Page<CertificateView>, format: (c: CertificateView) => Record<string, unknown>, query: URLSearchParams): Record<string, unknown> {
    const max = query.get('maxresults');
    const pending = query.get('includePending');
    const next =
      page.next === null
        ? null
        : `${this.origin}${path}?api-version=${encodeURIComponent(this.apiVersion)}&$skiptoken=${page.next}${max !== null ? `&maxresults=${encodeURIComponent(max)}` : ''}${pending !== null ? `&includePending=${encodeURIComponent(pending)}` : ''}`;
    return { value: page.items.map(format), nextLink: next };
  }
}

const json = (st: ApiRequest, vault: VaultRecord): CertificateJson => new CertificateJson(st.origin, vault, st.apiVersion);

/** Certificate-domain errors in Azure's words; key, secret and crypto errors as the keys surface answers them. */
export function certificateProblem(err: unknown, origin: string, objectName: string): unknown {
  if (err instanceof DomainError) {
    const name = String(err.details.name ?? objectName);
    switch (err.code) {
      case CertificateErrorCode.CertificateNotFound:
        return new HttpProblem(404, 'CertificateNotFound', `A certificate with (name/id) ${name} ${NOT_FOUND_HELP}`);
      case CertificateErrorCode.DeletedCertificateNotFound:
        return new HttpProblem(404, 'CertificateNotFound', `Deleted Certificate not found: ${name}`);
      case CertificateErrorCode.PendingCertificateNotFound:
        return new HttpProblem(404, 'PendingCertificateNotFound', `Pending Certificate not found: ${name}`);
      case CertificateErrorCode.CertificateIsDeletedButRecoverable:
        return new HttpProblem(
          409,
          'Conflict',
          `Certificate ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the certificate can only be recovered or purged.`,
          'ObjectIsDeletedButRecoverable',
        );
      case CertificateErrorCode.CertificateOperationPending:
        return new HttpProblem(409, 'Conflict', `There is a pending certificate operation for ${name}. Wait for it to complete, or cancel or delete it first.`);
      case CertificateErrorCode.CertificateRestoreConflict:
        return new HttpProblem(409, 'Conflict', `There was a conflict restoring the certificate '${origin}/certificates/${name}'. A certificate with the same name already exists.`);
      case CertificateErrorCode.CertificateIssuerNotFound:
        return new HttpProblem(400, 'BadParameter', `Issuer not found: ${name}`);
      case CertificateErrorCode.CertificateMergeRefused:
      case CertificateErrorCode.CertificateInvalid:
      case CertificateErrorCode.CertificateKeyPolicyMismatch:
        return new HttpProblem(400, 'BadParameter', err.message);
      default:
        return keyProblem(err, origin, objectName);
    }
  }
  return keyProblem(err, origin, objectName);
}

function handler(fn: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>): RouteHandlerMethod {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    try {
      return await fn(req, reply);
    } catch (err) {
      const st = apiRequest(req);
      throw certificateProblem(err, st.origin, (req.params as Params).name ?? st.audit.objectName ?? '');
    }
  };
}

function nameParam(req: FastifyRequest): string {
  const name = (req.params as Params).name ?? '';
  if (name === '') throw new HttpProblem(400, 'BadParameter', 'Operation not specified');
  return assertKeyName(name);
}

function versionParam(req: FastifyRequest): string | null {
  const v = (req.params as Params).version;
  return v === undefined || v === '' ? null : assertKeyVersion(v);
}

export type CertificateRoutesDeps = { readonly certificates?: CertificatesService; readonly maxRestoreBytes?: number };

/** The Azure Key Vault certificates REST surface (`KeyVault.Certificates`), issuers and contacts excepted. */
export function registerCertificateRoutes(api: ApiPipeline, deps: CertificateRoutesDeps): void {
  const certs = deps.certificates;
  if (!certs) return;
  const O = CERTIFICATE_OPERATIONS;
  const now = (): number => Math.floor(Date.now() / 1000);

  api.route(
    'POST',
    '/certificates/:name/create',
    O.create,
    handler(async (req, reply) => {
      const { st, vault, caller } = dataPlane(req);
      const name = nameParam(req);
      const op = await certs.create(vault, name, parseCreateCertificate(req.body, now()), caller);
      reply.code(202).header('location', `${st.origin}/certificates/${op.name}/pending?api-version=${encodeURIComponent(st.apiVersion)}&request_id=${op.pending.requestId}`);
      if (op.pending.status === 'inProgress') reply.header('retry-after', '10');
      return json(st, vault).operation(op);
    }),
  );

  api.route(
    'POST',
    '/certificates/:name/import',
    O.import,
    handler(async (req) => {
      const { st, vault, caller } = dataPlane(req);
      return json(st, vault).bundle(await certs.import(vault, nameParam(req), parseImportCertificate(req.body, now()), caller));
    }),
  );

  const get = handler(async (req) => {
    const { st, vault } = dataPlane(req);
    return json(st, vault).bundle(await certs.get(vault, nameParam(req), versionParam(req)));
  });
  api.route('GET', '/certificates/:name', O.get, get);
  api.route('GET', '/certificates/:name/', O.get, get);
  api.route('GET', '/certificates/:name/:version', O.get, get);

  const update = handler(async (req) => {
    const { st, vault, caller } = dataPlane(req);
    return json(st, vault).bundle(await certs.update(vault, nameParam(req), versionParam(req), parseUpdateCertificate(req.body), caller));
  });
  api.route('PATCH', '/certificates/:name', O.update, update);
  api.route('PATCH', '/certificates/:name/', O.update, update);
  api.route('PATCH', '/certificates/:name/:version', O.update, update);

  const list = handler(async (req) => {
    const { st, vault } = dataPlane(req);
    const page = await certs.list(vault, st.query.get('$skiptoken') ?? undefined, pageSize(st.query.get('maxresults') ?? undefined), 'active', st.query.get('includePending') === 'true');
    const j = json(st, vault);
    return j.page('/certificates', page, (c) => j.item(c, false), st.query);
  });
  api.route('GET', '/certificates', O.list, list);
  api.route('GET', '/certificates/', O.list, list);

  const listVersions = handler(async (req) => {
    const { st, vault } = dataPlane(req);
    const name = nameParam(req);
    const page = await certs.listVersions(vault, name, st.query.get('$skiptoken') ?? undefined, pageSize(st.query.get('maxresults') ?? undefined));
    const j = json(st, vault);
    return j.page(`/certificates/${name}/versions`, page, (c) => j.item(c, true), st.query);
  });
  api.route('GET', '/certificates/:name/versions', O.listVersions, listVersions);
  api.route('GET', '/certificates/:name/versions/', O.listVersions, listVersions);

  api.route(
    'GET',
    '/certificates/:name/policy',
    O.getPolicy,
    handler(async (req) => {
      const { st, vault } = dataPlane(req);
      const p = await certs.getPolicy(vault, nameParam(req));
      return json(st, vault).policy(p.name, p.policy);
    }),
  );
  api.route(
    'PATCH',
    '/certificates/:name/policy',
    O.updatePolicy,
    handler(async (req) => {
      const { st, vault, caller } = dataPlane(req);
      const p = await certs.updatePolicy(vault, nameParam(req), req.body, caller);
      return json(st, vault).policy(p.name, p.policy);
    }),
  );

  api.route(
    'GET',
    '/certificates/:name/pending',
    O.getPending,
    handler(async (req, reply) => {
      const { st, vault } = dataPlane(req);
      const op = await certs.getPending(vault, nameParam(req));
      if (op.pending.status === 'inProgress') reply.header('retry-after', '10');
      return json(st, vault).operation(op);
    }),
  );
  api.route(
    'PATCH',
    '/certificates/:name/pending',
    O.updatePending,
    handler(async (req) => {
      const { st, vault, caller } = dataPlane(req);
      const b = req.body as { cancellation_requested?: unknown } | null;
      if (!b || typeof b !== 'object' || typeof b.cancellation_requested !== 'boolean') throw new HttpProblem(400, 'BadParameter', 'Property cancellation_requested is required and must be a boolean.');
      const name = nameParam(req);
      const op = b.cancellation_requested ? await certs.cancelPending(vault, name, caller) : await certs.getPending(vault, name);
      return json(st, vault).operation(op);
    }),
  );
  api.route(
    'DELETE',
    '/certificates/:name/pending',
    O.deletePending,
    handler(async (req) => {
      const { st, vault, caller } = dataPlane(req);
      return json(st, vault).operation(await certs.deletePending(vault, nameParam(req), caller));
    }),
  );
  api.route(
    'POST',
    '/certificates/:name/pending/merge',
    O.merge,
    handler(async (req, reply) => {
      const { st, vault, caller } = dataPlane(req);
      const m = parseMerge(req.body);
      const c = await certs.merge(vault, nameParam(req), m.x5c, m.attributes, m.tags, caller);
      reply.code(201).header('location', `${st.origin}/certificates/${c.name}?api-version=${encodeURIComponent(st.apiVersion)}`);
      return json(st, vault).bundle(c);
    }),
  );

  const del = handler(async (req) => {
    const { st, vault, caller } = dataPlane(req);
    return json(st, vault).deletedBundle(await certs.delete(vault, nameParam(req), caller));
  });
  api.route('DELETE', '/certificates/:name', O.delete, del);
  api.route('DELETE', '/certificates/:name/', O.delete, del);

  const listDeleted = handler(async (req) => {
    const { st, vault } = dataPlane(req);
    const page = await certs.list(vault, st.query.get('$skiptoken') ?? undefined, pageSize(st.query.get('maxresults') ?? undefined), 'deleted', true);
    const j = json(st, vault);
    return j.page('/deletedcertificates', page, (c) => j.deletedItem(c), st.query);
  });
  api.route('GET', '/deletedcertificates', O.listDeleted, listDeleted);
  api.route('GET', '/deletedcertificates/', O.listDeleted, listDeleted);

  const getDeleted = handler(async (req) => {
    const { st, vault } = dataPlane(req);
    return json(st, vault).deletedBundle(await certs.getDeleted(vault, nameParam(req)));
  });
  api.route('GET', '/deletedcertificates/:name', O.getDeleted, getDeleted);
  api.route('GET', '/deletedcertificates/:name/', O.getDeleted, getDeleted);

  const purge = handler(async (req, reply) => {
    const { vault, caller } = dataPlane(req);
    await certs.purge(vault, nameParam(req), 'request', caller);
    return reply.code(204).send();
  });
  api.route('DELETE', '/deletedcertificates/:name', O.purge, purge);
  api.route('DELETE', '/deletedcertificates/:name/', O.purge, purge);

  api.route(
    'POST',
    '/deletedcertificates/:name/recover',
    O.recover,
    handler(async (req) => {
      const { st, vault, caller } = dataPlane(req);
      return json(st, vault).bundle(await certs.recover(vault, nameParam(req), caller));
    }),
  );

  api.route(
    'POST',
    '/certificates/:name/backup',
    O.backup,
    handler(async (req) => {
      const { vault, caller } = dataPlane(req);
      return { value: (await certs.backup(vault, nameParam(req), caller)).toString('base64url') };
    }),
  );
  api.route(
    'POST',
    '/certificates/restore',
    O.restore,
    handler(async (req) => {
      const { st, vault, caller } = dataPlane(req);
      const encoded = parseBackupBlob(req.body);
      if (!/^[A-Za-z0-9_-]+=*$/.test(encoded)) throw new HttpProblem(400, 'Malformed backup blob', 'Backup blob contains invalid or corrupt version.');
      const restored = await certs.restore(vault, Buffer.from(encoded, 'base64url'), caller);
      st.audit.objectName = restored.name;
      st.audit.objectVersion = restored.version.version;
      return json(st, vault).bundle(restored);
    }),
    deps.maxRestoreBytes,
  );
}
