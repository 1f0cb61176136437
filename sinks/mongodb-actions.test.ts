import { describe, expect, it } from '@jest/globals';
import { InvalidValueError } from '../schemas/value-errors.js';
import { actionToWrite, parseMongoAction } from './mongodb-actions.js';

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('mongodb actions', () => {
  it('a mongodb action with a bad value fails to convert with the action path', () => {
    const action = parseMongoAction({ sink: 's', op: 'update', filter: { _id: 1 }, update: { $set: { ref: { $oid: 'not-an-object-id' } } } });
    expect(typeof action).not.toBe('string');
    const error = thrown(() => actionToWrite(action as Exclude<typeof action, string>));
    expect(error).toBeInstanceOf(InvalidValueError);
    expect((error as Error).message).toMatch(/^action\.update\.\$set\.ref: invalid Extended JSON/);
  });
});
