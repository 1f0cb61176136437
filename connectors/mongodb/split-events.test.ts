import { describe, expect, it } from '@jest/globals';
import { Int32 } from '../../schemas/bson.js';
import { SplitEventJoiner } from './split-events.js';

const part = (n: number, of: number, fields: Record<string, unknown>): Record<string, unknown> => ({
  _id: { _data: `t${n}` },
  splitEvent: { fragment: new Int32(n), of: new Int32(of) },
  ...fields,
});

describe('SplitEventJoiner', () => {
  it('returns the whole event at its last fragment, with that fragment’s resume token and no splitEvent', () => {
    const joiner = new SplitEventJoiner();
    expect(joiner.add(part(1, 3, { operationType: 'update', fullDocument: { _id: 0 } }))).toBeNull();
    expect(joiner.pending).toBe(true);
    expect(joiner.add(part(2, 3, { fullDocumentBeforeChange: { _id: 0 } }))).toBeNull();
    const whole = joiner.add(part(3, 3, { updateDescription: { updatedFields: {}, removedFields: [] } }));
    expect(whole).toEqual({
      _id: { _data: 't3' },
      operationType: 'update',
      fullDocument: { _id: 0 },
      fullDocumentBeforeChange: { _id: 0 },
      updateDescription: { updatedFields: {}, removedFields: [] },
    });
    expect(joiner.pending).toBe(false);
  });

  it('starts over at a first fragment and refuses fragments out of order', () => {
    const joiner = new SplitEventJoiner();
    joiner.add(part(1, 2, { operationType: 'update' }));
    expect(joiner.add(part(1, 2, { operationType: 'insert' }))).toBeNull();
    expect(joiner.add(part(2, 2, { fullDocument: {} }))).toEqual({ _id: { _data: 't2' }, operationType: 'insert', fullDocument: {} });
    expect(() => joiner.add(part(2, 2, {}))).toThrow(/fragment 2 of 2 after 0/);
    expect(() => joiner.add({ _id: {}, splitEvent: { fragment: 3, of: 2 } })).toThrow(/expected/);
  });
});
