import { Module, type DynamicModule } from '@nestjs/common';
import { EventRegistry, registerLifecycleEvents, SpineModule } from '#libs/eventstore';
import { RuntimeModule, type ServiceRuntime } from '#libs/platform';

@Module({})
export class CryptoModule {
  static async register(runtime: ServiceRuntime): Promise<DynamicModule> {
    const registry = registerLifecycleEvents(new EventRegistry());
    return {
      module: CryptoModule,
      imports: [RuntimeModule.forRoot(runtime), await SpineModule.forService(runtime, registry)],
    };
  }
}
