// Tests run on the compiled output (dist/), as native ES modules: `npm test` builds first.
// One jest project per tier, chosen by file suffix.
const common = {
  rootDir: 'dist',
  testEnvironment: 'node',
  transform: {},
  moduleFileExtensions: ['js', 'json'],
};

export default {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/**/*.unit.spec.js'] },
    { ...common, displayName: 'int', testMatch: ['<rootDir>/**/*.int.spec.js'], testTimeout: 60_000, maxWorkers: 1 },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/**/*.e2e.spec.js'], testTimeout: 120_000, maxWorkers: 1 },
  ],
};
