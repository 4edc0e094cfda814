import { AnonymousCredential, ContainerClient, newPipeline, RestError } from '@azure/storage-blob';

/**
 * Azure Blob Storage for Managed HSM full backups (`@azure/storage-blob`; locally Azurite on
 * 127.0.0.1:10000): a container addressed by `storageResourceUri` and a SAS token, the way
 * Azure's `SASTokenParameter` addresses it. Errors are `BackupStorageError`s whose message says
 * what went wrong with the storage, never the token.
 */
export class BackupStorageError extends Error {
  constructor(
    /** `BadRequest`: the caller's location or token; `StorageUnavailable`: the storage could not be reached or answered badly. */
    readonly kind: 'BadRequest' | 'StorageUnavailable',
    message: string,
  ) {
    super(message);
    this.name = 'BackupStorageError';
  }
}

/** A validated container location: the container's URL (no query) and the SAS token's query string. */
export type StorageLocation = { readonly containerUrl: string; readonly sas: string };

const malformed = (why: string): BackupStorageError => new BackupStorageError('BadRequest', `The customer provided SAS token is malformed. ${why}`);

/**
 * Checks `storageResourceUri` and the SAS token before a job starts (Azure answers these 400
 * BadRequest up front): an http(s) URL without credentials, query or fragment naming at least a
 * container (or, path-style as Azurite's, an account), and a SAS with a signature and an expiry
 * in the future. `folder`, for restores, is appended (the SDKs split a folder URL after its
 * first path segment, so with path-style URLs the container arrives inside `folder`): the
 * container is then everything but the last path segment, which is the folder's name.
 */
export function storageLocation(storageResourceUri: unknown, token: unknown, folder?: unknown, now = Date.now()): { location: StorageLocation; folder: string | undefined } {
  if (typeof storageResourceUri !== 'string' || storageResourceUri.length === 0 || storageResourceUri.length > 2048) throw new BackupStorageError('BadRequest', 'storageResourceUri must be the URL of an Azure Blob Storage container.');
  let url: URL;
  try {
    url = new URL(storageResourceUri);
  } catch {
    throw new BackupStorageError('BadRequest', 'storageResourceUri is not a valid URL.');
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password || url.search || url.hash) {
    throw new BackupStorageError('BadRequest', 'storageResourceUri must be an http(s) URL without credentials, query or fragment.');
  }
  const segments = url.pathname.split('/').filter((s) => s !== '');
  let folderName: string | undefined;
  if (folder !== undefined) {
    if (typeof folder !== 'string' || !/^[A-Za-z0-9._/-]{1,512}$/.test(folder) || folder.split('/').some((s) => s === '' || s === '.' || s === '..')) {
      throw new BackupStorageError('BadRequest', 'The backup folder name is not valid.');
    }
    const parts = folder.split('/');
    folderName = parts.pop();
    segments.push(...parts);
  }
  if (segments.length === 0) throw new BackupStorageError('BadRequest', 'storageResourceUri must name a blob container.');
  if (typeof token !== 'string' || token.length === 0 || token.length > 4096) throw malformed('The SAS token is missing.');
  const params = new URLSearchParams(token.startsWith('?') ? token.slice(1) : token);
  if (!params.get('sig')) throw malformed('The SAS token does not contain the signature field');
  const se = params.get('se');
  if (!se) throw malformed('The SAS token does not contain the expiry field');
  const expiry = Date.parse(se);
  if (Number.isNaN(expiry)) throw malformed('The SAS token expiry field is not a date');
  if (expiry <= now) throw new BackupStorageError('BadRequest', 'The customer provided SAS token has expired.');
  const containerUrl = `${url.protocol}//${url.host}/${segments.map(encodeURIComponent).join('/')}`;
  return { location: { containerUrl, sas: params.toString() }, folder: folderName };
}

/** What the storage answered, in words for a job's error (status and the storage's error code only). */
function storageProblem(err: unknown, what: string): BackupStorageError {
  if (err instanceof BackupStorageError) return err;
  if (err instanceof RestError) {
    const status = err.statusCode;
    if (status === 403 || status === 401) return new BackupStorageError('BadRequest', `${what}: access to the storage container was denied (${err.code ?? status}); check the SAS token's permissions and expiry.`);
    if (status === 404) return new BackupStorageError('BadRequest', `${what}: the storage container or blob was not found (${err.code ?? status}).`);
    if (status !== undefined) return new BackupStorageError('StorageUnavailable', `${what}: the storage answered ${status} (${err.code ?? 'no code'}).`);
    const code = (err as { code?: string }).code;
    return new BackupStorageError('StorageUnavailable', `${what}: the storage could not be reached (${code ?? 'network error'}).`);
  }
  const code = (err as { code?: unknown } | undefined)?.code;
  return new BackupStorageError('StorageUnavailable', `${what}: the storage could not be reached (${typeof code === 'string' ? code : 'error'}).`);
}

/** One backup container, for one job. */
export class BackupContainer {
  private readonly client: ContainerClient;

  constructor(readonly location: StorageLocation) {
    const pipeline = newPipeline(new AnonymousCredential(), { retryOptions: { maxTries: 2, retryDelayInMs: 200, maxRetryDelayInMs: 1_000, tryTimeoutInMs: 30_000 } });
    this.client = new ContainerClient(`${location.containerUrl}?${location.sas}`, pipeline);
  }

  /** The URL of a folder in this container (no token). */
  folderUrl(folder: string): string {
    return `${this.location.containerUrl}/${folder}`;
  }

  async put(path: string, data: Buffer): Promise<void> {
    try {
      await this.client.getBlockBlobClient(path).uploadData(data, { blobHTTPHeaders: { blobContentType: 'application/octet-stream' } });
    } catch (err) {
      throw storageProblem(err, 'Writing the backup');
    }
  }

  async get(path: string, maxBytes: number): Promise<Buffer> {
    try {
      const blob = this.client.getBlobClient(path);
      const props = await blob.getProperties();
      if ((props.contentLength ?? 0) > maxBytes) throw new BackupStorageError('BadRequest', 'A backup blob is larger than any backup Keyledger writes.');
      return await blob.downloadToBuffer();
    } catch (err) {
      throw storageProblem(err, 'Reading the backup');
    }
  }

  /** Best effort: removes what a failed backup wrote. */
  async remove(paths: readonly string[]): Promise<void> {
    for (const p of paths) await this.client.getBlobClient(p).deleteIfExists().catch(() => undefined);
  }
}
