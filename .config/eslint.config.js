// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Packages that must stay pure: no I/O, no clock, no infrastructure clients. */
const IMPURE = ['node:*', 'fs', 'path', 'net', 'child_process', 'nats', '@nats-io/*', 'pg', 'postgres', 'drizzle-orm', 'drizzle-orm/*', 'hono', 'hono/*', '@electric-sql/*', '@eventstore/*', 'pino'];

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', '**/.turbo/**', 'bench/results/**', '**/test-output/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', URL: 'readonly', Buffer: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly', AbortController: 'readonly', fetch: 'readonly', structuredClone: 'readonly', performance: 'readonly', queueMicrotask: 'readonly', setImmediate: 'readonly' } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' }],
      'no-restricted-imports': ['error', { patterns: [{ group: ['@drc/*/src/*', '**/services/*/src/**'], message: 'import a package through its public entry, never its internals' }] }],
    },
  },
  {
    // Production code never imports the test kit or the test runner: tests and fixtures
    // (`*.test.ts`, `*.fixture.ts`, `test/`, a package's `testing/` subpath) may. The
    // import-graph unit test (services/test-kit/src/import-graph.unit.test.ts) checks the same line.
    files: ['services/*/src/**/*.ts'],
    ignores: ['services/test-kit/**', '**/*.test.ts', '**/*.fixture.ts', '**/test/**', '**/testing/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['@drc/*/src/*', '**/services/*/src/**'], message: 'import a package through its public entry, never its internals' }, { group: ['@drc/test-kit', '@drc/test-kit/*', 'vitest', 'vitest/*', '@drc/e2e', '@drc/e2e/*'], message: 'production code imports no test code: move the importer to a *.fixture.ts or *.test.ts file' }] }],
    },
  },
  {
    files: ['contracts/src/**/*.ts', 'statecharts/src/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: IMPURE, message: 'contracts/ and statecharts/ are pure: no I/O or infrastructure imports' }] }],
      'no-restricted-globals': ['error', { name: 'Date', message: 'pure code takes time as an input' }, { name: 'setTimeout', message: 'timers are effects for the runtime' }, { name: 'setInterval', message: 'timers are effects for the runtime' }, { name: 'fetch', message: 'pure code does no I/O' }, { name: 'process', message: 'pure code reads no environment' }],
      'no-restricted-properties': ['error', { object: 'Math', property: 'random', message: 'pure code has no randomness' }, { object: 'Date', property: 'now', message: 'pure code takes time as an input' }],
    },
  },
);
