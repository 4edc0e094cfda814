// Tests run on the compiled output (dist/), as native ES modules: `npm test` builds first.
// One jest project per tier, chosen by file suffix.
import { join, resolve } from 'node:path';

const home = resolve(process.env.KEYLEDGER_HOME ?? join(import.meta.dirname, '.keyledger'));
// Native libraries (SoftHSM2) read the real process environment, which test files cannot
// change: point them at the local stack's token here, before any worker starts.
process.env.SOFTHSM2_CONF ??= join(home, 'softhsm', 'softhsm2.conf');

const common = {
  rootDir: 'dist',
  testEnvironment: 'node',
  transform: {},
  moduleFileExtensions: ['js', 'json'],
};

export default {
  // Per-project testTimeout is ignored by jest 30: one generous default here; fast tests stay fast.
  testTimeout: 120_000,
  testSequencer: join(import.meta.dirname, 'test', 'sequencer.cjs'),
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/**/*.unit.spec.js'] },
    { ...common, displayName: 'int', testMatch: ['<rootDir>/**/*.int.spec.js'] },
    {
      ...common,
      displayName: 'e2e',
      testMatch: ['<rootDir>/**/*.e2e.spec.js'],
      globalSetup: '<rootDir>/../test/e2e/global-setup.mjs',
      globalTeardown: '<rootDir>/../test/e2e/global-teardown.mjs',
    },
  ],
};
