import { compileCheck } from './compile.js';
import { FunctionError } from './errors.js';
import type { SandboxLimits } from './limits.js';
import { FunctionSandbox } from './sandbox.js';

/** Where a function failed the check: it does not parse, its module threw while evaluated, or it exports no function. */
export type FunctionCheckPhase = 'compile' | 'evaluate' | 'export';

/** `message` is the reason alone (e.g. "SyntaxError: unexpected token"); describeCheckFailure adds the name and position. */
export type FunctionCheckResult = { ok: true } | { ok: false; message: string; line?: number; column?: number; phase: FunctionCheckPhase };

/** A failed check worded as the sandbox words the same failure: `function "f" syntax error: ... (line 2, column 11)`. */
export function describeCheckFailure(name: string, result: Extract<FunctionCheckResult, { ok: false }>): string {
  return new FunctionError({
    kind: result.phase === 'evaluate' ? 'runtime' : 'syntax',
    functionName: name,
    message: result.message,
    ...position(result.line, result.column),
  }).message;
}

/**
 * Loads the function exactly as a call would (parse, evaluate the module, bind its default export) and
 * discards it. This evaluates the module's top level under `limits`, so callers that must not block
 * (the gRPC API) run it in the function pool (FunctionPool.check), which executes this in a worker.
 */
export function checkFunctionCode(code: string, name: string, limits?: Partial<SandboxLimits>): FunctionCheckResult {
  const parsed = compileCheck(code, name);
  if (!parsed.ok) return { ok: false, message: parsed.message, phase: 'compile', ...position(parsed.line, parsed.column) };
  let sandbox: FunctionSandbox | undefined;
  try {
    sandbox = new FunctionSandbox({ name, code, ...(limits ? { limits } : {}) });
    return { ok: true };
  } catch (error) {
    if (!(error instanceof FunctionError)) throw error;
    // The code parsed, so a 'syntax' failure here is the export check (the prelude's shape error).
    const phase: FunctionCheckPhase = error.kind === 'syntax' ? 'export' : 'evaluate';
    return { ok: false, message: error.details.message, phase, ...position(error.line, error.column) };
  } finally {
    sandbox?.dispose();
  }
}

function position(line: number | undefined, column: number | undefined): { line?: number; column?: number } {
  const out: { line?: number; column?: number } = {};
  if (line !== undefined && line > 0) out.line = line;
  if (column !== undefined && column > 0) out.column = column;
  return out;
}
