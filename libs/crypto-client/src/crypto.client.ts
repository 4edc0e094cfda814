import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import grpc, { type ChannelOptions, type Client, type ServiceClientConstructor, type ServiceError } from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import { keyledgerHome } from '#libs/platform';
import { CRYPTO_ERROR_TRAILER, CryptoError, CryptoErrorCode, GrpcStatus, isCryptoErrorCode } from './crypto.errors.js';
import {
  CRYPTO_GRPC_MAX_MESSAGE_BYTES,
  CRYPTO_PROTO_LOADER_OPTIONS,
  CRYPTO_PROTO_PACKAGE,
  CRYPTO_PROTO_PATH,
  CRYPTO_SERVICE_NAME,
  DEFAULT_CRYPTO_GRPC_ADDRESS,
} from './crypto.proto.js';
import type {
  BackupKeyRequest,
  BackupKeyResponse,
  ReleaseKeyRequest,
  ReleaseKeyResponse,
  CreateKeyRequest,
  DeleteKeyRequest,
  DeleteKeyResponse,
  RecoverKeyRequest,
  RestoreKeyRequest,
  RestoreKeyResponse,
  DecryptDataKeyRequest,
  DecryptDataKeyResponse,
  DestroyDataKeysRequest,
  DestroyDataKeysResponse,
  DestroyKeyRequest,
  DestroyKeyResponse,
  GenerateDataKeyRequest,
  GenerateDataKeyResponse,
  GetKeyRequest,
  HealthResponse,
  ImportKeyRequest,
  KeyOperationBatchRequest,
  KeyOperationBatchResponse,
  KeyOperationRequest,
  KeyOperationResponse,
  KeyResponse,
  OpenBackupRequest,
  OpenBackupResponse,
  RandomBytesRequest,
  RandomBytesResponse,
  SealBackupRequest,
  SealBackupResponse,
  UpdateKeyRequest,
} from './crypto.types.js';

/** Client certificate, key and the CA that signs the crypto service's certificate (PEM). */
export interface CryptoClientTls {
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
}

export interface CryptoClientOptions {
  /** host:port of the crypto gRPC endpoint; default `localhost:9445`. */
  readonly address?: string;
  /** Mutual TLS material (the dev CA's server.crt/server.key serve as client certificate too). */
  readonly tls: CryptoClientTls;
  /** Per-call deadline unless a call sets its own; default 10 s. */
  readonly deadlineMs?: number;
  /** Extra grpc-js channel options (e.g. `grpc.ssl_target_name_override`). */
  readonly channelOptions?: ChannelOptions;
}

export interface CallOptions {
  readonly deadlineMs?: number;
}

type Callback<T> = (err: ServiceError | null, res?: T) => void;
type UnaryMethod = (request: object, metadata: grpc.Metadata, options: grpc.CallOptions, callback: Callback<unknown>) => grpc.ClientUnaryCall;

let serviceConstructor: ServiceClientConstructor | undefined;

function cryptoServiceConstructor(): ServiceClientConstructor {
  if (!serviceConstructor) {
    const definition = protoLoader.loadSync(CRYPTO_PROTO_PATH, CRYPTO_PROTO_LOADER_OPTIONS);
    let node: unknown = grpc.loadPackageDefinition(definition);
    for (const part of [...CRYPTO_PROTO_PACKAGE.split('.'), CRYPTO_SERVICE_NAME]) node = (node as Record<string, unknown>)[part];
    if (typeof node !== 'function') throw new Error(`${CRYPTO_PROTO_PACKAGE}.${CRYPTO_SERVICE_NAME} not found in ${CRYPTO_PROTO_PATH}`);
    serviceConstructor = node as ServiceClientConstructor;
  }
  return serviceConstructor;
}

/** Turns a gRPC failure into a CryptoError with the service's stable code. */
export function toCryptoError(err: ServiceError): CryptoError {
  const raw = err.metadata?.get(CRYPTO_ERROR_TRAILER)[0];
  const trailer = typeof raw === 'string' ? raw : raw?.toString('utf8');
  const status = typeof err.code === 'number' ? err.code : GrpcStatus.UNKNOWN;
  const code = isCryptoErrorCode(trailer)
    ? trailer
    : status === GrpcStatus.INTERNAL || status === GrpcStatus.UNKNOWN
      ? CryptoErrorCode.Internal
      : CryptoErrorCode.Unavailable;
  return new CryptoError(code, status, err.details || err.message);
}

/**
 * Typed, Promise-based client of the crypto service (gRPC over mutual TLS). One method per
 * RPC; bytes are Buffers; failures reject with `CryptoError { code, grpcStatus, message }`.
 * One instance per process is enough (it multiplexes over one HTTP/2 connection); `close()`
 * it on shutdown.
 */
export class CryptoClient {
  readonly address: string;
  private readonly client: Client;
  private readonly deadlineMs: number;

  constructor(options: CryptoClientOptions) {
    this.address = options.address ?? DEFAULT_CRYPTO_GRPC_ADDRESS;
    this.deadlineMs = options.deadlineMs ?? 10_000;
    const Service = cryptoServiceConstructor();
    const credentials = grpc.credentials.createSsl(options.tls.ca, options.tls.key, options.tls.cert);
    this.client = new Service(this.address, credentials, {
      'grpc.max_receive_message_length': CRYPTO_GRPC_MAX_MESSAGE_BYTES,
      'grpc.max_send_message_length': CRYPTO_GRPC_MAX_MESSAGE_BYTES,
      'grpc.keepalive_time_ms': 30_000,
      // Reconnect soon after the crypto service is back. grpc-js's default backoff (1 s, ×1.6 per
      // failed attempt, up to 120 s) let the attempts drift apart while a killed crypto
      // restarted: attempts 5.2 and 9.3 s after the loss, so one back at 5.5 s was found
      // at 9.3 s (crash matrix: crypto recovery 6-11 s). A refused connect is cheap; every 1 s at most.
      'grpc.initial_reconnect_backoff_ms': 250,
      'grpc.max_reconnect_backoff_ms': 1_000,
      // channelz (grpc-js's introspection service) counts and traces every call; nothing reads it.
      'grpc.enable_channelz': 0,
      ...options.channelOptions,
    });
  }

  /** TLS material from PEM files. */
  static fromFiles(options: { address?: string; caFile: string; certFile: string; keyFile: string; deadlineMs?: number }): CryptoClient {
    return new CryptoClient({
      ...(options.address !== undefined ? { address: options.address } : {}),
      ...(options.deadlineMs !== undefined ? { deadlineMs: options.deadlineMs } : {}),
      tls: { ca: readFileSync(options.caFile), cert: readFileSync(options.certFile), key: readFileSync(options.keyFile) },
    });
  }

  /** The local development CA under `<KEYLEDGER_HOME>/tls` (ca.crt, server.crt, server.key). */
  static forDevCa(options: { address?: string; home?: string; deadlineMs?: number } = {}): CryptoClient {
    const dir = join(options.home ?? keyledgerHome(), 'tls');
    return CryptoClient.fromFiles({
      ...options,
      caFile: join(dir, 'ca.crt'),
      certFile: join(dir, 'server.crt'),
      keyFile: join(dir, 'server.key'),
    });
  }

  generateDataKey(request: GenerateDataKeyRequest, options?: CallOptions): Promise<GenerateDataKeyResponse> {
    return this.call('generateDataKey', request, options);
  }
  decryptDataKey(request: DecryptDataKeyRequest, options?: CallOptions): Promise<DecryptDataKeyResponse> {
    return this.call('decryptDataKey', request, options);
  }
  destroyDataKeys(request: DestroyDataKeysRequest, options?: CallOptions): Promise<DestroyDataKeysResponse> {
    return this.call('destroyDataKeys', request, options);
  }
  sealBackup(request: SealBackupRequest, options?: CallOptions): Promise<SealBackupResponse> {
    return this.call('sealBackup', request, options);
  }
  openBackup(request: OpenBackupRequest, options?: CallOptions): Promise<OpenBackupResponse> {
    return this.call('openBackup', request, options);
  }
  createKey(request: CreateKeyRequest, options?: CallOptions): Promise<KeyResponse> {
    return this.call('createKey', request, options);
  }
  importKey(request: ImportKeyRequest, options?: CallOptions): Promise<KeyResponse> {
    return this.call('importKey', request, options);
  }
  getKey(request: GetKeyRequest, options?: CallOptions): Promise<KeyResponse> {
    return this.call('getKey', request, options);
  }
  updateKey(request: UpdateKeyRequest, options?: CallOptions): Promise<KeyResponse> {
    return this.call('updateKey', request, options);
  }
  encrypt(request: KeyOperationRequest, options?: CallOptions): Promise<KeyOperationResponse> {
    return this.call('encrypt', request, options);
  }
  decrypt(request: KeyOperationRequest, options?: CallOptions): Promise<KeyOperationResponse> {
    return this.call('decrypt', request, options);
  }
  wrapKey(request: KeyOperationRequest, options?: CallOptions): Promise<KeyOperationResponse> {
    return this.call('wrapKey', request, options);
  }
  unwrapKey(request: KeyOperationRequest, options?: CallOptions): Promise<KeyOperationResponse> {
    return this.call('unwrapKey', request, options);
  }
  sign(request: KeyOperationRequest, options?: CallOptions): Promise<KeyOperationResponse> {
    return this.call('sign', request, options);
  }
  verify(request: KeyOperationRequest, options?: CallOptions): Promise<KeyOperationResponse> {
    return this.call('verify', request, options);
  }
  getRandomBytes(request: RandomBytesRequest, options?: CallOptions): Promise<RandomBytesResponse> {
    return this.call('getRandomBytes', request, options);
  }
  destroyKey(request: DestroyKeyRequest, options?: CallOptions): Promise<DestroyKeyResponse> {
    return this.call('destroyKey', request, options);
  }
  deleteKey(request: DeleteKeyRequest, options?: CallOptions): Promise<DeleteKeyResponse> {
    return this.call('deleteKey', request, options);
  }
  recoverKey(request: RecoverKeyRequest, options?: CallOptions): Promise<KeyResponse> {
    return this.call('recoverKey', request, options);
  }
  backupKey(request: BackupKeyRequest, options?: CallOptions): Promise<BackupKeyResponse> {
    return this.call('backupKey', request, options);
  }
  restoreKey(request: RestoreKeyRequest, options?: CallOptions): Promise<RestoreKeyResponse> {
    return this.call('restoreKey', request, options);
  }
  releaseKey(request: ReleaseKeyRequest, options?: CallOptions): Promise<ReleaseKeyResponse> {
    return this.call('releaseKey', request, options);
  }
  health(options?: CallOptions): Promise<HealthResponse> {
    return this.call('health', {}, options);
  }
  /**
   * Many key operations of one kind in one call (each item audited on its own). Per-item
   * failures come back in `results[i].errorCode`; the call itself rejects only when the
   * batch is refused as a whole (e.g. AuditUnavailable: then no item's result is returned).
   */
  keyOperationBatch(request: KeyOperationBatchRequest, options?: CallOptions): Promise<KeyOperationBatchResponse> {
    return this.call('keyOperationBatch', request, options);
  }

  /** Resolves once the channel is connected (or rejects at the deadline). */
  waitForReady(timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      this.client.waitForReady(Date.now() + timeoutMs, (err) => (err ? reject(new CryptoError(CryptoErrorCode.Unavailable, GrpcStatus.UNAVAILABLE, err.message)) : resolve()));
    });
  }

  close(): void {
    this.client.close();
  }

  private call<T>(method: string, request: object, options: CallOptions = {}): Promise<T> {
    const fn = (this.client as unknown as Record<string, UnaryMethod>)[method];
    if (typeof fn !== 'function') return Promise.reject(new Error(`crypto client: unknown RPC ${method}`));
    const deadline = Date.now() + (options.deadlineMs ?? this.deadlineMs);
    return new Promise<T>((resolve, reject) => {
      fn.call(this.client, request, new grpc.Metadata(), { deadline }, (err, res) => {
        if (err) reject(toCryptoError(err));
        else resolve(res as T);
      });
    });
  }
}
