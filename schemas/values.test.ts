import { describe, expect, it } from '@jest/globals';
import { Long } from './bson.js';
import { isRetriable } from '../core/errors.js';
import { InvalidValueError, tooDeepAt } from './value-errors.js';
import { toBson, toBsonDocument } from './values.js';

function nested(depth: number): Record<string, unknown> {
  let d: Record<string, unknown> = { x: 1 };
  for (let i = 0; i < depth; i++) d = { d };
  return d;
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('toBson refuses values no sink can write, naming the field', () => {
  it('decodes valid canonical Extended JSON', () => {
    expect(toBson<{ n: Long }>({ n: { $numberLong: '9007199254740993' } }).n.toString()).toBe('9007199254740993');
  });

  it('an invalid $numberLong is a non-retriable InvalidValueError at its path', () => {
    const error = thrown(() => toBsonDocument({ _id: 1, order: { lines: [{ n: 1 }, { n: { $numberLong: 'abc' } }] } }, 'action.doc'));
    expect(error).toBeInstanceOf(InvalidValueError);
    expect(isRetriable(error)).toBe(false);
    expect((error as Error).message).toBe('action.doc.order.lines[1].n: invalid Extended JSON: $numberLong string "abc" is in an invalid format');
  });

  it('a document nested 5,000 deep is refused as too deep, without overflowing the stack', () => {
    const error = thrown(() => toBsonDocument({ _id: 1, d: nested(5000) }, 'fullDocument'));
    expect(error).toBeInstanceOf(InvalidValueError);
    expect((error as Error).message).toMatch(/^fullDocument\.d\.d\.d.*…[.d]*: the value nests more than 200 levels deep/);
  });

  it('measures depth iteratively', () => {
    expect(tooDeepAt(nested(100_000), 'v')).toMatch(/^v\.d\.d/);
    expect(tooDeepAt(nested(150), 'v')).toBeUndefined();
    expect(tooDeepAt([[[1]]], 'v', 2)).toBe('v[0][0]');
  });
});
