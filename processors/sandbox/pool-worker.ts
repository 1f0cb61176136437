/**
 * Entry of a FunctionPool worker thread: runs JavaScript functions in the ordinary FunctionSandbox and
 * WebAssembly ones as Extism plugins (wasm/worker-plugins.ts), one call at a time, and answers over
 * the pool protocol. Loaded by the pool from the built file (dist/).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { checkFunctionCode } from './check.js';
import { quickjs } from './engine.js';
import { FunctionError } from './errors.js';
import { workerDataSchema, workerRequestSchema, type CheckRequest, type RunRequest, type WorkerReply } from './pool-protocol.js';
import { FunctionSandbox, type FunctionLogEntry } from './sandbox.js';
import { WorkerPlugins } from './wasm/worker-plugins.js';
import { InternalError } from '../../core/errors.js';

const port = parentPort;
if (!port) throw new InternalError('pool-worker.js runs only as a worker thread of a FunctionPool');
const { cacheSize } = workerDataSchema.parse(workerData);

/** Compiled sandboxes by function key, least recently used first. */
const sandboxes = new Map<string, FunctionSandbox>();
/** The call whose console output is being forwarded (calls run one at a time). */
let currentId = -1;

function send(reply: WorkerReply): void {
  port?.postMessage(reply);
}

function forwardLog(entry: FunctionLogEntry): void {
  send({ type: 'log', id: currentId, level: entry.level, message: entry.message });
}

const plugins = new WorkerPlugins(cacheSize, forwardLog);

function wasmBytes(): number {
  return quickjs.getWasmMemory().buffer.byteLength + plugins.memoryBytes();
}

function sandboxFor(request: RunRequest): FunctionSandbox {
  const cached = sandboxes.get(request.key);
  if (cached) {
    sandboxes.delete(request.key);
    sandboxes.set(request.key, cached);
    return cached;
  }
  const sandbox = new FunctionSandbox({ name: request.name, code: request.code, limits: request.limits, onLog: forwardLog });
  sandboxes.set(request.key, sandbox);
  for (const [key, old] of sandboxes) {
    if (sandboxes.size <= cacheSize) break;
    sandboxes.delete(key);
    old.dispose();
  }
  return sandbox;
}

function run(request: RunRequest): void {
  try {
    const sandbox = sandboxFor(request);
    const ctx = {
      trigger: request.trigger,
      ...(request.now === undefined ? {} : { now: request.now }),
      ...(request.sinkNames ? { sinkNames: request.sinkNames } : {}),
    };
    const actions = sandbox.runSync(request.events, ctx);
    send({ type: 'done', id: request.id, actions, wasmBytes: wasmBytes() });
  } catch (error) {
    const details =
      error instanceof FunctionError
        ? error.details
        : { kind: 'runtime' as const, functionName: request.name, message: `sandbox failure: ${error instanceof Error ? error.message : String(error)}` };
    send({ type: 'failed', id: request.id, error: details, wasmBytes: wasmBytes() });
  }
}

function check(request: CheckRequest): void {
  const result = checkFunctionCode(request.code, request.name, request.limits);
  send({ type: 'checked', id: request.id, result, wasmBytes: wasmBytes() });
}

async function runPlugin(request: RunRequest & { wasm: Uint8Array }): Promise<void> {
  const result = await plugins.run(request);
  if ('actions' in result) send({ type: 'done', id: request.id, actions: result.actions, wasmBytes: wasmBytes() });
  else send({ type: 'failed', id: request.id, error: result.error, wasmBytes: wasmBytes() });
}

async function checkPlugin(request: CheckRequest & { wasm: Uint8Array }): Promise<void> {
  const result = await plugins.check(request);
  send({ type: 'checked', id: request.id, result, wasmBytes: wasmBytes() });
}

/** Plugin calls are asynchronous (instantiation is); chained, so log forwarding keeps one current call. */
let pluginCalls = Promise.resolve();

port.on('message', (message: unknown) => {
  const request = workerRequestSchema.parse(message);
  const wasm = request.wasm;
  if (wasm !== undefined) {
    pluginCalls = pluginCalls.then(async () => {
      currentId = request.id;
      try {
        await (request.type === 'run' ? runPlugin({ ...request, wasm }) : checkPlugin({ ...request, wasm }));
      } catch (error) {
        const reason = `plugin host failure: ${error instanceof Error ? error.message : String(error)}`;
        if (request.type === 'run')
          send({ type: 'failed', id: request.id, error: { kind: 'runtime', functionName: request.name, message: reason }, wasmBytes: wasmBytes() });
        else send({ type: 'checked', id: request.id, result: { ok: false, message: reason, phase: 'evaluate' }, wasmBytes: wasmBytes() });
      }
      currentId = -1;
    });
    return;
  }
  currentId = request.id;
  if (request.type === 'run') run(request);
  else check(request);
  currentId = -1;
});

send({ type: 'ready' });
