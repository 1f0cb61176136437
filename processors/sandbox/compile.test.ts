import { describe, expect, it } from '@jest/globals';
import { compileCheck } from './compile.js';

describe('compileCheck', () => {
  it('accepts the supported shapes without running them', () => {
    expect(compileCheck('export default function handle(events, ctx) { return []; }')).toEqual({ ok: true });
    expect(compileCheck('export default (events, ctx) => events.map((e) => ({ sink: "s", op: "o" }))')).toEqual({ ok: true });
    expect(compileCheck('function handle(events, ctx) { return []; }')).toEqual({ ok: true });
    // Compile-only: top-level code does not run.
    expect(compileCheck('while (true) {}\nexport default () => [];')).toEqual({ ok: true });
  });

  it('reports syntax errors with 1-based line and column', () => {
    const result = compileCheck('export default function (events) {\n  const x = 1;\n  return [;\n}');
    expect(result).toEqual({ ok: false, message: expect.stringMatching(/^SyntaxError: /), line: 3, column: 11 });
  });

  it('reports an error on the last line, unaffected by the appended trailer', () => {
    const result = compileCheck('export default (events) => {\n  return events\n} }');
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.line).toBe(3);
  });

  it('rejects strict-mode violations (code is an ES module)', () => {
    const result = compileCheck('export default function (events) {\n  with (events) {}\n}');
    expect(result).toMatchObject({ ok: false, line: 2 });
  });

  it('rejects empty code', () => {
    expect(compileCheck('   \n')).toEqual({ ok: false, message: 'function code is empty', line: 1, column: 1 });
  });
});
