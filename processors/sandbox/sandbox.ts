import type { QuickJSContext, QuickJSHandle, QuickJSRuntime } from 'quickjs-emscripten';
import { validateActions, type Action } from './actions.js';
import { BjsonValueError, decodeBjson, encodeBjson } from './bjson.js';
import { moduleSource, sourceFileName } from './compile.js';
import { binaryFormatVersion, quickjs } from './engine.js';
import { FunctionError, InvalidActionsError, type FunctionErrorKind } from './errors.js';
import { resolveLimits, type SandboxLimits } from './limits.js';
import { PRELUDE_SOURCE } from './prelude.js';
import { PRELUDE_FILE, readVmError, type VmErrorInfo } from './vm-error.js';
import { MissingPrerequisiteError, InternalError } from '../../core/errors.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface FunctionLogEntry {
  functionName: string;
  level: LogLevel;
  message: string;
}

/**
 * How events enter and actions leave the VM. 'binary' uses QuickJS's binary object format with a host
 * codec (about twice as fast); 'json' passes JSON strings. 'auto' = binary if the start-up probe passed.
 */
export type MarshalMode = 'auto' | 'binary' | 'json';

export interface SandboxOptions {
  /** Function name, used in errors and log entries. */
  name: string;
  /** ES-module source: `export default function (events, ctx) {...}`, `export default (events, ctx) => ...`, or `function handle(events, ctx) {...}`. */
  code: string;
  limits?: Partial<SandboxLimits>;
  /** Receives console.* and ctx.log output, synchronously during the call. Exceptions it throws are ignored. */
  onLog?: (entry: FunctionLogEntry) => void;
  marshal?: MarshalMode;
}

export interface RunContext {
  /** Name of the trigger the batch came from (ctx.trigger inside the function). */
  trigger: string;
  /** Batch timestamp in ms, returned by ctx.now() inside the function (which has no other clock: Date.now() throws). */
  now?: number;
  /** The trigger's sinks; when given, actions addressed to other sinks fail the call. */
  sinkNames?: readonly string[];
  /**
   * Told how long the function itself ran (seconds), by runners that know it apart from waiting for a
   * worker: the pool's queue is shared by every trigger, and its wait is not the function's time.
   */
  onRunTime?: (seconds: number) => void;
}

interface Vm {
  runtime: QuickJSRuntime;
  context: QuickJSContext;
  handles: QuickJSHandle[];
  run: QuickJSHandle;
  settle: QuickJSHandle;
  diagnose: QuickJSHandle;
  toJson: QuickJSHandle;
}

const LOG_LEVELS: ReadonlySet<string> = new Set(['debug', 'info', 'warn', 'error']);
const MEMORY_MESSAGES: ReadonlySet<string> = new Set(['out of memory', 'string too long', 'invalid array length']);

/**
 * Runs one user function in its own QuickJS runtime. Created once per function: the code is compiled
 * and its module evaluated once, then each call reuses the context (module-level state survives between
 * calls, but is reset whenever the VM is rebuilt, so functions must not rely on it). After a timeout or
 * out-of-memory failure the VM is discarded and rebuilt transparently on the next call.
 */
export class FunctionSandbox {
  readonly name: string;
  readonly limits: Readonly<SandboxLimits>;
  readonly marshal: 'binary' | 'json';
  private readonly source: string;
  private readonly fileName: string;
  private readonly onLog: ((entry: FunctionLogEntry) => void) | undefined;
  private vm: Vm | undefined;
  private disposed = false;
  private deadline = Number.POSITIVE_INFINITY;
  private timedOut = false;
  private logBytes = 0;
  private logClosed = false;

  /** Compiles and evaluates the code; throws FunctionError (kind 'syntax' for parse errors). */
  constructor(options: SandboxOptions) {
    this.name = options.name;
    this.limits = Object.freeze(resolveLimits(options.limits));
    this.onLog = options.onLog;
    const wanted = options.marshal ?? 'auto';
    if (wanted === 'binary' && binaryFormatVersion === undefined) {
      throw new MissingPrerequisiteError('binary marshalling is unavailable: the QuickJS binary format probe failed');
    }
    this.marshal = wanted === 'json' || binaryFormatVersion === undefined ? 'json' : 'binary';
    if (typeof options.code !== 'string' || options.code.trim() === '') {
      throw new FunctionError({ kind: 'syntax', functionName: this.name, message: 'function code is empty' });
    }
    this.source = moduleSource(options.code);
    this.fileName = sourceFileName(options.name);
    this.beginCall();
    this.vm = this.load();
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** Runs one batch. Rejects with FunctionError; the sandbox stays usable afterwards. */
  async run(events: readonly unknown[], ctx: RunContext): Promise<Action[]> {
    return this.runSync(events, ctx);
  }

  runSync(events: readonly unknown[], ctx: RunContext): Action[] {
    if (this.disposed) throw new InternalError(`function sandbox "${this.name}" is disposed`);
    this.beginCall();
    let raw: unknown;
    try {
      const vm = (this.vm ??= this.load());
      raw = this.invoke(vm, events, ctx);
    } catch (error) {
      throw this.afterFailure(error);
    } finally {
      this.deadline = Number.POSITIVE_INFINITY;
    }
    try {
      return validateActions(raw, ctx.sinkNames);
    } catch (error) {
      if (error instanceof InvalidActionsError) throw this.fail('invalid-actions', error.message);
      throw error;
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.discardVm();
  }

  private beginCall(): void {
    this.deadline = performance.now() + this.limits.cpuTimeMs;
    this.timedOut = false;
    this.logBytes = 0;
    this.logClosed = false;
  }

  private load(): Vm {
    const runtime = quickjs.newRuntime();
    runtime.setMemoryLimit(this.limits.memoryLimitBytes);
    runtime.setMaxStackSize(this.limits.maxStackSizeBytes);
    runtime.setInterruptHandler(() => {
      if (performance.now() <= this.deadline) return false;
      this.timedOut = true;
      return true;
    });
    const context = runtime.newContext();
    const handles: QuickJSHandle[] = [];
    const keep = (h: QuickJSHandle): QuickJSHandle => {
      handles.push(h);
      return h;
    };
    try {
      const hostLog = keep(
        context.newFunction('hostLog', (level, message) => (this.hostLog(context.getString(level), context.getString(message)) ? context.true : context.false)),
      );
      const factory = keep(this.unwrap(context, context.evalCode(PRELUDE_SOURCE, PRELUDE_FILE, { type: 'global', strict: true }), 'runtime'));
      const internals = keep(this.unwrap(context, context.callFunction(factory, context.undefined, hostLog), 'runtime'));
      const vm: Vm = {
        runtime,
        context,
        handles,
        run: keep(context.getProp(internals, 'run')),
        settle: keep(context.getProp(internals, 'settle')),
        diagnose: keep(context.getProp(internals, 'diagnose')),
        toJson: keep(context.getProp(internals, 'toJson')),
      };
      const namespace = this.evaluateModule(vm);
      const bind = context.getProp(internals, 'bind');
      const bound = context.callFunction(bind, context.undefined, namespace);
      bind.dispose();
      namespace.dispose();
      this.unwrap(context, bound, 'syntax').dispose();
      return vm;
    } catch (error) {
      for (const h of handles) if (h.alive) h.dispose();
      context.dispose();
      runtime.dispose();
      throw error;
    }
  }

  private evaluateModule(vm: Vm): QuickJSHandle {
    const { context, runtime } = vm;
    const result = context.evalCode(this.source, this.fileName, { type: 'module' });
    if (result.error) throw this.toFunctionError(context, result.error, 'syntax');
    const state = context.getPromiseState(result.value);
    if (state.type === 'fulfilled' && state.notAPromise) return result.value;
    // Top-level await: the module evaluates to a promise of its namespace.
    result.value.dispose();
    if (state.type === 'pending') {
      const jobs = runtime.executePendingJobs();
      if (jobs.error) throw this.toFunctionError(context, jobs.error, 'runtime');
      throw this.fail('runtime', 'module top-level await never settled (functions have no timers or I/O to wait for)');
    }
    if (state.type === 'rejected') throw this.toFunctionError(context, state.error, 'runtime');
    return state.value;
  }

  private invoke(vm: Vm, events: readonly unknown[], ctx: RunContext): unknown {
    const { context } = vm;
    const message = { t: ctx.trigger, n: ctx.now, e: events };
    let input: QuickJSHandle;
    if (this.marshal === 'binary') {
      const buffer = context.newArrayBuffer(encodeBjson(message, binaryFormatVersion as number).buffer);
      input = context.decodeBinaryJSON(buffer);
      buffer.dispose();
    } else {
      input = context.newString(JSON.stringify(message));
    }
    const called = context.callFunction(vm.run, context.undefined, input);
    input.dispose();
    let actions = this.unwrap(context, called, 'runtime');
    if (context.typeof(actions) === 'undefined') {
      actions.dispose();
      actions = this.settleAsync(vm);
    }
    try {
      return this.marshal === 'binary' ? this.extractBinary(vm, actions) : this.extractJson(vm, actions);
    } finally {
      actions.dispose();
    }
  }

  /** The function returned a promise: drain the job queue (still under the deadline), then collect. */
  private settleAsync(vm: Vm): QuickJSHandle {
    const jobs = vm.runtime.executePendingJobs();
    if (jobs.error) throw this.toFunctionError(vm.context, jobs.error, 'runtime');
    return this.unwrap(vm.context, vm.context.callFunction(vm.settle, vm.context.undefined), 'runtime');
  }

  private extractBinary(vm: Vm, actions: QuickJSHandle): unknown {
    const { context } = vm;
    const encoded = context.encodeBinaryJSON(actions);
    let bytes;
    try {
      bytes = context.getArrayBuffer(encoded);
    } catch {
      // Not serialisable (function, getter, Map, ...): name the culprit. diagnose always throws, which
      // also clears the exception left pending by the failed encode.
      encoded.dispose();
      const diagnosed = context.callFunction(vm.diagnose, context.undefined, actions);
      this.unwrap(context, diagnosed, 'output').dispose();
      throw this.fail('output', 'actions could not be serialised');
    }
    encoded.dispose();
    try {
      this.checkOutputSize(bytes.value.byteLength);
      return decodeBjson(bytes.value, binaryFormatVersion as number, 'actions');
    } catch (error) {
      if (error instanceof BjsonValueError) throw this.fail('output', error.message);
      throw error;
    } finally {
      bytes.dispose();
    }
  }

  private extractJson(vm: Vm, actions: QuickJSHandle): unknown {
    const { context } = vm;
    const json = this.unwrap(context, context.callFunction(vm.toJson, context.undefined, actions), 'output');
    const text = context.getString(json);
    json.dispose();
    this.checkOutputSize(Buffer.byteLength(text));
    return JSON.parse(text);
  }

  private checkOutputSize(bytes: number): void {
    if (bytes > this.limits.maxOutputBytes) {
      throw this.fail('output', `actions are ${bytes} bytes serialised, over the limit of ${this.limits.maxOutputBytes} bytes`);
    }
  }

  private hostLog(level: string, message: string): boolean {
    if (this.logClosed) return false;
    const cap = this.limits.maxLogBytes;
    const bytes = Buffer.byteLength(message);
    let text = message;
    if (this.logBytes + bytes > cap) {
      const room = Math.max(0, cap - this.logBytes);
      text = `${Buffer.from(message)
        .subarray(0, room)
        .toString()
        .replace(/\uFFFD$/, '')}… [log truncated: over ${cap} bytes in this call; further output dropped]`;
      this.logClosed = true;
    }
    this.logBytes += bytes;
    if (this.onLog) {
      try {
        this.onLog({ functionName: this.name, level: LOG_LEVELS.has(level) ? (level as LogLevel) : 'info', message: text });
      } catch {
        // A faulty log sink must not fail the function.
      }
    }
    return !this.logClosed;
  }

  private unwrap(context: QuickJSContext, result: { error?: QuickJSHandle; value?: QuickJSHandle }, kind: FunctionErrorKind): QuickJSHandle {
    if (result.error) throw this.toFunctionError(context, result.error, kind);
    return result.value as QuickJSHandle;
  }

  /** Classifies (and disposes) a VM exception. `fallback` is the kind for ordinary thrown errors. */
  private toFunctionError(context: QuickJSContext, error: QuickJSHandle, fallback: FunctionErrorKind): FunctionError {
    let info: VmErrorInfo;
    try {
      info = readVmError(context, error, this.fileName);
    } catch {
      info = { name: 'Error', message: 'unreadable error' };
    } finally {
      error.dispose();
    }
    const where = { line: info.line, column: info.column, stack: info.stack };
    if (info.name === 'InternalError' && info.message === 'interrupted' && this.timedOut) {
      return this.fail('timeout', `exceeded the CPU time limit of ${this.limits.cpuTimeMs} ms`, where);
    }
    if ((info.name === 'InternalError' || info.name === 'RangeError') && MEMORY_MESSAGES.has(info.message)) {
      const mib = (this.limits.memoryLimitBytes / 1048576).toFixed(0);
      return this.fail('memory', `exceeded the memory limit of ${mib} MiB (${info.message})`, where);
    }
    if (info.name === 'InternalError' && info.message === 'stack overflow') {
      return this.fail('runtime', 'InternalError: stack overflow (recursion too deep)', where);
    }
    if (info.name === 'CfOutput') return this.fail('output', info.message);
    if (info.name === 'CfInvalidActions') return this.fail('invalid-actions', info.message);
    if (info.name === 'CfShape') return this.fail('syntax', info.message);
    const kind = fallback === 'syntax' && info.name !== 'SyntaxError' ? 'runtime' : fallback;
    return this.fail(kind, `${info.name}: ${info.message}`, where);
  }

  private fail(
    kind: FunctionErrorKind,
    message: string,
    where: { line?: number | undefined; column?: number | undefined; stack?: string | undefined } = {},
  ): FunctionError {
    return new FunctionError({ kind, functionName: this.name, message, ...dropUndefined(where) });
  }

  /** Timeouts and memory exhaustion may leave the VM inconsistent: rebuild it on the next call. */
  private afterFailure(error: unknown): FunctionError {
    if (error instanceof FunctionError) {
      if (error.kind === 'timeout' || error.kind === 'memory') this.discardVm();
      return error;
    }
    // A host exception inside a VM operation (e.g. V8's own stack overflowing while QuickJS recursed)
    // can leave the runtime mid-operation, and freeing it would abort the shared WASM module. Drop it
    // unfreed instead: its WASM memory leaks, but the process and other functions carry on.
    this.vm = undefined;
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof RangeError && /call stack/i.test(message)) {
      return this.fail('runtime', 'stack overflow (recursion too deep for the host stack; lower limits.maxStackSizeBytes)');
    }
    return this.fail('runtime', `sandbox failure: ${message}`);
  }

  private discardVm(): void {
    const vm = this.vm;
    this.vm = undefined;
    if (!vm) return;
    for (const h of vm.handles) if (h.alive) h.dispose();
    vm.context.dispose();
    vm.runtime.dispose();
  }
}

function dropUndefined(where: { line?: number | undefined; column?: number | undefined; stack?: string | undefined }): {
  line?: number;
  column?: number;
  stack?: string;
} {
  const out: { line?: number; column?: number; stack?: string } = {};
  if (where.line !== undefined) out.line = where.line;
  if (where.column !== undefined) out.column = where.column;
  if (where.stack !== undefined) out.stack = where.stack;
  return out;
}
