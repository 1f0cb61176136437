import { z } from 'zod';
import { optionDocs, renderOptionTable, replaceGenerated, generatedMarkers } from './component-spec.js';

describe('optionDocs', () => {
  const schema = z.strictObject({
    uri: z.string().meta({ description: 'where', example: 'mongodb://x', secret: true }),
    size: z.number().default(5).meta({ description: 'how many' }),
    hidden: z.string().optional(),
    nested: z
      .strictObject({ a: z.number().default(1).meta({ description: 'inner a' }) })
      .default({ a: 1 })
      .meta({ description: 'a group' }),
  });

  it('reads descriptions, defaults, examples, secrets and required keys from the schema, nested fields dotted', () => {
    expect(optionDocs(schema)).toEqual([
      { name: 'uri', required: true, description: 'where', example: 'mongodb://x', secret: true },
      { name: 'size', required: false, description: 'how many', default: 5, secret: false },
      { name: 'nested', required: false, description: 'a group', default: { a: 1 }, secret: false },
      { name: 'nested.a', required: false, description: 'inner a', default: 1, secret: false },
    ]);
  });

  it('renders a table that says a secret is a credential and escapes pipes', () => {
    const rows = renderOptionTable(z.object({ p: z.string().meta({ description: 'a|b', secret: true }) }));
    expect(rows[2]).toBe('| `p` | yes |  |  | a\\|b **Secret**: treat it as a credential. |');
  });

  it('replaces only the part between the markers, and appends when they are missing', () => {
    const markers = generatedMarkers('gen');
    const doc = `intro\n${markers.start}\nold\n${markers.end}\noutro\n`;
    expect(replaceGenerated(doc, 'new', markers)).toBe(`intro\n${markers.start}\n\nnew\n\n${markers.end}\noutro\n`);
    expect(replaceGenerated('intro\n', 'new', markers)).toBe(`intro\n\n${markers.start}\n\nnew\n\n${markers.end}\n`);
  });
});
