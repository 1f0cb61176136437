import { describe, expect, it } from '@jest/globals';
import { checkConfigFunctions } from './check-functions.js';
import { functionConfigSchema } from './function-config.js';

const fn = (name: string, code: string) => functionConfigSchema.parse({ name, code });

describe('checkConfigFunctions (run --check)', () => {
  it('passes functions that load, and names each one that would not start', () => {
    const problems = checkConfigFunctions([
      fn('good', 'export default (events) => events.map((e) => ({ sink: "s", op: "o" }))'),
      fn('syntax', 'export default function (events) {\n  return [;\n}'),
      fn('not-a-function', 'export default 42;'),
      fn('throws', 'throw new Error("no config");\nexport default () => [];'),
    ]);
    expect(problems).toEqual([
      expect.stringMatching(/^functions\[1\] \(syntax\): function "syntax" syntax error: SyntaxError: .*\(line 2, column \d+\)$/),
      expect.stringMatching(/^functions\[2\] \(not-a-function\): .*must "export default" a function/),
      expect.stringMatching(/^functions\[3\] \(throws\): function "throws" runtime error: Error: no config/),
    ]);
  });
});
