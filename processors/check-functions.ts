import type { FunctionConfig } from './function-config.js';
import { checkFunctionCode, describeCheckFailure } from './sandbox/index.js';

/**
 * `run --check`: loads each configured function as `run` would (parse, evaluate, default export) under
 * its own limits, on this thread (a CLI check has nothing else to serve). One problem line per function.
 */
export function checkConfigFunctions(functions: readonly FunctionConfig[]): string[] {
  return functions.flatMap((fn, i) => {
    const result = checkFunctionCode(fn.code ?? '', fn.name, {
      memoryLimitBytes: Math.round(fn.limits.memoryMiB * 1024 * 1024),
      cpuTimeMs: fn.limits.timeoutMs,
    });
    return result.ok ? [] : [`functions[${i}] (${fn.name}): ${describeCheckFailure(fn.name, result)}`];
  });
}
