import { EVENT_STORE, recordServiceStarted, type EventStore } from '#libs/eventstore';
import { runMain, startService } from '#libs/platform';
import { identitySchema } from './config/identity.config.js';
import { IdentityModule } from './identity.module.js';

runMain('identity', async () => {
  const service = await startService({
    name: 'identity',
    schema: identitySchema,
    portOf: (c) => c.IDENTITY_PORT,
    module: (runtime) => IdentityModule.register(runtime),
  });
  await recordServiceStarted(service.app.get<EventStore>(EVENT_STORE), 'identity', process.env.npm_package_version ?? '0.1.0');
});
