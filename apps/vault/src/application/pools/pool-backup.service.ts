import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { isBuiltInRoleId } from '#libs/auth';
import { DomainError } from '#libs/kernel';
import { BackupContainer, BackupStorageError, type StorageLocation } from '../../adapters/storage/backup-storage.js';
import type { VaultRecord } from '../../adapters/persistence/vaults.repository.js';
import type { PoolAdministrationState } from '../../domain/pool-administration/pool-administration.decider.js';
import {
  ADMINISTRATION_BLOB,
  BackupFormatError,
  backupFolderName,
  buildManifest,
  keyBlobPath,
  MANIFEST_BLOB,
  openAdministrationBlob,
  openKeyBlob,
  openManifest,
  sealAdministrationBlob,
  sealKeyBlob,
  sha256,
  type ManifestKey,
} from '../../domain/pool-backup/pool-backup.format.js';
import { KeyErrorCode } from '../../domain/key/key.decider.js';
import { nameKey } from '../../domain/secret/secret.rules.js';
import type { Caller } from '../access/caller.js';
import type { KeysService } from '../keys/keys.service.js';
import type { PoolAdministrationService } from '../pool-administration/pool-administration.service.js';
import type { DomainKey, SecurityDomainService } from './security-domain.service.js';

/** A job's error as Azure's job bodies carry it. */
export type JobError = { readonly code: string; readonly message: string };

/**
 * One long-running operation on a pool — full backup, pre-backup check, full or selective
 * restore, pre-restore check — as Azure's `FullBackupOperation` / `RestoreOperation` describe
 * it. Jobs live in the memory of the vault instance that runs them (a restart forgets them; the
 * backup blobs stay), polled at `/backup/{jobId}/pending` or `/restore/{jobId}/pending`.
 */
export type PoolJob = {
  readonly jobId: string;
  readonly kind: 'backup' | 'restore';
  readonly poolId: string;
  status: 'InProgress' | 'Succeeded' | 'Failed';
  statusDetails: string | null;
  error: JobError | null;
  readonly startTime: number;
  endTime: number | null;
  /** Backups: the folder's URL once written. */
  azureStorageBlobContainerUri: string | null;
};

export type PoolBackupDeps = {
  readonly keys: KeysService;
  readonly securityDomain: SecurityDomainService;
  /** The pool's local RBAC and settings: read into a full backup, restored by a full restore. */
  readonly poolAdministration: Pick<PoolAdministrationService, 'state' | 'restore' | 'checkRestore'>;
  readonly logger: Logger;
  /** Largest key backup blob read back, bytes. */
  readonly maxKeyBlobBytes?: number;
};

const seconds = (): number => Math.floor(Date.now() / 1000);
const MAX_JOBS = 1_000;
const MANIFEST_MAX = 8 * 1024 * 1024;
const ADMINISTRATION_MAX = 8 * 1024 * 1024;

/** A full restore whose role assignments or definitions the target pool refuses (nothing is written). */
class AdministrationRestoreError extends Error {
  constructor(refusal: DomainError) {
    super(`The role assignments and definitions of the backup cannot be restored into this pool: ${refusal.message}`);
    this.name = 'AdministrationRestoreError';
  }
}

/** The error of a failed job: storage and format problems in words, anything else without internals. */
function jobError(err: unknown): JobError {
  if (err instanceof AdministrationRestoreError) return { code: 'BadRequest', message: err.message };
  if (err instanceof BackupStorageError) return { code: err.kind === 'BadRequest' ? 'BadRequest' : 'StorageUnavailable', message: err.message };
  if (err instanceof BackupFormatError) return { code: err.kind === 'OtherDomain' ? 'InvalidSecurityDomain' : 'BadRequest', message: err.message };
  if (err instanceof DomainError && (err.code === 'MalformedBackup' || err.code === 'BadParameter')) return { code: 'BadRequest', message: 'A key backup in the folder is invalid or corrupt.' };
  if (err instanceof DomainError && err.code === 'ManagedHsmNotActivated') return { code: 'Forbidden', message: err.message };
  return { code: 'InternalError', message: 'The operation failed inside Keyledger; see the vault log for the request id.' };
}

/** For the log: Keyledger's own messages (they name no token or material); of anything else its name only. */
const describe = (err: unknown): string =>
  err instanceof BackupStorageError || err instanceof BackupFormatError || err instanceof DomainError || err instanceof AdministrationRestoreError ? err.message : err instanceof Error ? err.name : 'error';

/**
 * Full backup and restore of a Managed HSM pool to Azure Blob Storage (Azurite locally). A
 * backup writes every active key of the pool — all versions, attributes, tags, rotation policy,
 * the material sealed by crypto inside each key's own backup — each re-encrypted under the
 * pool's security domain, then the pool's administration (custom role definitions, role
 * assignments, settings) as one blob encrypted the same way, then the manifest last (a folder
 * without a manifest is no backup; a failed backup removes what it wrote). A restore reads and
 * checks the whole folder (domain, manifest MAC, every blob's digest and tag, that crypto opens
 * every key's inner backup, i.e. the same deployment root, and that the target pool accepts the
 * role assignments) before it writes any key, so a backup from another security domain or root,
 * or an altered blob, is refused with nothing restored. A full restore then restores the
 * administration after the keys, in one append (PoolAdministrationService.restore: additive,
 * what the pool holds already is skipped); a selective key restore never touches it; a backup
 * made before administration was backed up (manifest version 1) restores its keys only.
 */
export class PoolBackupService {
  private readonly jobs = new Map<string, PoolJob>();

  constructor(private readonly deps: PoolBackupDeps) {}

  job(pool: VaultRecord, jobId: string, kind: PoolJob['kind']): PoolJob | undefined {
    const j = this.jobs.get(jobId);
    return j && j.poolId === pool.vaultId && j.kind === kind ? j : undefined;
  }

  /** Whether a backup of this pool is running (Azure answers a second one 409). */
  backupRunning(pool: VaultRecord): boolean {
    for (const j of this.jobs.values()) if (j.poolId === pool.vaultId && j.kind === 'backup' && j.status === 'InProgress') return true;
    return false;
  }

  startBackup(pool: VaultRecord, location: StorageLocation, caller: Caller, check = false): PoolJob {
    return this.start(pool, 'backup', caller, (job, bg) => (check ? this.preBackup(location, job) : this.backup(pool, location, job, bg)));
  }

  /** Full restore (`key` absent), selective key restore, or (check) the pre-restore check only. */
  startRestore(pool: VaultRecord, location: StorageLocation, folder: string, caller: Caller, options: { key?: string; check?: boolean } = {}): PoolJob {
    return this.start(pool, 'restore', caller, (_job, bg) => this.restore(pool, location, folder, bg, options));
  }

  private start(pool: VaultRecord, kind: PoolJob['kind'], caller: Caller, work: (job: PoolJob, background: Caller) => Promise<string | null>): PoolJob {
    const job: PoolJob = { jobId: randomBytes(16).toString('hex'), kind, poolId: pool.vaultId, status: 'InProgress', statusDetails: null, error: null, startTime: seconds(), endTime: null, azureStorageBlobContainerUri: null };
    if (this.jobs.size >= MAX_JOBS) {
      for (const [id, j] of this.jobs) if (j.status !== 'InProgress') this.jobs.delete(id);
    }
    this.jobs.set(job.jobId, job);
    // The work outlives the request: its own changes carry no audit record (the request's is written).
    const background: Caller = { ...caller, audit: undefined };
    setImmediate(() => {
      work(job, background).then(
        (details) => {
          job.statusDetails = details;
          job.status = 'Succeeded';
          job.endTime = seconds();
        },
        (err: unknown) => {
          job.error = jobError(err);
          job.statusDetails = job.error.code === 'BadRequest' ? 'Invalid Request' : job.error.message;
          job.status = 'Failed';
          job.endTime = seconds();
          this.deps.logger.warn({ jobId: job.jobId, kind, pool: pool.nameKey, code: job.error.code, err: describe(err) }, 'pool job failed');
        },
      );
    });
    return job;
  }

  private async preBackup(location: StorageLocation, job: PoolJob): Promise<null> {
    const container = new BackupContainer(location);
    const probe = `keyledger-prebackup-${job.jobId}`;
    await container.put(probe, Buffer.from('keyledger pre-backup check', 'utf8'));
    await container.remove([probe]);
    return null;
  }

  private async backup(pool: VaultRecord, location: StorageLocation, job: PoolJob, caller: Caller): Promise<null> {
    const domain = await this.deps.securityDomain.domainKey(pool, caller);
    const container = new BackupContainer(location);
    const folder = backupFolderName(pool.name, new Date());
    const written: string[] = [];
    try {
      const keys: ManifestKey[] = [];
      for await (const name of this.keyNames(pool)) {
        const plain = await this.deps.keys.backup(pool, name, caller);
        const blob = sealKeyBlob(domain.key, domain.domainId, name, plain);
        const path = keyBlobPath(folder, nameKey(name));
        await container.put(path, blob);
        written.push(path);
        keys.push({ name, blob: path.slice(folder.length + 1), versions: await this.versionCount(pool, name), sha256: sha256(blob) });
      }
      const administration = sealAdministrationBlob(domain.key, domain.domainId, await this.deps.poolAdministration.state(pool));
      const administrationPath = `${folder}/${ADMINISTRATION_BLOB}`;
      await container.put(administrationPath, administration);
      written.push(administrationPath);
      const manifest = buildManifest(domain.key, { pool: pool.name, domainId: domain.domainId, created: seconds(), keys, administration: { blob: ADMINISTRATION_BLOB, sha256: sha256(administration) } });
      await container.put(`${folder}/${MANIFEST_BLOB}`, manifest);
      job.azureStorageBlobContainerUri = container.folderUrl(folder);
      return null;
    } catch (err) {
      await container.remove(written);
      throw err;
    } finally {
      domain.key.fill(0);
    }
  }

  private async restore(pool: VaultRecord, location: StorageLocation, folder: string, caller: Caller, options: { key?: string; check?: boolean }): Promise<string | null> {
    const domain = await this.deps.securityDomain.domainKey(pool, caller);
    try {
      const { blobs, administration } = await this.readFolder(new BackupContainer(location), folder, domain, options.key);
      try {
        // The inner backups open here too (the same deployment root; crypto checks each): else nothing is restored.
        for (const b of blobs) {
          if ((await this.deps.keys.checkBackup(b.plain, caller)).toLowerCase() !== b.name.toLowerCase()) throw new BackupFormatError('Tampered', `The backup blob of key ${b.name} holds another key.`);
        }
        // So does the pool's administration: the target must accept it before any key is written.
        if (administration) await this.administrationRestore(() => this.deps.poolAdministration.checkRestore(pool, administration, isBuiltInRoleId));
        if (options.check) return null;
        let restored = 0;
        let refused = 0;
        for (const b of blobs) {
          try {
            await this.deps.keys.restore(pool, b.plain, caller);
            restored += b.versions;
          } catch (err) {
            if (!(err instanceof DomainError) || ![KeyErrorCode.KeyRestoreConflict, KeyErrorCode.KeyIsDeletedButRecoverable].includes(err.code as 'KeyRestoreConflict')) throw err;
            refused += b.versions;
          } finally {
            b.plain.fill(0);
          }
        }
        // After the keys (assignments at /keys/{name} name them): one append, the restore's caller as actor.
        if (administration) await this.administrationRestore(() => this.deps.poolAdministration.restore(pool, administration, isBuiltInRoleId, caller));
        return `Number of successful key versions restored: ${restored}, Number of key versions could not overwrite: ${refused}`;
      } finally {
        for (const b of blobs) b.plain.fill(0);
      }
    } finally {
      domain.key.fill(0);
    }
  }

  /** A refusal by the pool's administration rules as the job's error; anything else as it is. */
  private async administrationRestore(work: () => Promise<unknown>): Promise<void> {
    try {
      await work();
    } catch (err) {
      throw err instanceof DomainError ? new AdministrationRestoreError(err) : err;
    }
  }

  /**
   * Every key of the folder (or the one asked for), and for a full restore of a version 2 backup
   * the pool's administration, opened and checked before anything is written.
   */
  private async readFolder(
    container: BackupContainer,
    folder: string,
    domain: DomainKey,
    only?: string,
  ): Promise<{ blobs: { name: string; plain: Buffer; versions: number }[]; administration: PoolAdministrationState | undefined }> {
    const manifest = openManifest(domain.key, domain.domainId, await container.get(`${folder}/${MANIFEST_BLOB}`, MANIFEST_MAX));
    const wanted = only === undefined ? manifest.keys : manifest.keys.filter((k) => k.name.toLowerCase() === only.toLowerCase());
    if (only !== undefined && wanted.length === 0) throw new BackupStorageError('BadRequest', `The backup folder holds no key named ${only}.`);
    // A selective restore never reads (nor touches) the administration; a version 1 backup has none.
    let administration: PoolAdministrationState | undefined;
    if (only === undefined && manifest.administration !== undefined) {
      const blob = await container.get(`${folder}/${ADMINISTRATION_BLOB}`, ADMINISTRATION_MAX);
      if (sha256(blob) !== manifest.administration.sha256) throw new BackupFormatError('Tampered', 'The backup blob of the role assignments and definitions was altered.');
      administration = openAdministrationBlob(domain.key, domain.domainId, blob);
    }
    const out: { name: string; plain: Buffer; versions: number }[] = [];
    try {
      for (const k of wanted) {
        if (!k.blob.startsWith('keys/') || k.blob.includes('..')) throw new BackupFormatError('Tampered', 'The backup manifest names a blob outside its folder.');
        const blob = await container.get(`${folder}/${k.blob}`, this.deps.maxKeyBlobBytes ?? 4 * 1024 * 1024);
        if (sha256(blob) !== k.sha256) throw new BackupFormatError('Tampered', `The backup blob of key ${k.name} was altered.`);
        out.push({ name: k.name, plain: openKeyBlob(domain.key, domain.domainId, k.name, blob), versions: k.versions });
      }
    } catch (err) {
      for (const b of out) b.plain.fill(0);
      throw err;
    }
    return { blobs: out, administration };
  }

  private async *keyNames(pool: VaultRecord): AsyncGenerator<string> {
    let token: string | undefined;
    do {
      const page = await this.deps.keys.list(pool, token, 25);
      for (const k of page.items) yield k.name;
      token = page.next ?? undefined;
    } while (token);
  }

  private async versionCount(pool: VaultRecord, name: string): Promise<number> {
    let n = 0;
    let token: string | undefined;
    do {
      const page = await this.deps.keys.listVersions(pool, name, token, 25);
      n += page.items.length;
      token = page.next ?? undefined;
    } while (token);
    return n;
  }
}
