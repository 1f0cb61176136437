import { describe, expect, it, afterAll } from '@jest/globals';
import { FunctionError, type FunctionErrorKind } from './errors.js';
import { FunctionSandbox, type MarshalMode } from './sandbox.js';

const OK_CASE = `if (events[0] === 'ok') return [{ sink: 's', op: 'ok' }];`;
const all: FunctionSandbox[] = [];
afterAll(() => all.forEach((sb) => sb.dispose()));

/** A function that behaves on the event 'ok' and runs `body` otherwise. */
function hostile(body: string, marshal: MarshalMode = 'auto'): FunctionSandbox {
  const sb = new FunctionSandbox({ name: 'hostile', code: `export default function (events, ctx) {\n  ${OK_CASE}\n  ${body}\n}`, marshal });
  all.push(sb);
  return sb;
}

async function expectFailure(sb: FunctionSandbox, kind: FunctionErrorKind, message: RegExp): Promise<FunctionError> {
  let caught: unknown;
  try {
    await sb.run(['bad'], { trigger: 't' });
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(FunctionError);
  const err = caught as FunctionError;
  expect({ kind: err.kind, message: err.message }).toEqual({ kind, message: expect.stringMatching(message) });
  // Contained: the same sandbox serves the next call.
  expect(await sb.run(['ok'], { trigger: 't' })).toEqual([{ sink: 's', op: 'ok' }]);
  return err;
}

describe('hostile functions are contained', () => {
  it('an infinite loop times out at the CPU limit', async () => {
    const sb = hostile('while (true) {}');
    const start = performance.now();
    await expectFailure(sb, 'timeout', /CPU time limit of 1000 ms/);
    const elapsed = performance.now() - start;
    expect(elapsed).toBeGreaterThanOrEqual(950);
    expect(elapsed).toBeLessThan(2500);
  });

  it('an infinite loop that catches the interrupt still times out', async () => {
    const sb = new FunctionSandbox({
      name: 'h',
      code: `export default (events) => { if (events[0] === 'ok') return [{ sink: 's', op: 'ok' }]; for (;;) { try { while (true) {} } catch (e) {} } }`,
      limits: { cpuTimeMs: 200 },
    });
    all.push(sb);
    await expectFailure(sb, 'timeout', /CPU time limit of 200 ms/);
  });

  it('allocating 1 GiB fails with a memory error', async () => {
    await expectFailure(hostile('const a = new Array(1e9).fill(1); return [];'), 'memory', /memory limit of 32 MiB/);
  });

  it('string doubling fails with a memory error', async () => {
    await expectFailure(hostile(`let s = 'x'; const keep = []; for (;;) { s = s + s; keep.push(s + '!'); }`), 'memory', /memory limit/);
  });

  it('deep recursion fails cleanly', async () => {
    const err = await expectFailure(hostile('function r(n) { return r(n + 1) + 1; }\n  return r(0);'), 'runtime', /stack overflow/);
    expect(err.line).toBe(3);
    expect((err.functionStack ?? '').split('\n').length).toBeLessThanOrEqual(9);
  });

  it('recursion that overflows the host stack first is contained too', async () => {
    const sb = new FunctionSandbox({
      name: 'deep',
      code: `export default function (events) {\n  if (events[0] === 'ok') return [{ sink: 's', op: 'ok' }];\n  function r(n) { return r(n + 1) + 1; }\n  return r(0);\n}`,
      limits: { maxStackSizeBytes: 2 * 1024 * 1024 },
    });
    all.push(sb);
    await expectFailure(sb, 'runtime', /stack overflow/);
  });

  it('a result nested 5,000 deep is an output error naming it, and the same VM serves the next call', async () => {
    const sb = hostile(`let d = { x: 1 };\n  for (let i = 0; i < 5000; i++) d = { d };\n  return [{ sink: 's', op: 'upsert', doc: d }];`);
    const err = await expectFailure(sb, 'output', /actions\[0\]\.doc\.d\.d.*….*nests more than 2000 levels deep/);
    expect(err.message.length).toBeLessThan(400);
  });

  it('require is not defined', async () => {
    await expectFailure(hostile(`require('fs'); return [];`), 'runtime', /ReferenceError: .*require.* is not defined/);
  });

  it('process and fetch are not defined', async () => {
    await expectFailure(
      hostile(`return [{ sink: 's', op: typeof globalThis.process }, globalThis.process.env];`),
      'runtime',
      /TypeError: cannot read property 'env' of undefined/,
    );
    await expectFailure(hostile(`fetch('http://example.com'); return [];`), 'runtime', /ReferenceError: .*fetch.* is not defined/);
  });

  it('import statements cannot load anything', () => {
    expect(() => new FunctionSandbox({ name: 'imp', code: `import fs from 'fs';\nexport default () => [];` })).toThrow(FunctionError);
  });

  describe.each<MarshalMode>(['binary', 'json'])('non-serialisable results (%s)', (marshal) => {
    it('a returned function', async () => {
      await expectFailure(hostile(`return () => 1;`, marshal), 'invalid-actions', /got function/);
    });
    it('a function inside an action', async () => {
      const expected = marshal === 'binary' ? /actions\[0\]\.value\.fn is a function/ : /actions\[0\]\.value: /;
      const sb = hostile(`return [{ sink: 's', op: 'o', value: { fn() {} } }];`, marshal);
      if (marshal === 'binary') await expectFailure(sb, 'output', expected);
      else expect(await sb.run(['bad'], { trigger: 't' })).toEqual([{ sink: 's', op: 'o', value: {} }]);
    });
    it('a cycle', async () => {
      await expectFailure(
        hostile(`const v = { sink: 's', op: 'o' }; v.value = { back: v }; return [v];`, marshal),
        'output',
        /actions\[0\]\.value\.back is a circular reference/,
      );
    });
    it('a BigInt', async () => {
      await expectFailure(hostile(`return [{ sink: 's', op: 'o', value: { n: 10n } }];`, marshal), 'output', /actions\[0\]\.value\.n is a BigInt/);
    });
    it('a Map', async () => {
      const sb = hostile(`return [{ sink: 's', op: 'o', value: new Map([[1, 2]]) }];`, marshal);
      if (marshal === 'binary') await expectFailure(sb, 'output', /actions\[0\]\.value is a Map/);
      else expect(await sb.run(['bad'], { trigger: 't' })).toEqual([{ sink: 's', op: 'o', value: {} }]);
    });
  });

  it('shared (non-cyclic) references and Dates serialise like JSON', async () => {
    const sb = hostile(`const v = { a: 1 }; return [{ sink: 's', op: 'o', value: [v, v, new Date(0), undefined], key: undefined }];`);
    expect(await sb.run(['bad'], { trigger: 't' })).toEqual([{ sink: 's', op: 'o', value: [{ a: 1 }, { a: 1 }, '1970-01-01T00:00:00.000Z', null] }]);
  });

  it('a top-level infinite loop fails construction with a timeout', () => {
    let caught: unknown;
    try {
      all.push(new FunctionSandbox({ name: 'top', code: `while (true) {}\nexport default () => [];`, limits: { cpuTimeMs: 100 } }));
    } catch (error) {
      caught = error;
    }
    expect((caught as FunctionError).kind).toBe('timeout');
  });
});
