import { parseConfigText } from './config.js';
import { ValidationError } from '../core/errors.js';

const base = `kafka: { brokers: ["127.0.0.1:9092"] }
sources:
  - { name: chat, uri: "mongodb://h/", watch: { db: chat } }
`;
const view = (pipeline: string, extra = ''): string =>
  `${base}views:\n  - name: per-chat\n    source: { db: chat, coll: messages }\n    pipeline: ${pipeline}\n    target: { db: chat_views, coll: per_chat }\n${extra}`;

function errorOf(text: string): string {
  try {
    parseConfigText(text, {});
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as Error).message;
  }
  throw new Error('expected the config to be rejected');
}

describe('changeflow.yaml: views', () => {
  it('accepts a view over a watched collection', () => {
    const config = parseConfigText(view(`[{ $match: { deleted: { $ne: true } } }, { $group: { _id: "$chat", n: { $sum: 1 }, last: { $max: "$at" } } }]`), {});
    expect(config.views[0]).toMatchObject({
      name: 'per-chat',
      source: { db: 'chat', coll: 'messages' },
      target: { db: 'chat_views', coll: 'per_chat' },
      enabled: true,
    });
  });

  it('refuses an unsupported stage, naming it and its position', () => {
    expect(errorOf(view(`[{ $match: {} }, { $facet: { a: [] } }]`))).toMatch(
      /views\[0\]\.pipeline: pipeline\[1\]\.\$facet: stage \$facet is not supported in views/,
    );
    expect(errorOf(view(`[{ $project: { x: { $function: {} } } }]`))).toMatch(/pipeline\[0\]\.\$project\.x: operator \$function is not supported/);
  });

  it('refuses a view whose collection no source watches, and a long or repeated name', () => {
    const unwatched = `kafka: { brokers: ["127.0.0.1:9092"] }\nsources:\n  - { name: s, uri: "mongodb://h/", watch: { db: shop } }\nviews:\n  - { name: v, source: { db: chat, coll: messages }, pipeline: [], target: { db: t, coll: t } }\n`;
    expect(errorOf(unwatched)).toMatch(/views\[0\]\.source: no source watches chat\.messages; add a source with watch/);
    expect(errorOf(view('[]').replace('per-chat', 'x'.repeat(65)))).toMatch(/views\[0\]\.name/);
    const twice = view('[]') + `  - { name: per-chat, source: { db: chat, coll: messages }, pipeline: [], target: { db: t, coll: t } }\n`;
    expect(errorOf(twice)).toMatch(/views\[1\]\.name: "per-chat" is already used/);
  });

  it('refuses a $lookup from a collection no source watches', () => {
    const text = view(`[{ $lookup: { from: users, localField: sender, foreignField: _id, as: u } }]`).replace(
      'watch: { db: chat }',
      'watch: { db: chat, coll: messages }',
    );
    expect(errorOf(text)).toMatch(/views\[0\]\.source: \$lookup from users: no source watches chat\.users/);
    expect(parseConfigText(view(`[{ $lookup: { from: users, localField: sender, foreignField: _id, as: u } }]`), {}).views).toHaveLength(1);
  });

  it('refuses a source that sends updates without the full document', () => {
    const text = view('[]').replace('watch: { db: chat }', 'watch: { db: chat }, fullDocument: default');
    expect(errorOf(text)).toMatch(/fullDocument: default.*a view needs updateLookup/);
  });
});
