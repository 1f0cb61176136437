export { actionSchema, validateActions, type Action } from './actions.js';
export { compileCheck, type CompileCheckResult } from './compile.js';
export { FunctionError, InvalidActionsError, type FunctionErrorDetails, type FunctionErrorKind } from './errors.js';
export { DEFAULT_LIMITS, resolveLimits, type SandboxLimits } from './limits.js';
export { FunctionSandbox, type FunctionLogEntry, type LogLevel, type MarshalMode, type RunContext, type SandboxOptions } from './sandbox.js';
export { checkFunctionCode, describeCheckFailure, type FunctionCheckPhase, type FunctionCheckResult } from './check.js';
export {
  closeSharedFunctionPool,
  FunctionPool,
  PooledFunction,
  sharedFunctionPool,
  type FunctionPoolOptions,
  type FunctionPoolStats,
  type PoolFunctionSpec,
} from './pool.js';
export { checkWasmModule, MAX_WASM_MODULE_BYTES, type WasmCheckResult } from './wasm/module-check.js';
