import { EXTISM_IMPORTS, EXTISM_NAMESPACE, HANDLE_EXPORT } from './abi.js';
import { PAGE_BYTES, readModuleLayout, WasmFormatError, type ModuleLayout } from './binary.js';

/** The largest module accepted (gRPC `wasm`, yaml `wasm:`, `functions create --wasm`). */
export const MAX_WASM_MODULE_BYTES = 8 * 1024 * 1024;

export type WasmCheckResult = { ok: true; layout: ModuleLayout } | { ok: false; message: string; phase: 'compile' | 'export' };

/** Node has WebAssembly; this project's `lib` setting (no DOM) just does not declare it. */
const wasm = (globalThis as unknown as { WebAssembly: { validate(bytes: Uint8Array): boolean } }).WebAssembly;

function fail(message: string, phase: 'compile' | 'export' = 'compile'): WasmCheckResult {
  return { ok: false, message, phase };
}

/**
 * Whether `bytes` is a module this host can run as a function: at most MAX_WASM_MODULE_BYTES, valid
 * WebAssembly, exporting a function `handle`, importing only Extism host functions, and defining
 * exactly one 32-bit unshared memory whose initial size fits `memoryLimitBytes`. Cheap enough for
 * the main thread (one validation pass and a walk over three sections; nothing is compiled).
 */
export function checkWasmModule(bytes: Uint8Array, memoryLimitBytes: number): WasmCheckResult {
  if (bytes.length > MAX_WASM_MODULE_BYTES) return fail(`the module is ${bytes.length} bytes; at most ${MAX_WASM_MODULE_BYTES} bytes (8 MiB) are accepted`);
  let layout: ModuleLayout;
  try {
    layout = readModuleLayout(bytes);
  } catch (error) {
    if (error instanceof WasmFormatError) return fail(error.message);
    throw error;
  }
  if (!wasm.validate(bytes)) return fail('not a valid WebAssembly module (WebAssembly.validate refused it)');
  const foreign = layout.imports.filter((i) => i.module !== EXTISM_NAMESPACE || i.kind !== 'function' || !EXTISM_IMPORTS.has(i.name));
  if (foreign.length > 0) {
    const shown = foreign
      .slice(0, 5)
      .map((i) => `${i.module}.${i.name} (${i.kind})`)
      .join(', ');
    return fail(
      `imports outside the Extism host functions (only functions of "${EXTISM_NAMESPACE}" are provided; no WASI, no env): ${shown}${foreign.length > 5 ? `, and ${foreign.length - 5} more` : ''}`,
    );
  }
  const handle = layout.exports.find((e) => e.name === HANDLE_EXPORT);
  if (!handle) return fail(`the module exports no function "${HANDLE_EXPORT}" (the entry point the host calls with each batch)`, 'export');
  if (handle.kind !== 'function') return fail(`the module's export "${HANDLE_EXPORT}" is a ${handle.kind}, not a function`, 'export');
  if (layout.memories.length !== 1) return fail(`the module defines ${layout.memories.length} memories; exactly one is supported`);
  const memory = layout.memories[0];
  if (memory?.shared) return fail('the module declares a shared memory (threads are not supported)');
  if (memory?.memory64) return fail('the module declares a 64-bit memory (memory64 is not supported)');
  const limitPages = Math.floor(memoryLimitBytes / PAGE_BYTES);
  if (memory && memory.minPages > limitPages) {
    return fail(
      `the module's memory starts at ${memory.minPages} pages (${(memory.minPages * PAGE_BYTES) / 1048576} MiB), above the function's memory limit of ${limitPages} pages`,
    );
  }
  return { ok: true, layout };
}
