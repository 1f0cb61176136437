import { describe, expect, it } from '@jest/globals';
import { checkFunctionCode, describeCheckFailure } from './check.js';

describe('checkFunctionCode', () => {
  it('accepts code whose default export (or handle declaration) is a function', () => {
    expect(checkFunctionCode('export default (events) => events', 'f')).toEqual({ ok: true });
    expect(checkFunctionCode('function handle(events, ctx) { return []; }', 'f')).toEqual({ ok: true });
  });

  it('reports a syntax error at compile phase with its position', () => {
    const result = checkFunctionCode('export default function (events) {\n  return [;\n}', 'f');
    expect(result).toEqual({ ok: false, phase: 'compile', message: expect.stringMatching(/^SyntaxError: /), line: 2, column: 11 });
    if (!result.ok) expect(describeCheckFailure('f', result)).toMatch(/^function "f" syntax error: SyntaxError: .* \(line 2, column 11\)$/);
  });

  it('refuses a default export that is not a function, as running would', () => {
    for (const code of ['export default 42;', 'export const x = 1;', 'export default { handle() {} };']) {
      const result = checkFunctionCode(code, 'f');
      expect(result).toMatchObject({ ok: false, phase: 'export', message: expect.stringContaining('must "export default" a function') });
    }
  });

  it('reports a module that throws while evaluated, and bounds its top level by the limits', () => {
    expect(checkFunctionCode('throw new TypeError("boom");\nexport default () => [];', 'f')).toMatchObject({
      ok: false,
      phase: 'evaluate',
      message: expect.stringContaining('TypeError: boom'),
      line: 1,
    });
    const started = performance.now();
    const spin = checkFunctionCode('while (true) {}\nexport default () => [];', 'f', { cpuTimeMs: 100 });
    expect(spin).toMatchObject({ ok: false, phase: 'evaluate', message: expect.stringContaining('CPU time limit of 100 ms') });
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});
