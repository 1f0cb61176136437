import { z } from 'zod';

/**
 * Messages between the FunctionPool (main thread) and its workers (pool-worker.ts). Both sides parse
 * what they receive with these schemas, so a mismatch is a clear error instead of a wrong result.
 */

const limits = z.strictObject({
  memoryLimitBytes: z.number().positive().optional(),
  cpuTimeMs: z.number().positive().optional(),
  maxStackSizeBytes: z.number().positive().optional(),
  maxOutputBytes: z.number().positive().optional(),
  maxLogBytes: z.number().positive().optional(),
});

/**
 * One function as the worker loads it; `key` names its cached sandbox (same key = same code and limits).
 * `code` is JavaScript source; `wasm` (when present, with `code` empty) an Extism plugin module.
 */
const functionSpec = {
  id: z.number().int(),
  key: z.string(),
  name: z.string(),
  code: z.string(),
  wasm: z.custom<Uint8Array>((value) => value instanceof Uint8Array, { error: 'wasm must be a Uint8Array' }).optional(),
  limits,
};

export const runRequestSchema = z.strictObject({
  type: z.literal('run'),
  ...functionSpec,
  events: z.array(z.unknown()),
  trigger: z.string(),
  now: z.number().optional(),
  sinkNames: z.array(z.string()).optional(),
});

export const checkRequestSchema = z.strictObject({ type: z.literal('check'), ...functionSpec });

export const workerRequestSchema = z.discriminatedUnion('type', [runRequestSchema, checkRequestSchema]);
export type WorkerRequest = z.infer<typeof workerRequestSchema>;
export type RunRequest = z.infer<typeof runRequestSchema>;
export type CheckRequest = z.infer<typeof checkRequestSchema>;

export const functionErrorSchema = z.strictObject({
  kind: z.enum(['syntax', 'runtime', 'timeout', 'memory', 'output', 'invalid-actions']),
  functionName: z.string(),
  message: z.string(),
  line: z.number().optional(),
  column: z.number().optional(),
  stack: z.string().optional(),
  retriable: z.boolean().optional(),
});

const checkResultSchema = z.union([
  z.strictObject({ ok: z.literal(true) }),
  z.strictObject({
    ok: z.literal(false),
    message: z.string(),
    line: z.number().optional(),
    column: z.number().optional(),
    phase: z.enum(['compile', 'evaluate', 'export']),
  }),
]);

/** Bytes of the worker's QuickJS and plugin WebAssembly memories after the call: they never shrink, so the pool recycles big workers. */
const wasmBytes = z.number().nonnegative();

export const workerReplySchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('ready') }),
  z.strictObject({ type: z.literal('log'), id: z.number().int(), level: z.enum(['debug', 'info', 'warn', 'error']), message: z.string() }),
  // Actions were validated by the sandbox in the worker (validateActions); the host does not repeat it.
  z.strictObject({ type: z.literal('done'), id: z.number().int(), actions: z.array(z.unknown()), wasmBytes }),
  z.strictObject({ type: z.literal('failed'), id: z.number().int(), error: functionErrorSchema, wasmBytes }),
  z.strictObject({ type: z.literal('checked'), id: z.number().int(), result: checkResultSchema, wasmBytes }),
]);
export type WorkerReply = z.infer<typeof workerReplySchema>;

/** Options the pool passes in workerData. */
export const workerDataSchema = z.strictObject({ cacheSize: z.number().int().positive() });
export type WorkerData = z.infer<typeof workerDataSchema>;
