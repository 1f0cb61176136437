import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Action } from './actions.js';
import type { FunctionCheckResult } from './check.js';
import { FunctionError } from './errors.js';
import { FairQueue } from './fair-queue.js';
import { resolveLimits, type SandboxLimits } from './limits.js';
import { workerReplySchema, type WorkerData, type WorkerReply, type WorkerRequest } from './pool-protocol.js';
import type { FunctionLogEntry, RunContext } from './sandbox.js';
import { InternalError, ChangeflowError } from '../../core/errors.js';

export interface FunctionPoolOptions {
  /** Worker threads. Default max(2, available cores). */
  size?: number;
  /** V8 heap of each worker (events and actions in transit; QuickJS's own heap is capped per call). Default 512 MiB. */
  workerHeapMiB?: number;
  /** A worker whose QuickJS WebAssembly memory grew beyond this is replaced after its call (that memory never shrinks). Default 192 MiB. */
  recycleAboveBytes?: number;
  /** Compiled functions a worker keeps. Default 64. */
  cacheSize?: number;
  /** When the main thread ends a call's worker, from the call's time limit. Default 1.5 × limit + 25 ms. */
  watchdogMs?: (limitMs: number) => number;
  /** The worker script. Default: pool-worker.js beside this module when built, else dist/'s. */
  workerUrl?: URL;
}

/** One function as the pool runs it: JavaScript `code`, or the bytes of an Extism plugin (`wasm`). */
export type PoolFunctionSpec = PoolFunctionBase & ({ code: string; wasm?: undefined } | { wasm: Uint8Array; code?: undefined });

interface PoolFunctionBase {
  /** Whose call this is: the unit of fair sharing. */
  tenant: string;
  name: string;
  limits?: Partial<SandboxLimits>;
  /** console / ctx.log (or the plugin's log_*) output of the function, delivered (asynchronously) before the call settles. */
  onLog?: (entry: FunctionLogEntry) => void;
}

export interface FunctionPoolStats {
  size: number;
  busy: number;
  queued: number;
  workersStarted: number;
  /** Workers ended because a call ran over its time, ran out of memory, or left them too big. */
  workersReplaced: number;
}

type Settled = Extract<WorkerReply, { type: 'done' | 'failed' | 'checked' }>;

interface Job {
  tenant: string;
  name: string;
  limitMs: number;
  request: WorkerRequest;
  onLog: ((entry: FunctionLogEntry) => void) | undefined;
  resolve(reply: Settled, ranMs: number): void;
  reject(error: Error): void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  job: Job | undefined;
  startedAt: number;
  watchdog: NodeJS.Timeout | undefined;
}

const DEFAULT_HEAP_MIB = 512;
const DEFAULT_RECYCLE_BYTES = 192 * 1024 * 1024;
const DEFAULT_CACHE_SIZE = 64;
const defaultWatchdog = (limitMs: number): number => limitMs * 1.5 + 25;

function defaultWorkerUrl(): URL {
  if (import.meta.url.endsWith('.js')) return new URL('./pool-worker.js', import.meta.url);
  // Running from the TypeScript sources (jest): workers need JavaScript, the build's copy in dist/.
  return new URL('../../dist/processors/sandbox/pool-worker.js', import.meta.url);
}

/**
 * Runs user functions in worker threads, so a function that spins or allocates can never stall the
 * service's main thread. A call over its time limit is ended by terminating its worker (the sandbox's
 * own interrupt usually ends it first; the main-thread watchdog covers what the interrupt cannot, such
 * as one huge allocation), and a fresh worker takes its place; its memory goes back to the OS with it.
 * Calls are queued per tenant and served round robin (see FairQueue). Each call runs in one worker
 * from start to end; callers that need order (a trigger partition's batches) await each call.
 */
export class FunctionPool {
  readonly size: number;
  private readonly slots: Slot[] = [];
  private readonly queue: FairQueue<Job>;
  private readonly workerUrl: URL;
  private readonly heapMiB: number;
  private readonly recycleAboveBytes: number;
  private readonly cacheSize: number;
  private readonly watchdogMs: (limitMs: number) => number;
  private nextId = 1;
  private closed = false;
  private started = 0;
  private replaced = 0;
  private startFailures = 0;

  constructor(options: FunctionPoolOptions = {}) {
    this.size = Math.max(1, Math.floor(options.size ?? Math.max(2, availableParallelism())));
    this.queue = new FairQueue(this.size);
    this.workerUrl = options.workerUrl ?? defaultWorkerUrl();
    this.heapMiB = options.workerHeapMiB ?? DEFAULT_HEAP_MIB;
    this.recycleAboveBytes = options.recycleAboveBytes ?? DEFAULT_RECYCLE_BYTES;
    this.cacheSize = options.cacheSize ?? DEFAULT_CACHE_SIZE;
    this.watchdogMs = options.watchdogMs ?? defaultWatchdog;
    for (let i = 0; i < this.size; i++) this.slots.push(this.spawn());
  }

  /** A handle that runs `spec` (its sandbox cache key computed once). */
  function(spec: PoolFunctionSpec): PooledFunction {
    return new PooledFunction(this, spec);
  }

  /** Runs one batch; rejects with FunctionError as the in-thread sandbox does. */
  run(spec: PoolFunctionSpec, events: readonly unknown[], ctx: RunContext): Promise<Action[]> {
    return this.function(spec).run(events, ctx);
  }

  /** checkFunctionCode in a worker: loads the function as a call would, without blocking this thread. */
  check(spec: PoolFunctionSpec): Promise<FunctionCheckResult> {
    return this.function(spec).check();
  }

  /** @internal Used by PooledFunction. */
  submit(
    tenant: string,
    name: string,
    limitMs: number,
    request: WorkerRequest,
    onLog: ((entry: FunctionLogEntry) => void) | undefined,
  ): Promise<{ reply: Settled; ranMs: number }> {
    if (this.closed) return Promise.reject(new InternalError('the function pool is closed'));
    return new Promise<{ reply: Settled; ranMs: number }>((resolve, reject) => {
      this.queue.push(tenant, { tenant, name, limitMs, request, onLog, resolve: (reply, ranMs) => resolve({ reply, ranMs }), reject });
      this.holdProcess();
      this.dispatch();
    });
  }

  /** @internal */
  newId(): number {
    return this.nextId++;
  }

  stats(): FunctionPoolStats {
    return {
      size: this.size,
      busy: this.slots.filter((s) => s.job).length,
      queued: this.queue.waiting,
      workersStarted: this.started,
      workersReplaced: this.replaced,
    };
  }

  /** Ends every worker; queued and running calls reject. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const error = new InternalError('the function pool is closed');
    for (const job of this.queue.drain()) job.reject(error);
    const slots = this.slots.splice(0);
    for (const slot of slots) this.endJob(slot)?.reject(error);
    await Promise.all(slots.map((slot) => slot.worker.terminate()));
  }

  private spawn(): Slot {
    const data: WorkerData = { cacheSize: this.cacheSize };
    const worker = new Worker(this.workerUrl, { workerData: data, resourceLimits: { maxOldGenerationSizeMb: this.heapMiB, stackSizeMb: 4 } });
    const slot: Slot = { worker, ready: false, job: undefined, startedAt: 0, watchdog: undefined };
    this.started++;
    let failure: Error | undefined;
    worker.on('message', (message: unknown) => this.onReply(slot, message));
    worker.on('error', (error) => (failure = error));
    worker.once('exit', (code) => this.onExit(slot, code, failure));
    if (!this.hasWork()) worker.unref();
    return slot;
  }

  private onReply(slot: Slot, message: unknown): void {
    const parsed = workerReplySchema.safeParse(message);
    if (!parsed.success) {
      this.replace(slot, new InternalError(`function worker sent an invalid message: ${parsed.error.message}`));
      return;
    }
    const reply = parsed.data;
    if (reply.type === 'ready') {
      slot.ready = true;
      this.startFailures = 0;
      this.dispatch();
      return;
    }
    const job = slot.job;
    if (!job || reply.id !== job.request.id) return;
    if (reply.type === 'log') {
      try {
        job.onLog?.({ functionName: job.name, level: reply.level, message: reply.message });
      } catch {
        // A faulty log sink must not fail the function.
      }
      return;
    }
    const ranMs = performance.now() - slot.startedAt;
    this.endJob(slot);
    job.resolve(reply, ranMs);
    // The sandbox recovers from its own timeouts; memory exhaustion leaves a grown heap worth returning at once.
    const spent = reply.type === 'failed' && reply.error.kind === 'memory';
    if (spent || reply.wasmBytes > this.recycleAboveBytes) this.replace(slot);
    else this.dispatch();
  }

  private onExit(slot: Slot, code: number, failure: Error | undefined): void {
    const index = this.slots.indexOf(slot);
    if (index === -1) return;
    const job = this.endJob(slot);
    if (job) {
      const outOfMemory = (failure as { code?: string } | undefined)?.code === 'ERR_WORKER_OUT_OF_MEMORY';
      job.reject(
        new FunctionError({
          kind: outOfMemory ? 'memory' : 'runtime',
          functionName: job.name,
          // The worker died under the call, not necessarily because of the events.
          retriable: true,
          message: outOfMemory
            ? `its worker ran out of heap (${this.heapMiB} MiB for events and actions)`
            : `its worker stopped unexpectedly (exit code ${code}${failure ? `: ${failure.message}` : ''})`,
        }),
      );
    }
    this.slots.splice(index, 1);
    if (this.closed) return;
    if (!slot.ready) {
      this.failedStart(failure ?? new ChangeflowError(`exit code ${code}`, { code: 'FUNCTION_WORKER' }));
      return;
    }
    this.replaced++;
    this.slots.push(this.spawn());
    this.dispatch();
  }

  /**
   * A worker that dies before it is ready (its script missing or broken) would die again at once:
   * fail what waits, and try again with backoff instead of respawning in a loop.
   */
  private failedStart(failure: Error): void {
    this.startFailures++;
    const error = new ChangeflowError(`function worker failed to start (${this.workerUrl.href}): ${failure.message}`);
    for (const job of this.queue.drain()) job.reject(error);
    const delay = Math.min(30_000, 100 * 2 ** (this.startFailures - 1));
    setTimeout(() => {
      if (this.closed) return;
      this.slots.push(this.spawn());
    }, delay).unref();
  }

  /** Ends the slot's worker (rejecting its call with `error` if it has one) and starts a fresh one. */
  private replace(slot: Slot, error?: Error): void {
    const index = this.slots.indexOf(slot);
    if (index === -1) return;
    const job = this.endJob(slot);
    if (job) job.reject(error ?? new ChangeflowError('function worker replaced', { code: 'FUNCTION_WORKER' }));
    this.slots.splice(index, 1);
    void slot.worker.terminate();
    if (this.closed) return;
    this.replaced++;
    this.slots.push(this.spawn());
    this.dispatch();
  }

  private endJob(slot: Slot): Job | undefined {
    const job = slot.job;
    if (slot.watchdog) clearTimeout(slot.watchdog);
    slot.watchdog = undefined;
    slot.job = undefined;
    if (job) this.queue.finished(job.tenant);
    this.holdProcess();
    return job;
  }

  private hasWork(): boolean {
    return this.queue.waiting > 0 || this.slots.some((s) => s.job);
  }

  /** Idle workers must not keep the process alive; workers with calls to answer must. */
  private holdProcess(): void {
    const hold = this.hasWork();
    for (const slot of this.slots) {
      if (hold) slot.worker.ref();
      else slot.worker.unref();
    }
  }

  private dispatch(): void {
    if (this.closed) return;
    for (const slot of this.slots) {
      if (!slot.ready || slot.job) continue;
      const next = this.queue.take();
      if (!next) return;
      this.start(slot, next.item);
    }
  }

  private start(slot: Slot, job: Job): void {
    slot.job = job;
    slot.startedAt = performance.now();
    slot.watchdog = setTimeout(() => {
      const elapsed = Math.round(performance.now() - slot.startedAt);
      this.replace(
        slot,
        new FunctionError({
          kind: 'timeout',
          functionName: job.name,
          message: `exceeded the CPU time limit of ${job.limitMs} ms (its worker was stopped after ${elapsed} ms)`,
        }),
      );
    }, this.watchdogMs(job.limitMs));
    slot.worker.postMessage(job.request);
  }
}

/** One function bound to a pool: what a trigger runtime or an API call holds. */
export class PooledFunction {
  private readonly key: string;
  private readonly limits: SandboxLimits;

  constructor(
    private readonly pool: FunctionPool,
    private readonly spec: PoolFunctionSpec,
  ) {
    this.limits = resolveLimits(spec.limits);
    const body = spec.wasm === undefined ? ['js', spec.code] : ['wasm', spec.wasm];
    // The tenant is part of the key: a cached instance keeps module-level state (JavaScript globals, a
    // plugin's linear memory) between calls, which must never pass from one tenant to another.
    const hash = createHash('sha256').update(spec.tenant).update('\0').update(spec.name).update('\0');
    for (const part of body) hash.update(part).update('\0');
    this.key = hash.update(JSON.stringify(this.limits)).digest('base64url');
  }

  /** The function's body as the worker protocol carries it. */
  private get source(): { code: string; wasm?: Uint8Array } {
    return this.spec.wasm === undefined ? { code: this.spec.code } : { code: '', wasm: this.spec.wasm };
  }

  get name(): string {
    return this.spec.name;
  }

  async run(events: readonly unknown[], ctx: RunContext): Promise<Action[]> {
    const request: WorkerRequest = {
      type: 'run',
      id: this.pool.newId(),
      key: this.key,
      name: this.spec.name,
      ...this.source,
      limits: this.limits,
      events: events as unknown[],
      trigger: ctx.trigger,
      ...(ctx.now === undefined ? {} : { now: ctx.now }),
      ...(ctx.sinkNames ? { sinkNames: [...ctx.sinkNames] } : {}),
    };
    const { reply, ranMs } = await this.pool.submit(this.spec.tenant, this.spec.name, this.limits.cpuTimeMs, request, this.spec.onLog);
    ctx.onRunTime?.(ranMs / 1000);
    if (reply.type === 'failed') throw new FunctionError(reply.error);
    if (reply.type !== 'done') throw new InternalError(`function worker answered a run with "${reply.type}"`);
    // Validated by validateActions in the worker (see pool-protocol.ts).
    return reply.actions as Action[];
  }

  async check(): Promise<FunctionCheckResult> {
    const request: WorkerRequest = { type: 'check', id: this.pool.newId(), key: this.key, name: this.spec.name, ...this.source, limits: this.limits };
    let reply: Settled;
    try {
      ({ reply } = await this.pool.submit(this.spec.tenant, this.spec.name, this.limits.cpuTimeMs, request, undefined));
    } catch (error) {
      // The watchdog ended the module's top level (or it exhausted its worker).
      if (error instanceof FunctionError) return { ok: false, message: error.details.message, phase: 'evaluate' };
      throw error;
    }
    if (reply.type !== 'checked') throw new InternalError(`function worker answered a check with "${reply.type}"`);
    return reply.result;
  }
}

let shared: FunctionPool | undefined;

/** The process-wide pool (created on first use, default size); closeSharedFunctionPool() ends it. */
export function sharedFunctionPool(): FunctionPool {
  shared ??= new FunctionPool();
  return shared;
}

export async function closeSharedFunctionPool(): Promise<void> {
  const pool = shared;
  shared = undefined;
  await pool?.close();
}
