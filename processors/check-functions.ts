import type { FunctionConfig } from './function-config.js';
import { checkFunctionCode, describeCheckFailure, FunctionPool } from './sandbox/index.js';

/**
 * `run --check`: loads each configured function as `run` would under its own limits. JavaScript on
 * this thread (parse, evaluate, default export; a CLI check has nothing else to serve); WebAssembly
 * modules in a one-worker pool, so a module whose start function spins is stopped by its time limit.
 * One problem line per function.
 */
export async function checkConfigFunctions(functions: readonly FunctionConfig[]): Promise<string[]> {
  const problems: string[] = [];
  let pool: FunctionPool | undefined;
  try {
    for (const [i, fn] of functions.entries()) {
      const limits = { memoryLimitBytes: Math.round(fn.limits.memoryMiB * 1024 * 1024), cpuTimeMs: fn.limits.timeoutMs };
      if (fn.wasmBytes !== undefined) {
        pool ??= new FunctionPool({ size: 1 });
        const result = await pool.check({ tenant: '(config)', name: fn.name, wasm: fn.wasmBytes, limits });
        if (!result.ok) problems.push(`functions[${i}] (${fn.name}).wasm: ${result.message}`);
        continue;
      }
      const result = checkFunctionCode(fn.code ?? '', fn.name, limits);
      if (!result.ok) problems.push(`functions[${i}] (${fn.name}): ${describeCheckFailure(fn.name, result)}`);
    }
  } finally {
    await pool?.close();
  }
  return problems;
}
