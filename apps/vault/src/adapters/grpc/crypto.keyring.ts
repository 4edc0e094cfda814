import { CryptoClient, CryptoError, CryptoErrorCode } from '#libs/crypto-client';
import { DomainError } from '#libs/kernel';
import type { TlsMaterial } from '#libs/platform';
import { KeyringErrorCode, type CallContext, type GeneratedDataKey, type ObjectRef, type SecretKeyring } from '../../application/keyring/secret-keyring.js';

function mapError(err: unknown): Error {
  if (!(err instanceof CryptoError)) return err instanceof Error ? err : new Error(String(err));
  switch (err.code) {
    case CryptoErrorCode.Unavailable:
    case CryptoErrorCode.Sealed:
    case CryptoErrorCode.AuditUnavailable:
      return new DomainError(KeyringErrorCode.Unavailable, `crypto service unavailable (${err.code})`);
    case CryptoErrorCode.DataKeyNotFound:
    case CryptoErrorCode.KeyNotFound:
      return new DomainError(KeyringErrorCode.DataKeyNotFound, 'data key not found');
    case CryptoErrorCode.BadParameter:
    case CryptoErrorCode.CiphertextInvalid:
      return new DomainError(KeyringErrorCode.Rejected, `crypto service rejected the input (${err.code})`, { cryptoCode: err.code });
    default:
      return new DomainError(KeyringErrorCode.Failure, `crypto service failed (${err.code})`, { cryptoCode: err.code });
  }
}

async function mapped<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw mapError(err);
  }
}

const ctxOf = (c: CallContext) => ({ ...c });

/**
 * The production keyring: the crypto service over gRPC with mutual TLS
 * (`#libs/crypto-client`). The vault's own certificate is its client certificate.
 */
export class GrpcSecretKeyring implements SecretKeyring {
  private readonly client: CryptoClient;

  constructor(options: { address: string; tls: TlsMaterial; deadlineMs: number; serverName?: string }) {
    this.client = new CryptoClient({
      address: options.address,
      deadlineMs: options.deadlineMs,
      tls: { ca: options.tls.ca, cert: options.tls.cert, key: options.tls.key },
      ...(options.serverName ? { channelOptions: { 'grpc.ssl_target_name_override': options.serverName, 'grpc.default_authority': options.serverName } } : {}),
    });
  }

  generateDataKey(ref: ObjectRef, ctx: CallContext): Promise<GeneratedDataKey> {
    return mapped(async () => {
      const r = await this.client.generateDataKey({ ctx: ctxOf(ctx), ref });
      return { keyId: r.keyId, plaintext: r.plaintext };
    });
  }

  decryptDataKey(ref: ObjectRef, keyId: string, ctx: CallContext): Promise<Buffer> {
    return mapped(async () => (await this.client.decryptDataKey({ ctx: ctxOf(ctx), ref, keyId })).plaintext);
  }

  destroyDataKeys(ref: ObjectRef, keyIds: readonly string[], ctx: CallContext): Promise<number> {
    return mapped(async () => (await this.client.destroyDataKeys({ ctx: ctxOf(ctx), ref, keyIds })).destroyed);
  }

  sealBackup(purpose: string, payload: Buffer, ctx: CallContext): Promise<Buffer> {
    return mapped(async () => (await this.client.sealBackup({ ctx: ctxOf(ctx), purpose, payload })).blob);
  }

  openBackup(purpose: string, blob: Buffer, ctx: CallContext): Promise<Buffer> {
    return mapped(async () => (await this.client.openBackup({ ctx: ctxOf(ctx), purpose, blob })).payload);
  }

  async health(): Promise<string> {
    const h = await mapped(() => this.client.health({ deadlineMs: 2_000 }));
    if (h.sealed) throw new Error(`crypto service is sealed${h.reason ? `: ${h.reason}` : ''}`);
    return `crypto ${this.client.address} (${h.root || 'unsealed'})`;
  }

  close(): void {
    this.client.close();
  }
}
