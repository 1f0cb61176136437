import { describe, expect, it } from '@jest/globals';
import { ESLint } from 'eslint';

/** The lint rules of eslint.config.js that keep imports running one way, checked on snippets. */
const eslint = new ESLint({ cwd: process.cwd() });

async function importErrors(filePath: string, specifier: string): Promise<string[]> {
  const [result] = await eslint.lintText(`import * as m from '${specifier}';\nexport const used = m;\n`, { filePath });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('import direction (npm run lint)', () => {
  it.each([
    ['core/x.ts', '../schemas/ejson.js'],
    ['core/kafka/x.ts', '../../processors/manager.js'],
    ['schemas/x.ts', '../sinks/registry.js'],
    ['connectors/mongodb/x.ts', '../../sinks/values.js'],
    ['sinks/x.ts', '../connectors/mongodb/mongo-source.js'],
    ['processors/x.ts', '../control/store.js'],
    ['control/x.ts', '../app/components.js'],
    ['app/x.ts', '../cli/main.js'],
  ])('refuses %s importing %s (upward)', async (file, specifier) => {
    const errors = await importErrors(file, specifier);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/sits below .*move the shared piece down/);
  });

  it.each([
    ['core/x.ts', '../testing/processors/context.js'],
    ['cli/x.ts', '../testing/mongodb/child-service.js'],
    ['sdk/x.ts', '../testing/schema-registry.js'],
  ])('refuses %s importing test helpers (%s)', async (file, specifier) => {
    expect(await importErrors(file, specifier)).toEqual([expect.stringMatching(/testing\/ holds test helpers/)]);
  });

  it('refuses the bson package anywhere in production code', async () => {
    expect(await importErrors('sinks/x.ts', 'bson')).toEqual([expect.stringMatching(/schemas\/bson\.ts/)]);
  });

  it.each([
    ['cli/x.ts', '../control/server.js'],
    ['processors/x.ts', '../sinks/registry.js'],
    ['sinks/x.ts', '../core/errors.js'],
    ['testing/x.ts', '../processors/manager.js'],
    ['bench/x.ts', '../testing/processors/context.js'],
    ['core/x.test.ts', '../testing/schemas/random-bson.js'],
  ])('allows %s importing %s', async (file, specifier) => {
    expect(await importErrors(file, specifier)).toEqual([]);
  });
});
