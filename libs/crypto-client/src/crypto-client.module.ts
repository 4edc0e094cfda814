import { Global, Inject, Injectable, Module, type DynamicModule, type OnApplicationShutdown, type Provider } from '@nestjs/common';
import { CryptoClient, type CryptoClientOptions } from './crypto.client.js';

/** Injection token of the shared CryptoClient. */
export const CRYPTO_CLIENT = Symbol('keyledger.cryptoClient');

@Injectable()
class CryptoClientLifecycle implements OnApplicationShutdown {
  constructor(@Inject(CRYPTO_CLIENT) private readonly client: CryptoClient) {}
  onApplicationShutdown(): void {
    this.client.close();
  }
}

/**
 * A provider of one CryptoClient for a Nest app, e.g.
 * `cryptoClientProvider(() => CryptoClient.forDevCa({ address: config.CRYPTO_GRPC_ADDRESS }))`.
 */
export function cryptoClientProvider(create: () => CryptoClient | CryptoClientOptions): Provider {
  return {
    provide: CRYPTO_CLIENT,
    useFactory: (): CryptoClient => {
      const made = create();
      return made instanceof CryptoClient ? made : new CryptoClient(made);
    },
  };
}

/**
 * `imports: [CryptoClientModule.forRoot(() => CryptoClient.forDevCa())]`, then
 * `@Inject(CRYPTO_CLIENT) private readonly crypto: CryptoClient`. Closed on shutdown.
 */
@Global()
@Module({})
export class CryptoClientModule {
  static forRoot(create: () => CryptoClient | CryptoClientOptions): DynamicModule {
    return {
      module: CryptoClientModule,
      providers: [cryptoClientProvider(create), CryptoClientLifecycle],
      exports: [CRYPTO_CLIENT],
    };
  }
}
