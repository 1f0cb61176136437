import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * Imports run one way: core ← schemas ← sinks / connectors ← processors ← control ← app ← cli.
 * `app/` is the composition root: the only place that knows every component. Each layer lists
 * the top-level folders its production code must not import from. Test helpers (`testing/`) may
 * import anything and nothing in production may import them: they are left out of the package.
 */
const layers = {
  core: ['schemas', 'sinks', 'connectors', 'processors', 'control', 'app', 'cli'],
  schemas: ['sinks', 'connectors', 'processors', 'control', 'app', 'cli'],
  sinks: ['connectors', 'processors', 'control', 'app', 'cli'],
  connectors: ['sinks', 'processors', 'control', 'app', 'cli'],
  processors: ['control', 'app', 'cli'],
  control: ['app', 'cli'],
  app: ['cli'],
  cli: [],
  sdk: [],
};

const noTestHelpers = {
  regex: '^(\\.\\./)+testing/',
  message: 'testing/ holds test helpers, which are not published: production code must not import them.',
};

const oneBsonBuild = { name: 'bson', message: "Import BSON values and EJSON from schemas/bson.ts: the driver's build, one set of classes." };

function layerRule(layer, forbidden) {
  return {
    files: [`${layer}/**/*.ts`],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [oneBsonBuild],
          patterns: [
            ...(forbidden.length === 0
              ? []
              : [
                  {
                    regex: `^(\\.\\./)+(${forbidden.join('|')})/`,
                    message: `${layer}/ sits below ${forbidden.join(', ')}: move the shared piece down, or pass it in from the caller.`,
                  },
                ]),
            noTestHelpers,
          ],
        },
      ],
    },
  };
}

export default tseslint.config(
  // examples/wasm/assembly is AssemblyScript (its own compiler and types), not this project's TypeScript.
  { ignores: ['dist/', 'node_modules/', 'scratch/', 'coverage/', 'examples/wasm/assembly/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-restricted-imports': ['error', { paths: [oneBsonBuild] }],
    },
  },
  ...Object.entries(layers).map(([layer, forbidden]) => layerRule(layer, forbidden)),
  { files: ['**/*.js', '**/*.mjs'], languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } } },
);
