import type { FunctionConfig } from './function-config.js';
import type { TriggerConfig } from './trigger-config.js';
import type { TriggerDefinition } from './trigger-definition.js';

/**
 * The triggers of changeflow.yaml as the processors run them: key = trigger name, the function's code
 * (or WebAssembly module) resolved from `functions` (the config loader already read `file:` / `wasm:`
 * and checked that the function exists).
 */
export function definitionsFromConfig(config: { triggers: readonly TriggerConfig[]; functions: readonly FunctionConfig[] }): TriggerDefinition[] {
  return config.triggers.map((trigger) => {
    const definition: TriggerDefinition = { ...trigger, key: trigger.name };
    if (trigger.function !== undefined) {
      const fn = config.functions.find((f) => f.name === trigger.function);
      const limits = fn ? { memoryMiB: fn.limits.memoryMiB, timeoutMs: fn.limits.timeoutMs } : undefined;
      if (fn?.wasmBytes !== undefined && limits) {
        definition.functionCode = { name: fn.name, wasmBase64: Buffer.from(fn.wasmBytes).toString('base64'), ...limits };
      } else if (fn?.code !== undefined && limits) {
        definition.functionCode = { name: fn.name, code: fn.code, ...limits };
      }
    }
    return definition;
  });
}
