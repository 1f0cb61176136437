import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { optionDocs, optionKeys, replaceGenerated, sameDocs } from '../core/component-spec.js';
import { sourceKinds } from '../connectors/registry.js';
import { triggerConfigSchema } from '../processors/trigger-config.js';
import { viewConfigSchema } from '../processors/views/view-config.js';
import { sinkKinds } from '../sinks/registry.js';
import { docsMarkers, generatedPages } from './docs.js';

describe('generated option references in docs/', () => {
  it.each(generatedPages.map((page) => [page.path, page] as const))('%s is up to date with the config schemas (regenerate: npm run docs)', (path, page) => {
    const committed = readFileSync(path, 'utf8');
    expect(committed).toContain(docsMarkers.start);
    expect(sameDocs(replaceGenerated(committed, page.render(), docsMarkers), committed)).toBe(true);
  });

  const components: [string, z.ZodType][] = [
    ...sourceKinds.map((k): [string, z.ZodType] => [`source kind ${k.kind}`, k.configSchema]),
    ...sinkKinds.map((k): [string, z.ZodType] => [`sink kind ${k.kind}`, k.configSchema]),
    ['triggers', triggerConfigSchema],
    ['views', viewConfigSchema],
  ];

  it.each(components)('%s documents every option it accepts', (_label, schema) => {
    const documented = new Set(optionDocs(schema).map((doc) => doc.name));
    // `kind` of a sink is the heading of its section; every other key needs a description.
    const undocumented = optionKeys(schema).filter((key) => !documented.has(key) && key !== 'kind');
    expect(undocumented).toEqual([]);
  });

  it('marks credentials secret', () => {
    const secrets = (schema: z.ZodType): string[] =>
      optionDocs(schema)
        .filter((doc) => doc.secret)
        .map((doc) => doc.name);
    expect(secrets(sourceKinds[0]!.configSchema)).toContain('uri');
    const sinkSecrets = Object.fromEntries(sinkKinds.map((k) => [k.kind, secrets(k.configSchema)]));
    expect(sinkSecrets).toMatchObject({ mongodb: ['uri'], redis: ['url'], http: ['headers', 'secret'] });
  });
});
