import { describe, expect, it } from '@jest/globals';
import { checkConfigFunctions } from './check-functions.js';
import { functionConfigSchema, type FunctionConfig } from './function-config.js';
import { exampleModule } from '../testing/wasm-modules.js';

const fn = (name: string, code: string) => functionConfigSchema.parse({ name, code });

describe('checkConfigFunctions (run --check)', () => {
  it('passes functions that load, and names each one that would not start', async () => {
    const problems = await checkConfigFunctions([
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

  it('loads WebAssembly modules in a worker, within their limits (the pool runs the built worker: build first)', async () => {
    const wasm = (name: string, bytes: Uint8Array, timeoutMs = 1_000): FunctionConfig => ({
      ...functionConfigSchema.parse({ name, wasm: `${name}.wasm`, limits: { memoryMiB: 32, timeoutMs } }),
      wasmBytes: bytes,
    });
    const problems = await checkConfigFunctions([wasm('echo', exampleModule('wat-echo')), wasm('not-wasm', new TextEncoder().encode('nope'))]);
    expect(problems).toEqual([expect.stringMatching(/^functions\[1\] \(not-wasm\)\.wasm: not a WebAssembly module/)]);
  });
});
