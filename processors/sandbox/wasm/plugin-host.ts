import type { CallContext, Plugin } from '@extism/extism';
import { CONFIG_KEYS, EXTISM_NAMESPACE, HANDLE_EXPORT } from './abi.js';
import { PAGE_BYTES, withMemoryMaximum } from './binary.js';
import { checkWasmModule } from './module-check.js';
import { validateActions, type Action } from '../actions.js';
import { FunctionError, InvalidActionsError, type FunctionErrorKind } from '../errors.js';
import type { SandboxLimits } from '../limits.js';
import type { FunctionLogEntry, LogLevel, RunContext } from '../sandbox.js';

export interface WasmFunctionOptions {
  name: string;
  bytes: Uint8Array;
  limits: SandboxLimits;
  /** Receives the plugin's log_* output, within limits.maxLogBytes per call. */
  onLog?: (entry: FunctionLogEntry) => void;
}

/** Raised inside a host function to end the call; mapped to a FunctionError of `kind`. */
class HostStop extends Error {
  constructor(
    readonly kind: FunctionErrorKind,
    message: string,
  ) {
    super(message);
  }
}

interface WasmMemory {
  buffer: ArrayBuffer;
}

const MIB = 1024 * 1024;

/**
 * One Extism plugin instance, run with the host from @extism/extism on the calling thread (the pool
 * worker): the plugin's linear memory is capped by rewriting its maximum, the host-side memory it
 * allocates (alloc, output) by a per-call budget, and its time by the pool's watchdog, which ends the
 * worker (Extism 1.0.3's JS host has no timeout of its own, and a spinning call never yields).
 * After any failure the instance is dropped and a fresh one is made for the next call, since a trap
 * can leave the module's own heap half-updated.
 */
export class WasmFunction {
  private plugin: Plugin | undefined;
  private readonly bytes: Uint8Array;
  private readonly config: Record<string, string> = {};
  private hostBytes = 0;
  private logBytes = 0;
  private logClosed = false;
  private memory: WasmMemory | undefined;

  private constructor(private readonly options: WasmFunctionOptions) {
    const checked = checkWasmModule(options.bytes, options.limits.memoryLimitBytes);
    if (!checked.ok) throw new FunctionError({ kind: 'syntax', functionName: options.name, message: checked.message });
    this.bytes = withMemoryMaximum(options.bytes, checked.layout, Math.floor(options.limits.memoryLimitBytes / PAGE_BYTES));
  }

  /** Checks and instantiates the module; throws FunctionError (kind 'syntax' if refused, 'runtime' if it fails to link or start). */
  static async load(options: WasmFunctionOptions): Promise<WasmFunction> {
    const fn = new WasmFunction(options);
    await fn.instance();
    return fn;
  }

  /** Bytes of linear memory the current instance holds (it never shrinks; the pool recycles big workers). */
  memoryBytes(): number {
    return this.memory?.buffer.byteLength ?? 0;
  }

  async run(events: readonly unknown[], ctx: RunContext): Promise<Action[]> {
    const { name, limits } = this.options;
    this.config[CONFIG_KEYS.trigger] = ctx.trigger;
    this.config[CONFIG_KEYS.sinks] = JSON.stringify(ctx.sinkNames ?? []);
    if (ctx.now === undefined) delete this.config[CONFIG_KEYS.now];
    else this.config[CONFIG_KEYS.now] = String(ctx.now);
    this.hostBytes = 0;
    this.logBytes = 0;
    this.logClosed = false;
    let text: string;
    try {
      const plugin = await this.instance();
      const output = await plugin.call(HANDLE_EXPORT, JSON.stringify(events));
      if (output === null) throw new HostStop('output', `"${HANDLE_EXPORT}" set no output (expected a JSON array of actions)`);
      const size = output.bytes().length;
      if (size > limits.maxOutputBytes) throw new HostStop('output', `output of ${size} bytes exceeds the limit of ${limits.maxOutputBytes} bytes`);
      text = output.text();
      await plugin.reset();
    } catch (error) {
      throw this.afterFailure(error);
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (error) {
      throw new FunctionError({ kind: 'output', functionName: name, message: `output is not JSON (${(error as Error).message})` });
    }
    try {
      return validateActions(raw, ctx.sinkNames);
    } catch (error) {
      if (error instanceof InvalidActionsError) throw new FunctionError({ kind: 'invalid-actions', functionName: name, message: error.message });
      throw error;
    }
  }

  async dispose(): Promise<void> {
    const plugin = this.plugin;
    this.plugin = undefined;
    this.memory = undefined;
    await plugin?.close();
  }

  private async instance(): Promise<Plugin> {
    if (this.plugin) return this.plugin;
    try {
      // Loaded on first use: the package imports node:wasi (never used here), which warns once per process.
      const { default: createPlugin } = await import('@extism/extism');
      const plugin = await createPlugin(
        { wasm: [{ data: this.bytes }] },
        {
          useWasi: false,
          runInWorker: false,
          allowedHosts: [],
          allowedPaths: {},
          config: this.config,
          logger: this.logger(),
          functions: { [EXTISM_NAMESPACE]: this.hostFunctions() },
        },
      );
      this.plugin = plugin;
      const exported = (await plugin.getInstance()).exports['memory'];
      this.memory = exported && typeof exported === 'object' && 'buffer' in exported ? (exported as WasmMemory) : undefined;
      return plugin;
    } catch (error) {
      throw this.afterFailure(error, 'while the module was instantiated: ');
    }
  }

  /** Overrides of Extism's host functions: budgeted allocation, no network, the levels newer PDKs ask for. */
  private hostFunctions(): Record<string, (cc: CallContext, ...args: bigint[]) => unknown> {
    const limit = this.options.limits.memoryLimitBytes;
    return {
      alloc: (cc, size) => {
        const bytes = Number(size ?? 0n);
        // A module built with wasm exception handling could catch this and go on; every later alloc fails too.
        if (!(bytes >= 0)) throw new HostStop('runtime', `alloc of ${String(size)} bytes`);
        this.hostBytes += bytes;
        if (this.hostBytes > limit)
          throw new HostStop(
            'memory',
            `host memory it allocated (${Math.ceil(this.hostBytes / MIB)} MiB this call) exceeds its memory limit of ${limit / MIB} MiB`,
          );
        return cc.alloc(bytes);
      },
      http_request: () => {
        throw new HostStop('runtime', 'http_request is not available to functions (no network)');
      },
      http_status_code: () => 0,
      log_trace: (cc, addr) => this.logFrom(cc, 'debug', addr),
      get_log_level: () => 1,
    };
  }

  private logFrom(cc: CallContext, level: LogLevel, addr: bigint | undefined): void {
    const text = addr === undefined ? null : cc.read(addr);
    if (text) this.log(level, text.text());
  }

  private logger(): Console {
    const at =
      (level: LogLevel) =>
      (...parts: unknown[]): void =>
        this.log(level, parts.map(String).join(' '));
    return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), log: at('info'), trace: at('debug') } as unknown as Console;
  }

  private log(level: LogLevel, message: string): void {
    if (this.logClosed || !this.options.onLog) return;
    const max = this.options.limits.maxLogBytes;
    this.logBytes += Buffer.byteLength(message, 'utf8');
    const entry =
      this.logBytes > max
        ? { functionName: this.options.name, level: 'warn' as const, message: `log output over ${max} bytes in this call; the rest is dropped` }
        : { functionName: this.options.name, level, message };
    if (this.logBytes > max) this.logClosed = true;
    try {
      this.options.onLog(entry);
    } catch {
      // A faulty log sink must not fail the function.
    }
  }

  private afterFailure(error: unknown, prefix = ''): FunctionError {
    const limit = this.options.limits.memoryLimitBytes;
    const used = this.memoryBytes();
    // A module's allocator traps when memory.grow fails; the host cannot see the refused grow, so a
    // trap with memory within a tenth of the cap is taken for exhaustion.
    const reachedCap = used + Math.max(2 * PAGE_BYTES, limit / 10) > limit;
    const usage = `linear memory ${(used / MIB).toFixed(1)} of its ${limit / MIB} MiB limit`;
    void this.dispose();
    const functionName = this.options.name;
    if (error instanceof FunctionError) return error;
    if (error instanceof HostStop) return new FunctionError({ kind: error.kind, functionName, message: prefix + error.message });
    const message = error instanceof Error ? `${error.name === 'Error' ? '' : `${error.name}: `}${error.message}` : String(error);
    if (error instanceof Error && error.name === 'RuntimeError' && reachedCap) {
      // memory.grow failed at the cap, and the module's allocator gave up (AssemblyScript traps `unreachable`).
      return new FunctionError({ kind: 'memory', functionName, message: `${prefix}out of memory: trapped (${message}) with ${usage}` });
    }
    if (error instanceof RangeError && /call stack/i.test(error.message))
      return new FunctionError({ kind: 'runtime', functionName, message: `${prefix}stack overflow (${message})` });
    if (error instanceof Error && error.name === 'RuntimeError')
      return new FunctionError({ kind: 'runtime', functionName, message: `${prefix}trapped: ${message} (${usage})` });
    return new FunctionError({ kind: 'runtime', functionName, message: prefix + message });
  }
}
