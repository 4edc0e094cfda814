import { EVENT_STORE, recordServiceStarted, type EventStore } from '#libs/eventstore';
import { runMain, startService } from '#libs/platform';
import { auditSchema } from './config/audit.config.js';
import { AuditModule } from './audit.module.js';

runMain('audit', async () => {
  const service = await startService({
    name: 'audit',
    schema: auditSchema,
    portOf: (c) => c.AUDIT_PORT,
    module: (runtime) => AuditModule.register(runtime),
  });
  await recordServiceStarted(service.app.get<EventStore>(EVENT_STORE), 'audit', process.env.npm_package_version ?? '0.1.0');
});
