import type { FastifyReply, FastifyRequest, RouteHandlerMethod } from 'fastify';
import { ManagedHsmAdminDataActions } from '#libs/auth';
import { DomainError } from '#libs/kernel';
import type { PoolBackupService, PoolJob } from '../../application/pools/pool-backup.service.js';
import type { SecurityDomainService } from '../../application/pools/security-domain.service.js';
import { assertKeyName } from '../../domain/key/key.rules.js';
import { SecurityDomainErrorCode } from '../../domain/security-domain/security-domain.decider.js';
import type { VaultRecord } from '../persistence/vaults.repository.js';
import { BackupStorageError, storageLocation } from '../storage/backup-storage.js';
import { HttpProblem } from './azure-errors.js';
import { dataPlane, type ApiPipeline, type OperationSpec } from './request-pipeline.js';

const A = ManagedHsmAdminDataActions;
const op = (name: string, action: string): OperationSpec => ({ name, kind: 'data', action });

/**
 * The Managed HSM administration plane's full backup / restore (`backuprestore.json`) and
 * security domain (`securitydomain.json`) operations, each declared once with the operation id
 * of Azure's specification as its audit operationName and the Managed HSM data action it needs
 * (Managed HSM Administrator, or Backup User for backups, holds them).
 */
export const POOL_ADMIN_OPERATIONS = {
  backup: op('FullBackup', A.backupStart),
  backupStatus: op('FullBackupStatus', A.backupStatus),
  preBackup: op('PreFullBackup', A.backupStart),
  restore: op('FullRestore', A.restoreStart),
  restoreStatus: op('RestoreStatus', A.restoreStatus),
  preRestore: op('PreFullRestore', A.restoreStart),
  selectiveRestore: { ...op('SelectiveKeyRestore', A.restoreStart), collection: 'keys', nameParam: 'name', validate: (n: string | undefined) => void (n !== undefined && assertKeyName(n)) } satisfies OperationSpec,
  sdDownload: op('SecurityDomainDownload', A.securityDomainDownload),
  sdDownloadStatus: op('SecurityDomainDownloadPending', A.securityDomainDownloadStatus),
  sdTransferKey: op('SecurityDomainTransferKey', A.securityDomainTransferKey),
  sdUpload: op('SecurityDomainUpload', A.securityDomainUpload),
  sdUploadStatus: op('SecurityDomainUploadPending', A.securityDomainUploadStatus),
} as const;

/** What a pool awaiting its security domain still serves: the security domain itself. */
const BEFORE_ACTIVATION: ReadonlySet<string> = new Set(
  [POOL_ADMIN_OPERATIONS.sdDownload, POOL_ADMIN_OPERATIONS.sdDownloadStatus, POOL_ADMIN_OPERATIONS.sdTransferKey, POOL_ADMIN_OPERATIONS.sdUpload, POOL_ADMIN_OPERATIONS.sdUploadStatus].map((o) => o.name),
);

/** Seconds the 202 of a job asks the client to wait before its first poll (Azure says 10; Keyledger's jobs are short). */
const RETRY_AFTER = '1';

const notActivatedProblem = (): HttpProblem =>
  new HttpProblem(
    403,
    'Forbidden',
    'Operation is not allowed: this Managed HSM is not activated. Download its security domain (POST /securitydomain/download) or upload an existing one (POST /securitydomain/upload) first.',
    'ManagedHsmNotActivated',
  );

/**
 * The pipeline's check of a pool's activation (after authentication and RBAC): a pool awaiting
 * its security domain answers every operation but the security domain's with 403.
 */
export function activationGuard(sd: SecurityDomainService): (container: VaultRecord, op: OperationSpec) => Promise<void> {
  return async (container, operation) => {
    if (container.kind !== 'managedHsm' || BEFORE_ACTIVATION.has(operation.name)) return;
    if (!(await sd.activated(container))) throw notActivatedProblem();
  };
}

function problemOf(err: unknown): unknown {
  if (err instanceof BackupStorageError) return new HttpProblem(400, 'BadRequest', err.message);
  if (err instanceof DomainError) {
    switch (err.code) {
      case SecurityDomainErrorCode.NotActivated:
        return notActivatedProblem();
      case SecurityDomainErrorCode.AlreadyActivated:
        return new HttpProblem(409, 'Conflict', err.message);
      case SecurityDomainErrorCode.BadSecurityDomain:
        return new HttpProblem(400, 'BadParameter', err.message);
      default:
        return err;
    }
  }
  return err;
}

const handler =
  (fn: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>): RouteHandlerMethod =>
  async (req, reply) => {
    try {
      return await fn(req, reply);
    } catch (err) {
      throw problemOf(err);
    }
  };

type SasBody = { storageResourceUri?: unknown; token?: unknown; useManagedIdentity?: unknown };
const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

function sasOf(raw: unknown, folder?: unknown): ReturnType<typeof storageLocation> {
  if (!isObject(raw)) throw new HttpProblem(400, 'BadRequest', 'The storage location (storageResourceUri and token) is missing.');
  const b = raw as SasBody;
  if (b.useManagedIdentity === true) {
    throw new HttpProblem(400, 'BadRequest', 'This Managed HSM has no user-assigned managed identity for storage access in Keyledger: pass a SAS token (useManagedIdentity false).');
  }
  if (b.useManagedIdentity !== undefined && typeof b.useManagedIdentity !== 'boolean') throw new HttpProblem(400, 'BadRequest', 'useManagedIdentity must be a boolean.');
  return storageLocation(b.storageResourceUri, b.token, folder);
}

/** `FullBackupOperation` as the 202 lists it (status first), and as the polls do (alphabetical). */
const backupStarted = (j: PoolJob): Record<string, unknown> => ({ status: j.status, statusDetails: j.statusDetails, error: j.error, startTime: j.startTime, endTime: j.endTime, jobId: j.jobId, azureStorageBlobContainerUri: j.azureStorageBlobContainerUri });
const jobError = (j: PoolJob): Record<string, unknown> | null => (j.error ? { code: j.error.code, innererror: null, message: j.error.message } : null);
const backupStatus = (j: PoolJob): Record<string, unknown> => ({ azureStorageBlobContainerUri: j.azureStorageBlobContainerUri, endTime: j.endTime, error: jobError(j), jobId: j.jobId, startTime: j.startTime, status: j.status, statusDetails: j.statusDetails });
/** `RestoreOperation` / `SelectiveKeyRestoreOperation` (alphabetical, no container URI). */
const restoreStatus = (j: PoolJob): Record<string, unknown> => ({ endTime: j.endTime, error: jobError(j), jobId: j.jobId, startTime: j.startTime, status: j.status, statusDetails: j.statusDetails });

export type PoolAdminRoutesDeps = { readonly backups: PoolBackupService; readonly securityDomain: SecurityDomainService };

/** Pools only: on a vault's host these paths answer 404 like any unknown path. */
function poolOf(req: FastifyRequest): ReturnType<typeof dataPlane> {
  const d = dataPlane(req);
  if (d.vault.kind !== 'managedHsm') throw new HttpProblem(404, 'NotFound', 'The requested resource was not found.');
  return d;
}

export function registerPoolAdminRoutes(api: ApiPipeline, deps: PoolAdminRoutesDeps): void {
  const O = POOL_ADMIN_OPERATIONS;
  const { backups, securityDomain: sd } = deps;

  // The status URL carries the request's api-version: the Python SDK polls it verbatim (the JS one adds it).
  const statusUrl = (st: { origin: string; apiVersion: string }, path: string): string => `${st.origin}${path}?api-version=${encodeURIComponent(st.apiVersion)}`;
  const accepted = (reply: FastifyReply, url: string, body: Record<string, unknown>): FastifyReply =>
    reply.code(202).header('azure-asyncoperation', url).header('retry-after', RETRY_AFTER).send(body);

  const startBackup = (check: boolean): RouteHandlerMethod =>
    handler(async (req, reply) => {
      const { st, vault, caller } = poolOf(req);
      const { location } = sasOf(req.body);
      if (!check && backups.backupRunning(vault)) throw new HttpProblem(409, '409', 'Another backup operation is in progress. Please try again after sometime.');
      const job = backups.startBackup(vault, location, caller, check);
      return accepted(reply, statusUrl(st, `/backup/${job.jobId}/pending`), backupStarted(job));
    });
  api.route('POST', '/backup', O.backup, startBackup(false));
  api.route('POST', '/prebackup', O.preBackup, startBackup(true));
  api.route(
    'GET',
    '/backup/:jobId/pending',
    O.backupStatus,
    handler(async (req) => {
      const { vault } = poolOf(req);
      const job = backups.job(vault, (req.params as { jobId: string }).jobId, 'backup');
      if (!job) throw new HttpProblem(404, 'NotFound', 'The backup job was not found.');
      return backupStatus(job);
    }),
  );

  const startRestore = (kind: 'full' | 'check' | 'key'): RouteHandlerMethod =>
    handler(async (req, reply) => {
      const { st, vault, caller } = poolOf(req);
      const b = isObject(req.body) ? req.body : {};
      const folderIn = kind === 'key' ? b.folder : b.folderToRestore;
      if (typeof folderIn !== 'string' || folderIn === '') throw new HttpProblem(400, 'BadRequest', `${kind === 'key' ? 'folder' : 'folderToRestore'} is required: the folder name of a previous successful full backup.`);
      const { location, folder } = sasOf(b.sasTokenParameters, folderIn);
      if (folder === undefined) throw new HttpProblem(400, 'BadRequest', 'The backup folder name is not valid.');
      const key = kind === 'key' ? assertKeyName((req.params as { name: string }).name) : undefined;
      const job = backups.startRestore(vault, location, folder, caller, { ...(key ? { key } : {}), check: kind === 'check' });
      return accepted(reply, statusUrl(st, `/restore/${job.jobId}/pending`), restoreStatus(job));
    });
  api.route('PUT', '/restore', O.restore, startRestore('full'));
  api.route('PUT', '/prerestore', O.preRestore, startRestore('check'));
  api.route('PUT', '/keys/:name/restore', O.selectiveRestore, startRestore('key'));
  api.route(
    'GET',
    '/restore/:jobId/pending',
    O.restoreStatus,
    handler(async (req) => {
      const { vault } = poolOf(req);
      const job = backups.job(vault, (req.params as { jobId: string }).jobId, 'restore');
      if (!job) throw new HttpProblem(404, 'NotFound', 'The restore job was not found.');
      return restoreStatus(job);
    }),
  );

  api.route(
    'POST',
    '/securitydomain/download',
    O.sdDownload,
    handler(async (req, reply) => {
      const { st, vault, caller } = poolOf(req);
      const document = await sd.download(vault, req.body, caller);
      return reply.code(202).header('azure-asyncoperation', statusUrl(st, '/securitydomain/download/pending')).header('retry-after', RETRY_AFTER).send({ value: JSON.stringify(document) });
    }),
  );
  api.route('GET', '/securitydomain/download/pending', O.sdDownloadStatus, handler(async (req) => sd.downloadStatus(poolOf(req).vault)));
  api.route(
    'GET',
    '/securitydomain/upload',
    O.sdTransferKey,
    handler(async (req) => {
      const { vault, caller } = poolOf(req);
      return { key_format: 'jwk', transfer_key: await sd.transferKey(vault, caller) };
    }),
  );
  api.route(
    'POST',
    '/securitydomain/upload',
    O.sdUpload,
    handler(async (req, reply) => {
      const { st, vault, caller } = poolOf(req);
      await sd.upload(vault, req.body, caller);
      return reply.code(202).header('azure-asyncoperation', statusUrl(st, '/securitydomain/upload/pending')).header('retry-after', RETRY_AFTER).send(await sd.uploadStatus(vault));
    }),
  );
  api.route('GET', '/securitydomain/upload/pending', O.sdUploadStatus, handler(async (req) => sd.uploadStatus(poolOf(req).vault)));
}
