import { memorySinkKind, noopSinkKind } from '../testing/processors/memory-sink.js';
import { availableSinkKinds, checkTriggerSinks } from './trigger-sinks.js';

describe('checkTriggerSinks', () => {
  const kinds = availableSinkKinds([memorySinkKind, noopSinkKind]);

  it("validates each entry with its kind's schema", () => {
    const { resolved, problems } = checkTriggerSinks(
      [
        { name: 'a', kind: 'memory', bucket: 'x' },
        { name: 'b', kind: 'noop' },
      ],
      kinds,
      'triggers[0]',
    );
    expect(problems).toEqual([]);
    expect(resolved.map((r) => [r.name, r.kind.kind])).toEqual([
      ['a', 'memory'],
      ['b', 'noop'],
    ]);
  });

  it('reports every problem by key path', () => {
    const { problems } = checkTriggerSinks(
      [
        { name: 'a', kind: 'memory' },
        { name: 'b', kind: 'noop', extra: 1 },
        { name: 'c', kind: 'nope' },
      ],
      kinds,
      'triggers[3]',
    );
    expect(problems[0]).toMatch(/^triggers\[3\]\.sinks\[0\]\.bucket: /);
    expect(problems[1]).toMatch(/^triggers\[3\]\.sinks\[1\]\.extra: unknown key/);
    expect(problems[2]).toMatch(/^triggers\[3\]\.sinks\[2\]\.kind: unknown sink kind "nope"; known kinds: memory, noop/);
  });
});
