import { runMain } from '#libs/platform';
import { startCryptoService } from './crypto.app.js';

runMain('crypto', async () => {
  const service = await startCryptoService();
  // Operator seal: drops every cached key and KEK and closes the root until the next restart.
  process.on('SIGUSR2', () => service.root.seal('sealed by the operator (SIGUSR2); restart the service to unseal', false));
});
