import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { JwksKeyCache, TokenVerifier, type JwksSource } from '#libs/auth';
import { AUDIT_WRITER, EVENT_STORE, recordServiceStarted, type AuditWriter, type EventStore } from '#libs/eventstore';
import { runMain, startService } from '#libs/platform';
import { registerAdminRoutes } from './adapters/http/admin.routes.js';
import { registerAttestationRoutes } from './adapters/http/attestation.routes.js';
import { registerSignInRoutes } from './adapters/http/sign-in.routes.js';
import { registerFormParser, registerTokenRoutes } from './adapters/http/token.routes.js';
import { IdentityRepository } from './adapters/persistence/identity.repository.js';
import { FailedAuthThrottle } from './application/failed-auth.throttle.js';
import { IdentityService } from './application/identity.service.js';
import { SignInService } from './application/sign-in.service.js';
import { SigningKeysService } from './application/signing-keys.service.js';
import { TokenService } from './application/token.service.js';
import { identitySchema } from './config/identity.config.js';
import { IdentityModule } from './identity.module.js';

runMain('identity', async () => {
  const service = await startService({
    name: 'identity',
    schema: identitySchema,
    portOf: (c) => c.IDENTITY_PORT,
    module: (runtime) => IdentityModule.register(runtime),
    bodyLimit: 64 * 1024,
    configure: (fastify, runtime, app) => {
      registerFormParser(fastify);
      const keys = app.get(SigningKeysService);
      const tokens = app.get(TokenService);
      const signIn = app.get(SignInService);
      registerTokenRoutes(
        fastify,
        tokens,
        signIn,
        app.get<AuditWriter>(AUDIT_WRITER),
        runtime.config.IDENTITY_PUBLIC_URL,
        () => keys.jwks(),
        new FailedAuthThrottle({ perClient: runtime.config.IDENTITY_FAILED_AUTH_PER_CLIENT, perAddress: runtime.config.IDENTITY_FAILED_AUTH_PER_ADDRESS, windowMs: 60_000 }),
      );
      registerSignInRoutes(fastify, { signIn, tokens, audit: app.get<AuditWriter>(AUDIT_WRITER) });
      const ownKeys: JwksSource = { fetchJwks: () => keys.jwks() };
      const repo = app.get(IdentityRepository);
      const verifier = new TokenVerifier({
        jwks: new JwksKeyCache(ownKeys, { minRefreshIntervalSeconds: 1 }),
        issuer: (tid) => tokens.issuer(tid),
        audiences: [`https://identity.${runtime.config.KEYLEDGER_DOMAIN}`],
        tenants: () => true,
      });
      registerAdminRoutes(fastify, app.get(IdentityService), repo, verifier, app.get<AuditWriter>(AUDIT_WRITER), signIn);
      registerAttestationRoutes(fastify, {
        tokens,
        verifier,
        audit: app.get<AuditWriter>(AUDIT_WRITER),
        publicUrl: runtime.config.IDENTITY_PUBLIC_URL,
        signingKey: () => keys.signingKey(),
        jwks: () => keys.jwks(),
      });
    },
  });
  const { runtime, app } = service;
  const log = runtime.logger;
  await recordServiceStarted(app.get<EventStore>(EVENT_STORE), 'identity', process.env.npm_package_version ?? '0.1.0');

  const file = runtime.config.BOOTSTRAP_FILE || join(runtime.config.KEYLEDGER_HOME, 'bootstrap.json');
  if (!existsSync(file)) {
    const boot = await app.get(IdentityService).bootstrap({ ip: '127.0.0.1', requestUri: 'bootstrap', correlationId: 'bootstrap' });
    mkdirSync(dirname(file), { recursive: true });
    const body = { tenantId: boot.tenantId, clientId: boot.clientId, clientSecret: boot.clientSecret, authorityHost: runtime.config.IDENTITY_PUBLIC_URL };
    writeFileSync(file, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
    log.info({ file, tenantId: boot.tenantId, clientId: boot.clientId, created: boot.created }, 'administrator credentials written (the secret is only in that file)');
  } else {
    await app.get(IdentityService).ensureBootstrapRoles({ ip: '127.0.0.1', requestUri: 'bootstrap', correlationId: 'bootstrap' });
  }
});
