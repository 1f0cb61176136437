import { status } from '@grpc/grpc-js';
import { z } from 'zod';
import type { Filter } from 'mongodb';
import {
  FunctionError,
  MAX_WASM_MODULE_BYTES,
  sharedFunctionPool,
  type FunctionCheckResult,
  type FunctionLogEntry,
  type FunctionPool,
  type PoolFunctionSpec,
} from '../processors/sandbox/index.js';
import { ApiError, failedPrecondition, fromZodError, invalidArgument } from './api-error.js';
import type { Principal } from './auth.js';
import { defaultFunctionCaps, enforceFunctionCaps, type FunctionCapsOf } from './function-caps.js';
import { FUNCTION_TYPE, type FunctionDoc } from './documents.js';
import {
  DEFAULT_MEMORY_MIB,
  DEFAULT_TIMEOUT_MS,
  funcDoc,
  functionInputSchema,
  limitsShape,
  pickCode,
  resolveFunctionType,
  toFunctionMessage,
  type FunctionMessage,
} from './function-messages.js';
import { newId, type MetadataStore } from './store.js';

type FunctionReply = { function: Partial<FunctionMessage> };

const MAX_JAVASCRIPT_BYTES = 1024 * 1024;
const MAX_TEST_EVENTS = 1_000;

const idRequest = z.looseObject({ id: z.string().default('') });

const updateSchema = z.looseObject({
  id: z.string().default(''),
  func: z.string().nullish(),
  wasm: functionInputSchema.shape.wasm,
  javascript: z.string().nullish(),
  ...limitsShape,
});

const querySchema = z.looseObject({
  query: z.looseObject({ user_id: z.string().default(''), name: z.string().default('') }).nullish(),
});

const executeSchema = z.looseObject({
  id: z.string().default(''),
  events_json: z.string().default(''),
  javascript: z.string().default(''),
  wasm: functionInputSchema.shape.wasm,
  sink_names: z.array(z.string()).default([]),
});

export interface ExecuteReply {
  actions_json: string;
  logs: string[];
  error: string;
  error_kind: string;
  line: number;
  column: number;
}

function parse<S extends z.ZodType>(schema: S, value: unknown, root: string): z.output<S> {
  const result = schema.safeParse(value ?? {});
  if (!result.success) throw fromZodError(result.error, root);
  return result.data;
}

/** Why loading the function failed, as the API words it after the field name. */
function checkFailure(result: Extract<FunctionCheckResult, { ok: false }>): string {
  const at = result.line === undefined ? '' : ` (line ${result.line}, column ${result.column ?? 0})`;
  if (result.phase === 'compile') return `does not compile: ${result.message}${at}`;
  if (result.phase === 'export') return result.message;
  return `fails while its module loads: ${result.message}${at}`;
}

export interface FunctionServiceOptions {
  /** Where functions are checked and executed. Default the process-wide sharedFunctionPool(). */
  pool?: () => FunctionPool;
  /** The largest timeout_ms / memory_mib a caller may set or execute with. Default defaultFunctionCaps. */
  caps?: FunctionCapsOf;
}

/** The trigger API's FunctionService (plus `execute`, a test run), every call scoped to the caller. */
export class FunctionService {
  private readonly caps: FunctionCapsOf;
  private readonly explicitPool: (() => FunctionPool) | undefined;

  constructor(
    private readonly store: MetadataStore,
    options: FunctionServiceOptions = {},
  ) {
    this.caps = options.caps ?? defaultFunctionCaps;
    this.explicitPool = options.pool;
  }

  private get pool(): FunctionPool {
    return this.explicitPool?.() ?? sharedFunctionPool();
  }

  /**
   * Refuses code that cannot run, as loading it for a call would (both checked in the function pool,
   * never on this thread): JavaScript that does not parse, throws while its module loads or exports no
   * function; a module over 8 MiB, not WebAssembly, without a `handle` function, importing anything
   * but Extism host functions, with a memory that cannot be capped, or failing to instantiate.
   */
  private async checkCode(
    principal: Principal,
    code: { javascript: string } | { wasm: Uint8Array },
    name: string,
    root: string,
    limits: { memory_mib: number; timeout_ms: number },
  ): Promise<void> {
    if ('javascript' in code) {
      if (Buffer.byteLength(code.javascript, 'utf8') > MAX_JAVASCRIPT_BYTES)
        throw invalidArgument(`${root}javascript: at most ${MAX_JAVASCRIPT_BYTES} bytes of source`);
      const result = await this.pool.check({ tenant: principal.userId, name, code: code.javascript });
      if (!result.ok) throw invalidArgument(`${root}javascript: ${checkFailure(result)}`);
      return;
    }
    if (code.wasm.length > MAX_WASM_MODULE_BYTES) throw invalidArgument(`${root}wasm: at most ${MAX_WASM_MODULE_BYTES} bytes (8 MiB), got ${code.wasm.length}`);
    const memoryMiB = limits.memory_mib || DEFAULT_MEMORY_MIB;
    const result = await this.pool.check({
      tenant: principal.userId,
      name,
      wasm: code.wasm,
      limits: { memoryLimitBytes: memoryMiB * 1024 * 1024, cpuTimeMs: limits.timeout_ms || DEFAULT_TIMEOUT_MS },
    });
    if (!result.ok) throw invalidArgument(`${root}wasm: ${result.message}`);
  }

  async create(principal: Principal, request: { function?: unknown }): Promise<FunctionReply> {
    if (!request.function) throw invalidArgument('function: required');
    const input = parse(functionInputSchema, request.function, 'function');
    const owner = input.user_id || principal.userId;
    if (owner !== principal.userId && !principal.admin)
      throw new ApiError(status.PERMISSION_DENIED, `function.user_id: you may only create functions for yourself ("${principal.userId}")`);
    const code = pickCode(input);
    if (!code) throw invalidArgument("function.javascript: required (the function's source; or function.wasm for a WebAssembly module)");
    const type = resolveFunctionType(input.function_type, code);
    if (typeof type === 'string') throw invalidArgument(`function.function_type: ${type}`);
    enforceFunctionCaps(this.caps(principal), input, 'function.');
    await this.checkCode(principal, code, input.name, 'function.', input);
    const now = new Date();
    const doc: FunctionDoc = {
      _id: newId(),
      user_id: owner,
      name: input.name,
      function_type: type,
      func: funcDoc(code),
      memory_mib: input.memory_mib || DEFAULT_MEMORY_MIB,
      timeout_ms: input.timeout_ms || DEFAULT_TIMEOUT_MS,
      created_at: now,
      updated_at: now,
    };
    return { function: toFunctionMessage(await this.store.insertFunction(doc)) };
  }

  async update(principal: Principal, request: unknown): Promise<FunctionReply> {
    const input = parse(updateSchema, request, '');
    enforceFunctionCaps(this.caps(principal), input, '');
    const existing = await this.store.getFunction(principal, input.id);
    const set: Partial<FunctionDoc> = {};
    const code = pickCode(input);
    const limits = {
      memory_mib: input.memory_mib || (existing.memory_mib ?? DEFAULT_MEMORY_MIB),
      timeout_ms: input.timeout_ms || (existing.timeout_ms ?? DEFAULT_TIMEOUT_MS),
    };
    // A lower memory_mib alone can leave a stored module's initial memory above it: check that too.
    if (!code && input.memory_mib && existing.func.wasm !== undefined) {
      await this.checkCode(principal, { wasm: existing.func.wasm.buffer.subarray(0, existing.func.wasm.length()) }, existing.name, '', limits);
    }
    if (code) {
      await this.checkCode(principal, code, existing.name, '', limits);
      set.func = funcDoc(code);
      set.function_type = 'javascript' in code ? FUNCTION_TYPE.JAVASCRIPT : FUNCTION_TYPE.WASM;
    }
    if (input.memory_mib) set.memory_mib = input.memory_mib;
    if (input.timeout_ms) set.timeout_ms = input.timeout_ms;
    if (Object.keys(set).length === 0) throw invalidArgument('nothing to update: give javascript (or wasm), memory_mib or timeout_ms');
    return { function: toFunctionMessage(await this.store.updateFunction(principal, input.id, set)) };
  }

  async delete(principal: Principal, request: unknown): Promise<FunctionReply> {
    const { id } = parse(idRequest, request, '');
    return { function: toFunctionMessage(await this.store.deleteFunction(principal, id)) };
  }

  async get(principal: Principal, request: unknown): Promise<FunctionReply> {
    const { id } = parse(idRequest, request, '');
    return { function: toFunctionMessage(await this.store.getFunction(principal, id)) };
  }

  async *query(principal: Principal, request: unknown): AsyncGenerator<Partial<FunctionMessage>> {
    const q = parse(querySchema, request, '').query;
    const filter: Filter<FunctionDoc> = {};
    if (q?.user_id) filter.user_id = q.user_id;
    if (!principal.admin) {
      if (q?.user_id && q.user_id !== principal.userId) return;
      filter.user_id = principal.userId;
    }
    if (q?.name) filter.name = q.name;
    for await (const doc of this.store.findFunctions(filter)) yield toFunctionMessage(doc);
  }

  /**
   * A test run: the stored function (or `javascript` given in the request) on sample events, in the
   * same function pool and limits the processors use (never on this thread). A failure of the function is a reply with `error`
   * set (the call itself worked); a bad request is INVALID_ARGUMENT.
   */
  async execute(principal: Principal, request: unknown): Promise<ExecuteReply> {
    const input = parse(executeSchema, request, '');
    let name = 'test';
    let code: { code: string } | { wasm: Uint8Array } | undefined = input.javascript !== '' ? { code: input.javascript } : undefined;
    if (!code && input.wasm && input.wasm.length > 0) {
      if (input.wasm.length > MAX_WASM_MODULE_BYTES) throw invalidArgument(`wasm: at most ${MAX_WASM_MODULE_BYTES} bytes (8 MiB), got ${input.wasm.length}`);
      code = { wasm: input.wasm };
    }
    let limits = { memoryMiB: DEFAULT_MEMORY_MIB, timeoutMs: DEFAULT_TIMEOUT_MS };
    if (!code) {
      if (input.id === '') throw invalidArgument('id: required (or javascript / wasm, to test code that is not saved)');
      const fn = await this.store.getFunction(principal, input.id);
      if (fn.func.wasm !== undefined) code = { wasm: fn.func.wasm.buffer.subarray(0, fn.func.wasm.length()) };
      else if (fn.func.javascript !== undefined) code = { code: fn.func.javascript };
      else throw failedPrecondition(`function "${fn.name}" has no code`);
      name = fn.name;
      limits = { memoryMiB: fn.memory_mib ?? DEFAULT_MEMORY_MIB, timeoutMs: fn.timeout_ms ?? DEFAULT_TIMEOUT_MS };
      // Stored before the caps were lowered, or set by an admin: a caller runs it only within its own caps.
      enforceFunctionCaps(this.caps(principal), { timeout_ms: limits.timeoutMs, memory_mib: limits.memoryMiB }, `function "${fn.name}" `);
    }
    let events: unknown[] = [];
    if (input.events_json.trim() !== '') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(input.events_json);
      } catch (error) {
        throw invalidArgument(`events_json: not JSON (${error instanceof Error ? error.message : String(error)})`);
      }
      if (!Array.isArray(parsed)) throw invalidArgument('events_json: expected a JSON array of events, e.g. [{"op":"insert","fullDocument":{...}}]');
      if (parsed.length > MAX_TEST_EVENTS) throw invalidArgument(`events_json: at most ${MAX_TEST_EVENTS} events per test run`);
      events = parsed;
    }
    const logs: string[] = [];
    const onLog = (entry: FunctionLogEntry): void => void logs.push(`${entry.level}: ${entry.message}`);
    const reply: ExecuteReply = { actions_json: '', logs, error: '', error_kind: '', line: 0, column: 0 };
    try {
      const spec: PoolFunctionSpec = {
        tenant: principal.userId,
        name,
        ...code,
        limits: { memoryLimitBytes: limits.memoryMiB * 1024 * 1024, cpuTimeMs: limits.timeoutMs },
        onLog,
      };
      const pooled = this.pool.function(spec);
      const actions = await pooled.run(events, { trigger: 'test', now: Date.now(), ...(input.sink_names.length > 0 ? { sinkNames: input.sink_names } : {}) });
      reply.actions_json = JSON.stringify(actions);
    } catch (error) {
      if (!(error instanceof FunctionError)) throw error;
      Object.assign(reply, { error: error.message, error_kind: error.kind, line: error.line ?? 0, column: error.column ?? 0 });
    }
    return reply;
  }
}
