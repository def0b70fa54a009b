// ESLint flat config for the whole workspace (`pnpm lint` runs `eslint .` from the root). Formatting is prettier's job.
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import importPlugin from 'eslint-plugin-import';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const ROOT = fileURLToPath(new URL('.', import.meta.url));
const FEATURES = 'packages/dashboard/src/features';

/** One zone per feature: files in features/<a>/ may import from no other features/<b>/. Read from the directory, so a new feature is covered. */
const featureZones = readdirSync(new URL(`${FEATURES}/`, import.meta.url), { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map(({ name }) => ({
    target: `${FEATURES}/${name}`,
    from: FEATURES,
    except: [`./${name}`],
    message: `Features do not import each other: move what '${name}' needs from another feature to src/components or src/lib.`,
  }));

export default defineConfig(
  {
    ignores: [
      '**/dist/**',
      '**/coverage/**',
      '**/test-results/**',
      '**/playwright-report/**',
      '**/bench-results/**',
      'e2e/artifacts/**',
      '**/data/**',
      '**/.tether-*/**',
    ],
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2023, sourceType: 'module', globals: globals.node },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // `let { store, opened } = await open()` with only `store` reassigned later is idiomatic; flag only all-const destructurings.
      'prefer-const': ['error', { destructuring: 'all' }],
      // Header validation (packages/machine/src/config.ts) matches control characters on purpose (RFC 9110 CTL).
      'no-control-regex': 'off',
      // `_`-prefixed bindings are deliberately unused (positional parameters, destructured-away fields).
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          ignoreRestSiblings: true,
        },
      ],
    },
  },
  {
    files: ['packages/dashboard/src/**/*.{ts,tsx}'],
    languageOptions: { globals: globals.browser },
  },
  {
    files: ['packages/dashboard/**/*.{ts,tsx}'],
    ...reactHooks.configs.flat.recommended,
  },
  {
    files: [`${FEATURES}/**/*.{ts,tsx}`],
    plugins: { import: importPlugin },
    settings: { 'import/resolver': { node: { extensions: ['.ts', '.tsx', '.js'] } } },
    rules: { 'import/no-restricted-paths': ['error', { basePath: ROOT, zones: featureZones }] },
  },
);
