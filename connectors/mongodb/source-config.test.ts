import { parseOrThrow } from '../../core/schema-errors.js';
import { sourceConfigSchema } from './source-config.js';

describe('snapshotParallelism', () => {
  const parse = (snapshotParallelism: unknown) => parseOrThrow(sourceConfigSchema, { name: 's', uri: 'mongodb://h', snapshotParallelism }, 'source "s"');

  it('defaults to one cursor and takes any whole number from 1 to 32', () => {
    expect(sourceConfigSchema.parse({ name: 's', uri: 'mongodb://h' }).snapshotParallelism).toBe(1);
    expect(parse(2).snapshotParallelism).toBe(2);
    expect(parse(32).snapshotParallelism).toBe(32);
  });

  it('refuses anything else with a message naming the setting and what it takes', () => {
    expect(() => parse(0)).toThrow(/snapshotParallelism: at least 1 /);
    expect(() => parse(1.5)).toThrow(/snapshotParallelism: expected a whole number of snapshot cursors/);
    expect(() => parse(33)).toThrow(/snapshotParallelism: at most 32/);
    expect(() => parse('2')).toThrow(/snapshotParallelism: expected a number of snapshot cursors/);
  });
});

describe('pipeline', () => {
  const parse = (pipeline: unknown) => parseOrThrow(sourceConfigSchema, { name: 's', uri: 'mongodb://h', pipeline }, 'source "s"');

  it('takes $match stages and $changeStreamSplitLargeEvent as the last one', () => {
    const pipeline = [{ $match: { 'fullDocument.region': 'eu' } }, { $match: { operationType: 'insert' } }, { $changeStreamSplitLargeEvent: {} }];
    expect(parse(pipeline).pipeline).toEqual(pipeline);
    expect(parse(undefined).pipeline).toEqual([]);
  });

  it('refuses stages that could reshape the event the source resumes from, naming the stage and the fix', () => {
    expect(() => parse([{ $match: {} }, { $project: { _id: 0 } }])).toThrow(/pipeline\[1\]: "\$project" is not allowed: .*resume token.*Filter with \$match/);
    expect(() => parse([{ $replaceRoot: { newRoot: '$fullDocument' } }])).toThrow(/pipeline\[0\]: "\$replaceRoot" is not allowed/);
    expect(() => parse([{ $changeStreamSplitLargeEvent: {}, $match: {} }])).toThrow(/pipeline\[0\]: a stage is an object with exactly one key/);
    expect(() => parse([{ $changeStreamSplitLargeEvent: {} }, { $match: {} }])).toThrow(/pipeline\[0\]: \$changeStreamSplitLargeEvent must be the last stage/);
    expect(() => parse([{ $match: 'eu' }])).toThrow(/pipeline\[0\]: \$match takes a query document/);
  });
});
