import { EVENT_STORE, recordServiceStarted, type EventStore } from '#libs/eventstore';
import { runMain, startService } from '#libs/platform';
import { vaultSchema } from './config/vault.config.js';
import { VaultModule } from './vault.module.js';

runMain('vault', async () => {
  const service = await startService({
    name: 'vault',
    schema: vaultSchema,
    portOf: (c) => c.VAULT_PORT,
    module: (runtime) => VaultModule.register(runtime),
  });
  await recordServiceStarted(service.app.get<EventStore>(EVENT_STORE), 'vault', process.env.npm_package_version ?? '0.1.0');
});
