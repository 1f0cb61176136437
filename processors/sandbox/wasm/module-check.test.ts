import { describe, expect, it } from '@jest/globals';
import wabtInit from 'wabt';
import { readModuleLayout, withMemoryMaximum } from './binary.js';
import { checkWasmModule, MAX_WASM_MODULE_BYTES } from './module-check.js';
import { exampleModule } from '../../../testing/wasm-modules.js';

const wabt = await wabtInit();
const MiB = 1024 * 1024;
// multi_memory is a wabt feature its type declarations do not list yet.
const features = { threads: true, multi_memory: true } as Parameters<typeof wabt.parseWat>[2];

function wat(text: string): Uint8Array {
  const module = wabt.parseWat('test.wat', text, features);
  try {
    return module.toBinary({}).buffer;
  } finally {
    module.destroy();
  }
}

const handle = '(func (export "handle") (result i32) (i32.const 0))';

function problem(bytes: Uint8Array, memoryLimitBytes = 32 * MiB): string {
  const result = checkWasmModule(bytes, memoryLimitBytes);
  if (result.ok) throw new Error('expected the module to be refused');
  return result.message;
}

describe('checkWasmModule (create-time validation)', () => {
  it('accepts the examples and the hand-written module', () => {
    for (const name of ['passthrough', 'filter-enrich', 'redis-cache', 'wat-echo'] as const)
      expect(checkWasmModule(exampleModule(name), 32 * MiB).ok).toBe(true);
  });

  it('refuses bytes that are not WebAssembly, or are truncated', () => {
    expect(problem(new TextEncoder().encode('export default () => []'))).toMatch(/not a WebAssembly module/);
    const good = exampleModule('wat-echo');
    expect(problem(good.subarray(0, good.length - 3))).toMatch(/runs past|unexpected end|not a valid WebAssembly module/);
  });

  it('refuses a module over 8 MiB before reading it', () => {
    expect(problem(new Uint8Array(MAX_WASM_MODULE_BYTES + 1))).toMatch(/at most 8388608 bytes \(8 MiB\)/);
  });

  it('refuses a module without a handle function', () => {
    expect(problem(wat('(module (memory (export "memory") 1) (func (export "main") (result i32) (i32.const 0)))'))).toMatch(/exports no function "handle"/);
    expect(problem(wat('(module (memory 1) (global (export "handle") i32 (i32.const 0)))'))).toMatch(/export "handle" is a global, not a function/);
  });

  it('refuses imports outside the Extism host functions, naming them', () => {
    const wasi = wat(`(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32))) (memory 1) ${handle})`);
    expect(problem(wasi)).toMatch(/imports outside the Extism host functions .*: wasi_snapshot_preview1\.fd_write \(function\)/);
    const envAbort = wat(`(module (import "env" "abort" (func (param i32 i32 i32 i32))) (memory 1) ${handle})`);
    expect(problem(envAbort)).toMatch(/env\.abort \(function\)/);
    const unknown = wat(`(module (import "extism:host/env" "spawn" (func)) (memory 1) ${handle})`);
    expect(problem(unknown)).toMatch(/extism:host\/env\.spawn/);
    const memory = wat(`(module (import "extism:host/env" "memory" (memory 1)) ${handle})`);
    expect(problem(memory)).toMatch(/extism:host\/env\.memory \(memory\)/);
  });

  it('refuses memories it cannot cap: none, two, shared, or starting above the limit', () => {
    expect(problem(wat(`(module ${handle})`))).toMatch(/defines 0 memories/);
    // Node 20 has no multi-memory, so validation refuses it first; newer engines reach the memory check.
    expect(problem(wat(`(module (memory 1) (memory 1) ${handle})`))).toMatch(/defines 2 memories|not a valid WebAssembly module/);
    expect(problem(wat(`(module (memory 1 2 shared) ${handle})`))).toMatch(/shared memory/);
    expect(problem(wat(`(module (memory 600) ${handle})`), 32 * MiB)).toMatch(/starts at 600 pages .* above the function's memory limit of 512 pages/);
  });

  it('withMemoryMaximum caps the memory and keeps the rest of the module intact', () => {
    const bytes = exampleModule('passthrough');
    const layout = readModuleLayout(bytes);
    const capped = withMemoryMaximum(bytes, layout, 256);
    expect(readModuleLayout(capped).memories).toEqual([{ ...layout.memories[0], maxPages: 256 }]);
    expect(readModuleLayout(capped).exports).toEqual(layout.exports);
    expect(checkWasmModule(capped, 32 * MiB).ok).toBe(true);
    // A smaller maximum of the module's own stays.
    const own = wat(`(module (memory 1 4) ${handle})`);
    expect(readModuleLayout(withMemoryMaximum(own, readModuleLayout(own), 256)).memories[0]?.maxPages).toBe(4);
  });
});
