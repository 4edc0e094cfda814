import type { GrpcOptions } from '@nestjs/microservices';
import { EVENT_STORE, recordServiceStarted, type EventStore } from '#libs/eventstore';
import { startService, type RunningService } from '#libs/platform';
import { cryptoGrpcOptions } from './adapters/grpc/grpc.options.js';
import type { RootKeyService } from './application/root-key.service.js';
import { cryptoSchema } from './config/crypto.config.js';
import { CRYPTO_COMPONENTS, CryptoModule, type CryptoComponents, type CryptoModuleOptions } from './crypto.module.js';

export type RunningCrypto = RunningService<typeof cryptoSchema> & {
  /** host:port of the gRPC endpoint. */
  readonly grpcAddress: string;
  readonly root: RootKeyService;
  readonly components: CryptoComponents;
};

export interface StartCryptoOptions extends CryptoModuleOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** Service name = PostgreSQL schema (tests use a throwaway one); default `crypto`. */
  readonly name?: string;
}

/**
 * Boots the crypto service: HTTPS health/metrics on CRYPTO_PORT (with a `root` component
 * that is down, and says why, while sealed) and the gRPC API on CRYPTO_GRPC_PORT with mutual TLS.
 */
export async function startCryptoService(options: StartCryptoOptions = {}): Promise<RunningCrypto> {
  const name = options.name ?? 'crypto';
  const service = await startService(
    {
      name,
      schema: cryptoSchema,
      portOf: (c) => c.CRYPTO_PORT,
      module: (runtime) => CryptoModule.register(runtime, options),
      bodyLimit: 16 * 1024,
      // Sealed, it refuses every operation: out of rotation until the root is available.
      readiness: ['postgres', 'root'],
      health: (_runtime, app) => ({
        root: async () => {
          const s = app.get<CryptoComponents>(CRYPTO_COMPONENTS).root.status();
          if (s.sealed) throw new Error(`sealed: ${s.reason}`);
          return `unsealed (root ${s.root})`;
        },
      }),
    },
    options.env ?? process.env,
  );
  const { app, runtime } = service;
  const c = runtime.config;
  app.connectMicroservice<GrpcOptions>(cryptoGrpcOptions(c.BIND_HOST, c.CRYPTO_GRPC_PORT, runtime.tls, c.CRYPTO_GRPC_REQUIRE_CLIENT_CERT));
  await app.startAllMicroservices();
  runtime.logger.info({ address: `${c.BIND_HOST}:${c.CRYPTO_GRPC_PORT}`, mtls: c.CRYPTO_GRPC_REQUIRE_CLIENT_CERT }, 'crypto gRPC listening');
  await recordServiceStarted(app.get<EventStore>(EVENT_STORE), name, process.env.npm_package_version ?? '0.1.0');
  const components = app.get<CryptoComponents>(CRYPTO_COMPONENTS);
  return { ...service, grpcAddress: `${c.BIND_HOST === '0.0.0.0' || c.BIND_HOST === '127.0.0.1' ? 'localhost' : c.BIND_HOST}:${c.CRYPTO_GRPC_PORT}`, root: components.root, components };
}
