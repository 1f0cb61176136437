import { describe, expect, it } from '@jest/globals';
import { validateActions } from './actions.js';
import { InvalidActionsError } from './errors.js';

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidActionsError);
    return (error as Error).message;
  }
  throw new Error('expected validateActions to throw');
}

describe('validateActions', () => {
  it('passes valid actions through, keeping extra fields', () => {
    const actions = [
      { sink: 'cache', op: 'set', key: 'k', value: { a: 1 }, ttlSeconds: 30 },
      { sink: 'audit', op: 'append', value: [1, 2], partition: 3 },
    ];
    expect(validateActions(actions, ['cache', 'audit'])).toEqual(actions);
    expect(validateActions([])).toEqual([]);
  });

  it('names the index and field of a bad sink or op', () => {
    expect(
      messageOf(() =>
        validateActions([
          { sink: 'cache', op: 'set' },
          { sink: '', op: 'set' },
        ]),
      ),
    ).toBe('actions[1].sink: sink must be a non-empty string');
    expect(messageOf(() => validateActions([{ sink: 'cache', op: 5 }]))).toBe('actions[0].op: op must be a non-empty string');
    expect(messageOf(() => validateActions([{ op: 'set' }]))).toBe('actions[0].sink: sink must be a non-empty string');
  });

  it('names unknown sinks and lists the trigger sinks', () => {
    const actions = [
      { sink: 'cache', op: 'set' },
      { sink: 'cache', op: 'set' },
      { sink: 'cache', op: 'set' },
      { sink: 'cach', op: 'set' },
    ];
    expect(messageOf(() => validateActions(actions, ['cache', 'audit']))).toBe('actions[3].sink: unknown sink "cach"; this trigger has sinks: cache, audit');
  });

  it('checks the optional common fields', () => {
    expect(messageOf(() => validateActions([{ sink: 's', op: 'o', key: 1 }]))).toBe('actions[0].key: key must be a string');
    expect(messageOf(() => validateActions([{ sink: 's', op: 'o', ttlSeconds: -1 }]))).toBe('actions[0].ttlSeconds: ttlSeconds must be > 0');
    expect(messageOf(() => validateActions([{ sink: 's', op: 'o', ttlSeconds: '60' }]))).toBe('actions[0].ttlSeconds: ttlSeconds must be a number');
  });

  it('requires an array of plain objects', () => {
    expect(messageOf(() => validateActions({ sink: 's', op: 'o' }))).toBe('actions must be an array of actions, got object');
    expect(messageOf(() => validateActions([{ sink: 's', op: 'o' }, 'set k']))).toBe('actions[1]: must be an object like { sink, op, ... }, got string');
    expect(messageOf(() => validateActions([[{ sink: 's', op: 'o' }]]))).toBe('actions[0]: must be an object like { sink, op, ... }, got an array');
  });

  it('reports several problems, capped', () => {
    const bad = Array.from({ length: 8 }, () => ({ sink: 1, op: 'o' }));
    const message = messageOf(() => validateActions(bad));
    expect(message).toContain('actions[0].sink');
    expect(message).toContain('actions[4].sink');
    expect(message).toContain('and 3 more');
  });
});
