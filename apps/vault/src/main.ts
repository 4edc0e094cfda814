import { HttpsJwksSource, TokenVerifier } from '#libs/auth';
import { EVENT_STORE, recordServiceStarted, type EventStore } from '#libs/eventstore';
import { runMain, startService } from '#libs/platform';
import { SecretsGrpcServer } from './adapters/grpc/secrets.grpc-server.js';
import { registerIssuingCaRoutes } from './adapters/http/admin-issuing-ca.routes.js';
import { registerAdminVaultRoutes } from './adapters/http/admin-vaults.routes.js';
import { ApiPipeline, preRoutingOptions } from './adapters/http/request-pipeline.js';
import { registerKeyOperationRoutes } from './adapters/http/key-operations.routes.js';
import { registerKeyReleaseRoutes } from './adapters/http/key-release.routes.js';
import { AttestationVerifier, parseTrustedAuthorities } from './adapters/attestation/attestation.verifier.js';
import { ReleaseTokenSigner } from './adapters/attestation/release-token.signer.js';
import { registerCertificateIssuerRoutes } from './adapters/http/certificate-issuers.routes.js';
import { registerCertificateRoutes } from './adapters/http/certificates.routes.js';
import { registerKeyRoutes } from './adapters/http/keys.routes.js';
import { activationGuard, registerPoolAdminRoutes } from './adapters/http/pool-admin.routes.js';
import { registerManagedHsmAdminRoutes } from './adapters/http/managed-hsm-admin.routes.js';
import { registerSecretRoutes } from './adapters/http/secrets.routes.js';
import { ContainerAuthenticator, TokenAuthenticator } from './adapters/http/token-auth.js';
import { challengeResource, kindOfOrigin, portOfUrl, vaultAudiences } from './adapters/http/vault-host.js';
import { bootstrapDefaultPool, bootstrapDefaultVault } from './application/vaults/bootstrap.js';
import { vaultGate } from './application/access/vault-gate.js';
import type { VaultRecord } from './adapters/persistence/vaults.repository.js';
import { AZURE_VAULT_LIMITS, loadShedderFor, parseThrottleLimits, RequestThrottle, type AuditedOperationGate } from '#libs/gate';
import { vaultSchema } from './config/vault.config.js';
import { VAULT_COMPONENTS, VaultModule, type VaultComponents } from './vault.module.js';

runMain('vault', async () => {
  let auth: ContainerAuthenticator | undefined;
  let gate: AuditedOperationGate<VaultRecord> | undefined;
  let registered: ApiPipeline | undefined;
  const service = await startService({
    name: 'vault',
    schema: vaultSchema,
    portOf: (c) => c.VAULT_PORT,
    module: (runtime) => VaultModule.register(runtime),
    // Requests Fastify or Node reject before routing (malformed URL or HTTP, no Host) are
    // answered and audited by the vault pipeline too.
    ...preRoutingOptions(() => registered),
    // Secrets and keys need their events and audit outbox (PostgreSQL) and the crypto service;
    // Kafka (the outbox relays), Elasticsearch and the identity-events consumer are projections.
    readiness: ['postgres', 'crypto'],
    health: (_runtime, app) => {
      const c = app.get<VaultComponents>(VAULT_COMPONENTS);
      return {
        identityEvents: async () => c.identityEvents.health(),
        crypto: () => c.keyring.health(),
      };
    },
    configure: async (fastify, runtime, app) => {
      const c = app.get<VaultComponents>(VAULT_COMPONENTS);
      const config = runtime.config;
      // `https://vault.<domain>`, and with the vault's port(s) other than 443: the Python SDKs
      // compare the challenge's resource with the vault's host AND port (README, "Python").
      const audiences = vaultAudiences(config.KEYLEDGER_DOMAIN, [config.VAULT_PORT, portOfUrl(config.VAULT_PUBLIC_URL)]);
      const issuerOf = (tid: string): string => `${config.IDENTITY_URL}/${tid}/v2.0`;
      // Managed HSM pools: `https://managedhsm.<domain>`, with the port(s) likewise.
      const poolAudiences = vaultAudiences(config.KEYLEDGER_DOMAIN, [config.VAULT_PORT, portOfUrl(config.VAULT_PUBLIC_HSM_URL)], 'managedHsm');
      const jwks = new HttpsJwksSource({ url: config.IDENTITY_JWKS_URL || `${config.IDENTITY_URL}/discovery/keys`, ca: runtime.tls.ca });
      const verifierFor = (accepted: string[]): TokenVerifier =>
        new TokenVerifier({ jwks, jwksCache: { minRefreshIntervalSeconds: 5, maxAgeSeconds: 600 }, issuer: issuerOf, audiences: accepted, tenants: (tid) => c.access.isKnownTenant(tid) });
      const authenticatorFor = (accepted: string[], emptyBody: boolean): TokenAuthenticator =>
        new TokenAuthenticator(
          verifierFor(accepted),
          (origin) => ({ authority: config.IDENTITY_URL, tenantId: c.access.challengeTenant(), resource: challengeResource(accepted, origin) }),
          config.VAULT_TOKEN_CACHE_MAX,
          Date.now,
          emptyBody,
        );
      auth = new ContainerAuthenticator(authenticatorFor(audiences, false), authenticatorFor(poolAudiences, true), (origin) => kindOfOrigin(origin, config.KEYLEDGER_DOMAIN) === 'managedHsm');
      const vaultLimits = parseThrottleLimits(config.VAULT_THROTTLE_LIMITS, AZURE_VAULT_LIMITS);
      const throttle = config.VAULT_THROTTLE === 'off' ? undefined : new RequestThrottle(vaultLimits, parseThrottleLimits(config.VAULT_THROTTLE_PRINCIPAL_LIMITS, vaultLimits));
      const shedder = loadShedderFor({ maxInFlight: config.VAULT_MAX_IN_FLIGHT, maxQueued: config.VAULT_MAX_QUEUED, maxQueueMs: config.VAULT_QUEUE_TIMEOUT_MS });
      gate = vaultGate(c, auth, runtime.logger.child({ component: 'gate' }), throttle, shedder);
      const pipeline = new ApiPipeline({
        logger: runtime.logger.child({ component: 'api' }),
        gate,
        auth,
        vaults: c.vaults,
        pools: c.pools,
        domain: config.KEYLEDGER_DOMAIN,
        defaultVault: config.VAULT_DEFAULT_VAULT,
        publicUrl: config.VAULT_PUBLIC_URL,
        publicHsmUrl: config.VAULT_PUBLIC_HSM_URL,
        ready: () => c.identityEvents.ready,
        issuerOf,
        bodyLimit: config.VAULT_MAX_BODY_BYTES,
        activation: activationGuard(c.securityDomain),
      });
      registerSecretRoutes(pipeline, { secrets: c.secrets, access: c.access, maxRestoreBytes: config.VAULT_MAX_RESTORE_BYTES });
      registerKeyRoutes(pipeline, { crypto: c.crypto, keys: c.keys, maxRestoreBytes: config.VAULT_MAX_RESTORE_BYTES });
      registerCertificateRoutes(pipeline, { certificates: c.certificates, maxRestoreBytes: config.VAULT_MAX_RESTORE_BYTES });
      registerKeyOperationRoutes(pipeline, { crypto: c.crypto, keys: c.keys, access: c.access, containerKind: (container) => container.kind });
      registerCertificateIssuerRoutes(pipeline, { issuers: c.issuers });
      registerIssuingCaRoutes(pipeline, { authority: c.issuingAuthority, isKnownTenant: (tid) => c.access.isKnownTenant(tid) });
      const releaseLog = runtime.logger.child({ component: 'key-release' });
      registerKeyReleaseRoutes(pipeline, {
        crypto: c.crypto,
        keys: c.keys,
        attestation: new AttestationVerifier({ trusted: parseTrustedAuthorities(config.VAULT_ATTESTATION_ISSUERS, config.IDENTITY_URL), ca: runtime.tls.ca }),
        signer: new ReleaseTokenSigner(runtime.tls.cert, runtime.tls.key),
        onRejected: (reason) => releaseLog.info({ reason }, 'key release refused'),
      });
      registerPoolAdminRoutes(pipeline, { backups: c.poolBackups, securityDomain: c.securityDomain });
      registerManagedHsmAdminRoutes(pipeline, { admin: c.poolAdministration, access: c.access });
      registerAdminVaultRoutes(pipeline, {
        vaults: c.vaults,
        defaultRetentionDays: config.VAULT_DEFAULT_RETENTION_DAYS,
        vaultUri: (name) => (config.VAULT_PUBLIC_URL ? config.VAULT_PUBLIC_URL.replaceAll('{vault}', name.toLowerCase()) : `https://${name.toLowerCase()}.vault.${config.KEYLEDGER_DOMAIN}:${config.VAULT_PORT}`),
        pools: c.pools,
        poolAdministration: c.poolAdministration,
        poolUri: (name) => (config.VAULT_PUBLIC_HSM_URL ? config.VAULT_PUBLIC_HSM_URL.replaceAll('{pool}', name.toLowerCase()) : `https://${name.toLowerCase()}.managedhsm.${config.KEYLEDGER_DOMAIN}:${config.VAULT_PORT}`),
      });
      await pipeline.register(fastify);
      registered = pipeline;
    },
  });
  const { app, runtime } = service;
  await recordServiceStarted(app.get<EventStore>(EVENT_STORE), 'vault', process.env.npm_package_version ?? '0.1.0');
  const c = app.get<VaultComponents>(VAULT_COMPONENTS);
  const config = runtime.config;
  void bootstrapDefaultVault(c, config, runtime.logger.child({ component: 'bootstrap' }));
  if (config.VAULT_DEFAULT_POOL) void bootstrapDefaultPool(c, config, runtime.logger.child({ component: 'bootstrap' }));

  if (config.VAULT_GRPC_ENABLED && gate) {
    const grpcServer = new SecretsGrpcServer({
      secrets: c.secrets,
      access: c.access,
      gate,
      logger: runtime.logger.child({ component: 'grpc' }),
      domain: config.KEYLEDGER_DOMAIN,
      defaultVault: config.VAULT_DEFAULT_VAULT,
      originOf: (vault) => (config.VAULT_PUBLIC_URL ? config.VAULT_PUBLIC_URL.replaceAll('{vault}', vault.toLowerCase()) : `https://${vault.toLowerCase()}.vault.${config.KEYLEDGER_DOMAIN}:${config.VAULT_PORT}`),
    });
    const port = await grpcServer.start(config.BIND_HOST, config.VAULT_GRPC_PORT, runtime.tls);
    runtime.logger.info({ address: `${config.BIND_HOST}:${port}`, service: 'keyledger.v1.Secrets' }, 'vault gRPC listening');
    process.once('SIGTERM', () => void grpcServer.stop());
  }
});
