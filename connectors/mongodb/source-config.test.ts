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
