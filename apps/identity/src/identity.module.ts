import { join } from 'node:path';
import { Module, type DynamicModule } from '@nestjs/common';
import { TOPICS } from '#libs/contracts';
import { ensureTopics } from '#libs/messaging';
import { EventRegistry } from '#libs/kernel';
import { registerLifecycleEvents, SpineModule } from '#libs/eventstore';
import { REPO_ROOT, RuntimeModule, type ServiceRuntime } from '#libs/platform';
import { IdentityRepository } from './adapters/persistence/identity.repository.js';
import { SignInRepository } from './adapters/persistence/sign-in.repository.js';
import { IdentityService } from './application/identity.service.js';
import { SignInService } from './application/sign-in.service.js';
import { SigningKeysService } from './application/signing-keys.service.js';
import { TokenService } from './application/token.service.js';
import { registerIdentityEvents } from './domain/identity.events.js';

@Module({})
export class IdentityModule {
  static async register(runtime: ServiceRuntime): Promise<DynamicModule> {
    const registry = registerIdentityEvents(registerLifecycleEvents(new EventRegistry()));
    // Identity events feed every service's RBAC read model: the topic keeps them forever.
    // Created before the relay starts, so it is never auto-created with a finite retention.
    await (async () => ensureTopics(await runtime.admin(), [TOPICS.identityEvents], { partitions: 1, configEntries: [{ name: 'retention.ms', value: '-1' }] }))().catch((err: unknown) =>
      runtime.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'identity events topic not created yet (Kafka unreachable)'),
    );
    const spine = await SpineModule.forService(runtime, registry);
    await runtime.db.migrate(join(REPO_ROOT, 'apps', 'identity', 'migrations'));
    return {
      module: IdentityModule,
      imports: [RuntimeModule.forRoot(runtime), spine],
      providers: [IdentityRepository, SignInRepository, SigningKeysService, TokenService, IdentityService, SignInService],
    };
  }
}
