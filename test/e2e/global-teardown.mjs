import { stopServices } from '../../deploy/local/lib/services.mjs';

export default async function globalTeardown() {
  const children = globalThis.__KEYLEDGER_SERVICES__;
  if (!children) return;
  globalThis.__KEYLEDGER_STOPPING__ = true;
  await stopServices(children);
}
