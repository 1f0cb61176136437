import { describe, expect, it } from '@jest/globals';
import { BjsonValueError, decodeBjson, encodeBjson } from './bjson.js';
import { binaryFormatVersion } from './engine.js';

const VERSION = binaryFormatVersion ?? 5;

describe('binary codec', () => {
  it('passed the start-up probe against this QuickJS build', () => {
    expect(binaryFormatVersion).toBe(5);
  });

  it('round-trips JSON values with JSON semantics', () => {
    const value = {
      s: 'plain',
      long: 'é'.repeat(100),
      wide: 'snow ☃ and 😀',
      ints: [0, 1, -1, 2147483647, -2147483648, 2147483648, 1.5, -0, NaN, Infinity],
      nested: { '10': 'int key', __proto__x: 1, empty: {}, list: [] },
      skip: undefined,
      fn: () => 1,
      holes: [undefined, () => 1],
      date: new Date(0),
      boxed: new String('x'),
    };
    const expected: unknown = JSON.parse(JSON.stringify(value));
    expect(decodeBjson(encodeBjson(value, VERSION), VERSION, 'v')).toEqual(expected);
  });

  it('keeps a __proto__ key as data', () => {
    const value: unknown = JSON.parse('{"__proto__": {"polluted": true}}');
    const decoded = decodeBjson(encodeBjson(value, VERSION), VERSION, 'v') as Record<string, unknown>;
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(Object.keys(decoded)).toEqual(['__proto__']);
  });

  it('handles objects with more than 127 keys', () => {
    const value = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, i]));
    expect(decodeBjson(encodeBjson({ ...value, gone: undefined }, VERSION), VERSION, 'v')).toEqual(value);
  });

  it('refuses BigInt and cycles on the way in', () => {
    expect(() => encodeBjson({ n: 1n }, VERSION)).toThrow(TypeError);
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(() => encodeBjson(cyclic, VERSION)).toThrow(/nests too deeply|cycle/);
  });

  it('names the path of a cycle on the way out', () => {
    // Version, no atoms... built by hand: [ {a: <ref to the array>} ] with atom "a".
    const bytes = Uint8Array.from([VERSION, 1, 2, 0x61, 9, 1, 8, 1, 2, 19, 0]);
    expect(() => decodeBjson(bytes, VERSION, 'actions')).toThrow(new BjsonValueError('actions[0].a', 'is a circular reference'));
  });

  it('rejects a wrong version byte', () => {
    expect(() => decodeBjson(Uint8Array.from([VERSION + 1, 0, 1]), VERSION, 'v')).toThrow(/version/);
  });
});
