// The project's linter: neostandard (JavaScript Standard Style for ESLint 9, with TypeScript).
// Run it with `npm run lint` from the repository root.
import globals from 'globals'
import neostandard from 'neostandard'

export default [
  ...neostandard({
    ts: true,
    ignores: ['**/node_modules/**', '**/dist/**', 'docs/api/**', 'test-results/**', 'bench/results/**', 'tools/lint/**', '.relay/**', '**/*.d.ts']
  }),
  {
    rules: {
      // `void promise` marks a promise deliberately not awaited (its errors are handled inside)
      'no-void': ['error', { allowAsStatement: true }]
    }
  },
  {
    files: ['**/*.ts'],
    rules: {
      // standard's settings, and `_` for a value deliberately unused (`for (const _ of …)`)
      '@typescript-eslint/no-unused-vars': ['error', { args: 'none', caughtErrors: 'none', ignoreRestSiblings: true, vars: 'all', varsIgnorePattern: '^_' }]
    }
  },
  {
    // the browser quick start is plain JavaScript for a page
    files: ['examples/browser/**'],
    languageOptions: { globals: globals.browser }
  },
  {
    // Playwright fixtures take their dependencies by destructuring, none at times: `async ({}, use)`
    files: ['e2e/**'],
    rules: { 'no-empty-pattern': 'off' }
  }
]
