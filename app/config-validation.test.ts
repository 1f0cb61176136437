import { parseConfigText } from './config.js';
import { ValidationError } from '../core/errors.js';

const minimal = `kafka: { brokers: ["127.0.0.1:9092"] }\n`;
const trigger = (extra: string): string =>
  `${minimal}triggers:\n  - name: t\n    source: { db: shop, coll: orders }\n    sinks: [{ name: a, kind: audit }]\n${extra}`;

function errorOf(text: string): string {
  try {
    parseConfigText(text, {});
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as Error).message;
  }
  throw new Error('expected the config to be rejected');
}

describe('changeflow.yaml: triggers refused at load exactly as running them would', () => {
  it('refuses $where in match, naming the operator and the path', () => {
    const message = errorOf(trigger(`    match: { "fullDocument.x": { $where: "process.exit(1)" } }\n`));
    expect(message).toMatch(/triggers\[0\]\.match\.fullDocument\.x: operator \$where is not allowed \(filters are data, never code; allowed: \$eq /);
  });

  it('refuses an unknown operator in match', () => {
    expect(errorOf(trigger(`    match: { a: { $foo: 1 } }\n`))).toMatch(/triggers\[0\]\.match\.a: operator \$foo is not allowed \(unknown operator/);
  });

  it('accepts allowed operators and Extended JSON values', () => {
    const config = parseConfigText(
      trigger(
        `    operationTypes: [insert, update, drop]\n    match: { "fullDocument.qty": { $gt: 5 }, "fullDocument.ref": { $oid: "000000000000000000000007" }, $or: [{ op: insert }, { "fullDocument.tags": { $all: [a] } }] }\n`,
      ),
      {},
    );
    expect(config.triggers[0]?.operationTypes).toEqual(['insert', 'update', 'drop']);
  });

  it('refuses an unknown operation type, naming the allowed ones', () => {
    expect(errorOf(trigger(`    operationTypes: [insert, explode]\n`))).toMatch(
      /triggers\[0\]\.operationTypes\[1\]: "explode" is not an operation type; allowed: insert, update, replace, delete, drop, rename, dropDatabase, invalidate/,
    );
  });
});

describe('changeflow.yaml: auth.tokens', () => {
  const tokens = (entries: string): string => `${minimal}auth:\n  tokens:\n${entries}`;
  const SECRET = 'shared-secret-token-0123456789';

  it('refuses the same token given to two users, naming both userIds and never the token', () => {
    const message = errorOf(
      tokens(
        `    - { token: ${SECRET}, userId: alice }\n    - { token: other-token-0123456789, userId: bob }\n    - { token: ${SECRET}, userId: mallory, admin: true }\n`,
      ),
    );
    expect(message).toMatch(/auth\.tokens\[2\]\.token: the same token as auth\.tokens\[0\] \(userIds "alice" and "mallory"\)/);
    expect(message).not.toContain(SECRET);
  });

  it('refuses the same token given twice to one user', () => {
    expect(errorOf(tokens(`    - { token: ${SECRET}, userId: alice }\n    - { token: ${SECRET}, userId: alice }\n`))).toMatch(
      /auth\.tokens\[1\]\.token: the same token as auth\.tokens\[0\] \(userIds "alice" and "alice"\)/,
    );
  });

  it('accepts distinct tokens', () => {
    expect(
      parseConfigText(tokens(`    - { token: ${SECRET}, userId: alice }\n    - { token: other-token-0123456789, userId: alice }\n`), {}).auth.tokens,
    ).toHaveLength(2);
  });
});

describe('changeflow.yaml: sources', () => {
  const source = (extra: string): string => `${minimal}sources:\n  - name: s\n    uri: mongodb://127.0.0.1:27017\n    watch: { db: shop }\n${extra}`;

  it('refuses maxBatchSize below batchSize, naming the field', () => {
    expect(errorOf(source(`    batchSize: 1000\n    maxBatchSize: 200\n`))).toMatch(/sources\[0\]\.maxBatchSize: must be at least batchSize/);
  });

  it('accepts maxBatchSize equal to batchSize (reads keep one size)', () => {
    expect(parseConfigText(source(`    batchSize: 1000\n    maxBatchSize: 1000\n`), {}).sources[0]).toMatchObject({ batchSize: 1000, maxBatchSize: 1000 });
  });
});
