import { readFileSync } from 'node:fs';
import { renderSinkKinds, replaceGenerated, sameDocs } from './docs.js';
import { sinkKinds } from './registry.js';

describe('docs/sinks.md', () => {
  it('lists every sink kind and option as the registry declares them (regenerate: node dist/sinks/gen-docs.js)', () => {
    const committed = readFileSync('docs/sinks.md', 'utf8');
    expect(sameDocs(replaceGenerated(committed, renderSinkKinds(sinkKinds)), committed)).toBe(true);
    for (const kind of sinkKinds) for (const option of Object.keys(kind.options)) expect(committed).toMatch(new RegExp(`\\| \`${option}\` +\\|`));
  });

  it('documents exactly the options each schema accepts', () => {
    for (const kind of sinkKinds) {
      const shape = (kind.configSchema as unknown as { shape?: Record<string, unknown> }).shape ?? {};
      expect(Object.keys(kind.options).sort()).toEqual(
        Object.keys(shape)
          .filter((k) => k !== 'name' && k !== 'kind')
          .sort(),
      );
    }
  });
});
