// ESLint: typescript-eslint's strict rules plus the type-aware ones that guard this codebase's
// invariants (a forgotten await on an audit write, a thrown non-Error). Formatting is not
// linted. Run: npm run lint (whole tree) or npx eslint <paths>.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.keyledger/**', 'coverage/**', '**/*.mjs', '**/*.cjs', '**/*.js'] },
  ...tseslint.configs.strict,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/only-throw-error': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      // Nest modules are decorated classes with static factories.
      '@typescript-eslint/no-extraneous-class': ['error', { allowWithDecorator: true }],
      // Unused names are tsc's job (noUnusedLocals); `_`-prefixed parameters are deliberate.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    // In specs an unexpected undefined fails the spec anyway; `answers[0]!` is clearer than a guard.
    files: ['**/*.spec.ts', '**/*.fixture.ts', '**/*.fixtures.ts', 'test/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
