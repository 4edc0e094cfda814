import { EVENT_STORE, recordServiceStarted, type EventStore } from '#libs/eventstore';
import { runMain, startService } from '#libs/platform';
import { auditResource, auditSchema } from './config/audit.config.js';
import { AUDIT_COMPONENTS, type AuditComponents } from './audit.components.js';
import { AuditModule } from './audit.module.js';
import { registerAuditRoutes } from './adapters/http/audit.routes.js';

// The instance name is also the service name: schema, consumer groups and record source.
// (Validated with the rest of the configuration by startService.)
const instance = process.env.AUDIT_INSTANCE || 'audit';

runMain(instance, async () => {
  const service = await startService({
    name: instance,
    schema: auditSchema,
    portOf: (c) => c.AUDIT_PORT,
    module: (runtime) => AuditModule.register(runtime),
    bodyLimit: 64 * 1024,
    health: (_runtime, app) => {
      const c = app.get<AuditComponents>(AUDIT_COMPONENTS);
      return {
        // Both report degraded while their Kafka consumer is disconnected and being restarted.
        ledger: async () => c.consumer.health(),
        rbac: async () => c.rbac.health(),
      };
    },
    configure: (fastify, runtime, app) => {
      const c = app.get<AuditComponents>(AUDIT_COMPONENTS);
      const config = runtime.config;
      registerAuditRoutes(fastify, {
        auth: c.auth,
        writer: c.writer,
        search: c.search,
        verify: c.verify,
        ledger: c.ledger,
        ledgerService: c.ledgerService,
        reindex: c.reindex,
        signer: c.signer,
        source: instance,
        identityUrl: config.IDENTITY_URL,
        resource: auditResource(config),
        challengeTenant: () => config.AUDIT_TENANT_ID || c.rbac.defaultTenant || 'organizations',
      });
    },
  });
  await recordServiceStarted(service.app.get<EventStore>(EVENT_STORE), instance, process.env.npm_package_version ?? '0.1.0');
});
