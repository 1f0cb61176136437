import { quickjs } from './engine.js';
import { SOURCE_TRAILER } from './prelude.js';
import { readVmError } from './vm-error.js';

export type CompileCheckResult =
  | { ok: true }
  /** line and column are 1-based; 0 when QuickJS gave no position. */
  | { ok: false; message: string; line: number; column: number };

const COMPILE_MEMORY_BYTES = 64 * 1024 * 1024;
const COMPILE_TIME_MS = 2000;

/** Name under which a function's code is evaluated; it appears in stack traces. */
export function sourceFileName(functionName: string): string {
  const safe = functionName.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 100);
  return `${safe === '' ? 'function' : safe}.js`;
}

/**
 * User code as evaluated: an ES module (hence strict mode), unchanged except for a trailer after the
 * last line, so reported lines and columns match what the user wrote.
 */
export function moduleSource(code: string): string {
  return code + SOURCE_TRAILER;
}

/**
 * Parses function code without running it (QuickJS compile-only module evaluation), for the API to
 * reject a function with a syntax error when it is saved.
 */
export function compileCheck(code: string, functionName = 'function'): CompileCheckResult {
  if (code.trim() === '') return { ok: false, message: 'function code is empty', line: 1, column: 1 };
  const fileName = sourceFileName(functionName);
  const runtime = quickjs.newRuntime();
  runtime.setMemoryLimit(COMPILE_MEMORY_BYTES);
  const deadline = performance.now() + COMPILE_TIME_MS;
  runtime.setInterruptHandler(() => performance.now() > deadline);
  const vm = runtime.newContext();
  try {
    const result = vm.evalCode(moduleSource(code), fileName, { type: 'module', compileOnly: true });
    if (!result.error) {
      result.value.dispose();
      return { ok: true };
    }
    const info = readVmError(vm, result.error, fileName);
    result.error.dispose();
    return { ok: false, message: `${info.name}: ${info.message}`, line: info.line ?? 0, column: info.column ?? 0 };
  } finally {
    vm.dispose();
    runtime.dispose();
  }
}
