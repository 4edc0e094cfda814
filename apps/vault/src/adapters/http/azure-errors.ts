import { DomainError } from '#libs/kernel';
import { AuditUnavailableError, ConcurrencyError } from '#libs/eventstore';
import { GateError, GateErrorCode } from '#libs/gate';
import { KeyringErrorCode } from '../../application/keyring/secret-keyring.js';
import { VaultErrorCode } from '../../domain/vault.errors.js';

/** Azure's error envelope: `{"error":{"code","message","innererror"?}}`. */
export type AzureErrorBody = { readonly error: { readonly code: string; readonly message: string; readonly innererror?: { readonly code: string } } };

/** An answer decided by the pipeline itself (401 challenge, 403 RBAC, 404 route, 405…). */
export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly inner?: string,
    readonly headers: Readonly<Record<string, string>> = {},
    /** Answered with no body at all (Managed HSM's 401); `code` is still what the record names. */
    readonly emptyBody = false,
  ) {
    super(message);
    this.name = 'HttpProblem';
  }

  body(): AzureErrorBody {
    return { error: { code: this.code, message: this.message, ...(this.inner ? { innererror: { code: this.inner } } : {}) } };
  }
}

const SECRET_NOT_FOUND_HELP =
  'was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182';

const str = (d: Readonly<Record<string, string | number | boolean>>, k: string): string => String(d[k] ?? '');

/**
 * Maps a thrown error to Azure's answer. `origin` is the client-visible vault origin, for
 * the messages that name an object id. Unknown errors become a 500 without internals.
 */
export function toProblem(err: unknown, origin: string, issuerOf?: (tenantId: string) => string): HttpProblem {
  if (err instanceof HttpProblem) return err;
  if (err instanceof GateError) return gateProblem(err, issuerOf);
  if (err instanceof AuditUnavailableError) return new HttpProblem(503, 'ServiceUnavailable', 'The request could not be audited; it was not carried out. Retry later.');
  if (err instanceof ConcurrencyError) {
    return new HttpProblem(409, 'Conflict', 'The object was changed by a concurrent operation. Perform operations against an object in a sequential manner and retry.');
  }
  if (err instanceof DomainError) {
    const d = err.details;
    switch (err.code) {
      case VaultErrorCode.BadParameter:
        // An inner code when Azure's answer has one (`KeyTypeNotSupported`).
        return new HttpProblem(400, 'BadParameter', err.message, typeof d.inner === 'string' && d.inner ? d.inner : undefined);
      case VaultErrorCode.SecretNotFound:
        return new HttpProblem(404, 'SecretNotFound', `A secret with (name/id) ${str(d, 'name')} ${SECRET_NOT_FOUND_HELP}`);
      case VaultErrorCode.DeletedSecretNotFound:
        return new HttpProblem(404, 'SecretNotFound', `Deleted Secret not found: ${str(d, 'name')}`);
      case VaultErrorCode.SecretDisabled:
        return new HttpProblem(403, 'Forbidden', 'Operation get is not allowed on a disabled secret.', 'SecretDisabled');
      case VaultErrorCode.SecretIsDeletedButRecoverable:
        return new HttpProblem(
          409,
          'Conflict',
          `Secret ${str(d, 'name')} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.`,
          'ObjectIsDeletedButRecoverable',
        );
      case VaultErrorCode.SecretRestoreConflict:
        return new HttpProblem(
          409,
          'Conflict',
          `There was a conflict restoring the secret '${origin}/secrets/${str(d, 'name')}/${str(d, 'version')}'. This can happen if either: a second secret with the same name was created after the first secret was deleted; thus trying to restore a secret whose name is already in use. To fix this, rename the second secret to something else so that the restore works. The second probable cause of this exception is when multiple operations are performed in parallel against the secret. To avoid this error, perform operations against a secret in a sequential manner.`,
        );
      case VaultErrorCode.SecretManaged:
        return new HttpProblem(403, 'Forbidden', `Secret ${str(d, 'name')} is managed by a certificate and cannot be deleted directly: delete the certificate instead.`);
      case VaultErrorCode.PurgeProtected:
        return new HttpProblem(
          403,
          'Forbidden',
          'Operation "purge" is not allowed because purge protection is enabled for this vault. Key Vault service will automatically purge it after the retention period has passed.',
        );
      case VaultErrorCode.MalformedBackup:
        return new HttpProblem(400, 'Malformed backup blob', 'Backup blob contains invalid or corrupt version.');
      case VaultErrorCode.VaultNotFound:
        return new HttpProblem(404, 'VaultNotFound', `The vault '${str(d, 'name')}' was not found.`);
      case VaultErrorCode.DeletedVaultNotFound:
        return new HttpProblem(404, 'DeletedVaultNotFound', `No deleted vault named '${str(d, 'name')}' was found.`);
      case VaultErrorCode.VaultAlreadyExists:
        return new HttpProblem(409, 'VaultAlreadyExists', `The vault name '${str(d, 'name')}' is already in use.`);
      case VaultErrorCode.VaultIsDeletedButRecoverable:
        return new HttpProblem(
          409,
          'ConflictError',
          `Vault name '${str(d, 'name')}' is already in use. Vault with the same name is in a soft-deleted state: recover it or purge it before creating it again.`,
        );
      case VaultErrorCode.VaultPurgeProtectionIrreversible:
        return new HttpProblem(400, 'BadRequest', 'Purge protection cannot be disabled once it is enabled.');
      // A Managed HSM pool's local RBAC and settings (messages as the recorded service answers).
      case VaultErrorCode.RoleAssignmentExists:
        return new HttpProblem(409, 'RoleAssignmentExists', 'The role assignment already exists.');
      case VaultErrorCode.RoleAssignmentNotFound:
        return new HttpProblem(404, 'RoleAssignmentNotFound', 'Requested role assignment not found');
      case VaultErrorCode.RoleDefinitionNotFound:
        return new HttpProblem(404, 'RoleDefinitionNotFound', 'Requested role definition not found');
      case VaultErrorCode.RoleDefinitionInUse:
        return new HttpProblem(409, 'RoleDefinitionInUse', err.message);
      case VaultErrorCode.SettingNotFound:
        return new HttpProblem(404, 'SettingNotFound', err.message);
      case VaultErrorCode.CertificateIssuerNotFound:
        return new HttpProblem(404, 'CertificateIssuerNotFound', 'Issuer not found');
      case VaultErrorCode.ContactsNotFound:
        return new HttpProblem(404, 'ContactsNotFound', 'Contacts not found');
      case KeyringErrorCode.Unavailable:
        return new HttpProblem(503, 'ServiceUnavailable', 'The key custody service is unavailable. Retry later.');
      case KeyringErrorCode.Rejected:
        return new HttpProblem(400, 'BadParameter', 'The request was rejected by the key custody service.');
      case 'JwksUnavailable':
        return new HttpProblem(503, 'ServiceUnavailable', 'Token signing keys are unavailable. Retry later.');
      default:
        return new HttpProblem(500, 'InternalServerError', 'The server encountered an internal error.');
    }
  }
  return new HttpProblem(500, 'InternalServerError', 'The server encountered an internal error.');
}

/** The gate's refusals in Azure's words (the REST table; gRPC derives its status from it). */
function gateProblem(err: GateError, issuerOf: ((tenantId: string) => string) | undefined): HttpProblem {
  const d = err.details;
  switch (err.code) {
    case GateErrorCode.ContainerNotFound:
      return new HttpProblem(404, 'VaultNotFound', err.message);
    case GateErrorCode.OperationNotFound:
      return new HttpProblem(404, 'NotFound', 'The requested resource was not found.');
    case GateErrorCode.InputRejected:
      return new HttpProblem(400, 'BadParameter', err.message);
    case GateErrorCode.NotReady:
      return new HttpProblem(503, 'ServiceUnavailable', err.message);
    case GateErrorCode.Throttled:
      // As Azure: 429 Throttled with Retry-After in seconds, which the SDKs' retry policies honour.
      return new HttpProblem(429, 'Throttled', err.message, undefined, { 'retry-after': String(d.retryAfterSeconds ?? 1) });
    case GateErrorCode.AuditUnavailable:
      return new HttpProblem(503, 'ServiceUnavailable', err.message);
    case GateErrorCode.Overloaded:
      // Load shedding: answered at once rather than queued until the client gives up; the SDKs'
      // retry policies honour Retry-After on a 503 as on a 429.
      // The inner code tells these apart from other 503s (and names them in the audit record).
      return new HttpProblem(503, 'ServiceUnavailable', err.message, 'ServerBusy', { 'retry-after': String(d.retryAfterSeconds ?? 1) });
    case GateErrorCode.Forbidden: {
      const caller = `${d.appId ? `appid=${str(d, 'appId')};` : ''}oid=${str(d, 'objectId')};iss=${issuerOf ? issuerOf(str(d, 'tenantId')) : ''}`;
      const message =
        'Caller is not authorized to perform action on resource.\r\n' +
        'If role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\n' +
        `Caller: ${caller}\r\n` +
        `Action: '${str(d, 'action')}'\r\n` +
        `Resource: '${str(d, 'resource')}'\r\n` +
        'Assignment: (not found)\r\n' +
        'DenyAssignmentId: null\r\n' +
        'DecisionReason: null \r\n' +
        `Vault: ${str(d, 'container')};location=local\r\n`;
      return new HttpProblem(403, 'Forbidden', message, 'ForbiddenByRbac');
    }
    default:
      return new HttpProblem(500, 'InternalServerError', 'The server encountered an internal error.');
  }
}

const CLIENT_ERROR_CODES: Readonly<Record<number, string>> = { 400: 'BadParameter', 404: 'NotFound', 405: 'MethodNotAllowed', 413: 'RequestEntityTooLarge', 415: 'UnsupportedMediaType' };

/** Fastify's own errors (body parsing, limits) in Azure's words. */
export function fromFastifyError(err: { code?: string; statusCode?: number; message?: string }): HttpProblem | undefined {
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new HttpProblem(400, 'BadParameter', 'The request body is not valid JSON.');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HttpProblem(413, 'RequestEntityTooLarge', 'The request body is larger than the service accepts.');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new HttpProblem(415, 'UnsupportedMediaType', "The request entity's media type is not supported for this resource. Use application/json.");
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new HttpProblem(400, 'BadParameter', 'The request Content-Length does not match its body.');
    default:
      break;
  }
  if (err instanceof SyntaxError || (err.statusCode === 400 && /JSON/i.test(err.message ?? ''))) return new HttpProblem(400, 'BadParameter', 'The request body is not valid JSON.');
  // The connection failed while the body was read (client gone, or its framing broken): Fastify
  // hands the stream error over with status 400.
  if (err.code === 'ECONNRESET' || err.code === 'ERR_STREAM_PREMATURE_CLOSE') return new HttpProblem(400, 'BadRequest', 'The request body could not be read.');
  // Any other Fastify rejection of the request itself, without its internal wording.
  if (err.code?.startsWith('FST_ERR_') && err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
    return new HttpProblem(err.statusCode, CLIENT_ERROR_CODES[err.statusCode] ?? 'BadRequest', 'The request is not valid.');
  }
  return undefined;
}

/**
 * Requests rejected before routing, in Azure's words: by Fastify's router (`frameworkErrors`)
 * or by Node's HTTP parser on the connection (`clientError`, `code` HPE_* or a timeout).
 */
export function preRoutingProblem(err: { code?: string }): HttpProblem {
  switch (err.code) {
    case 'FST_ERR_BAD_URL':
      return new HttpProblem(400, 'BadParameter', 'The request URL is not valid: it contains a malformed percent-encoding.');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new HttpProblem(400, 'BadParameter', 'The request URL is not valid: a path segment is too long.');
    case 'FST_ERR_ASYNC_CONSTRAINT':
      return new HttpProblem(500, 'InternalServerError', 'The server encountered an internal error.');
    case 'HPE_HEADER_OVERFLOW':
      return new HttpProblem(431, 'RequestHeaderFieldsTooLarge', 'The request line and headers are larger than the service accepts (URL too long or headers too large).');
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new HttpProblem(408, 'RequestTimeout', 'The request was not received in time.');
    default:
      return new HttpProblem(400, 'BadRequest', 'The request is not a valid HTTP request.');
  }
}
