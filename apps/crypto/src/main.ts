import { EVENT_STORE, recordServiceStarted, type EventStore } from '#libs/eventstore';
import { runMain, startService } from '#libs/platform';
import { cryptoSchema } from './config/crypto.config.js';
import { CryptoModule } from './crypto.module.js';

runMain('crypto', async () => {
  const service = await startService({
    name: 'crypto',
    schema: cryptoSchema,
    portOf: (c) => c.CRYPTO_PORT,
    module: (runtime) => CryptoModule.register(runtime),
  });
  await recordServiceStarted(service.app.get<EventStore>(EVENT_STORE), 'crypto', process.env.npm_package_version ?? '0.1.0');
});
