import { join } from 'node:path';
import type { Options } from '@grpc/proto-loader';
import { REPO_ROOT } from '#libs/platform';

/** The crypto gRPC contract. */
export const CRYPTO_PROTO_PATH = join(REPO_ROOT, 'libs', 'contracts', 'proto', 'keyledger', 'crypto', 'v1', 'crypto.proto');
export const CRYPTO_PROTO_PACKAGE = 'keyledger.crypto.v1';
export const CRYPTO_SERVICE_NAME = 'Crypto';

/**
 * How both ends load the proto: camelCase field names, bytes as Buffer, int64 as number,
 * defaults filled in (absent strings '', absent messages null, absent repeated []).
 */
export const CRYPTO_PROTO_LOADER_OPTIONS = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  arrays: true,
  oneofs: true,
} satisfies Options;

/** Default address of the crypto gRPC endpoint (the dev certificate names localhost). */
export const DEFAULT_CRYPTO_GRPC_ADDRESS = 'localhost:9445';

/** Largest gRPC message either end accepts (the service's own payload limits are smaller). */
export const CRYPTO_GRPC_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
