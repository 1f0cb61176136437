import { checkWasmModule } from './module-check.js';
import { WasmFunction } from './plugin-host.js';
import type { FunctionCheckResult } from '../check.js';
import { FunctionError, type FunctionErrorDetails } from '../errors.js';
import { resolveLimits } from '../limits.js';
import type { CheckRequest, RunRequest } from '../pool-protocol.js';
import type { Action } from '../actions.js';
import type { FunctionLogEntry } from '../sandbox.js';

/**
 * The Extism plugins of one pool worker, by function key, least recently used first. Calls arrive
 * one at a time (the pool gives a worker one call at a time).
 */
export class WorkerPlugins {
  private readonly plugins = new Map<string, WasmFunction>();

  constructor(
    private readonly cacheSize: number,
    private readonly onLog: (entry: FunctionLogEntry) => void,
  ) {}

  /** Linear memory held by the cached plugins (part of what the pool weighs when it recycles a worker). */
  memoryBytes(): number {
    let total = 0;
    for (const plugin of this.plugins.values()) total += plugin.memoryBytes();
    return total;
  }

  async run(request: RunRequest & { wasm: Uint8Array }): Promise<{ actions: Action[] } | { error: FunctionErrorDetails }> {
    try {
      const plugin = await this.pluginFor(request);
      const ctx = {
        trigger: request.trigger,
        ...(request.now === undefined ? {} : { now: request.now }),
        ...(request.sinkNames ? { sinkNames: request.sinkNames } : {}),
      };
      return { actions: await plugin.run(request.events, ctx) };
    } catch (error) {
      return { error: detailsOf(error, request.name) };
    }
  }

  /** Checks the module as create-time validation does, then instantiates it once (linking, its start function). */
  async check(request: CheckRequest & { wasm: Uint8Array }): Promise<FunctionCheckResult> {
    const limits = resolveLimits(request.limits);
    const checked = checkWasmModule(request.wasm, limits.memoryLimitBytes);
    if (!checked.ok) return { ok: false, message: checked.message, phase: checked.phase };
    try {
      await (await WasmFunction.load({ name: request.name, bytes: request.wasm, limits })).dispose();
      return { ok: true };
    } catch (error) {
      return { ok: false, message: detailsOf(error, request.name).message, phase: 'evaluate' };
    }
  }

  private async pluginFor(request: RunRequest & { wasm: Uint8Array }): Promise<WasmFunction> {
    const cached = this.plugins.get(request.key);
    if (cached) {
      this.plugins.delete(request.key);
      this.plugins.set(request.key, cached);
      return cached;
    }
    const plugin = await WasmFunction.load({ name: request.name, bytes: request.wasm, limits: resolveLimits(request.limits), onLog: this.onLog });
    this.plugins.set(request.key, plugin);
    for (const [key, old] of this.plugins) {
      if (this.plugins.size <= this.cacheSize) break;
      this.plugins.delete(key);
      void old.dispose();
    }
    return plugin;
  }
}

function detailsOf(error: unknown, functionName: string): FunctionErrorDetails {
  if (error instanceof FunctionError) return { ...error.details };
  return { kind: 'runtime', functionName, message: `plugin host failure: ${error instanceof Error ? error.message : String(error)}` };
}
