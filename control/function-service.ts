import { status } from '@grpc/grpc-js';
import { z } from 'zod';
import type { Filter } from 'mongodb';
import { FunctionError, sharedFunctionPool, type FunctionCheckResult, type FunctionLogEntry, type FunctionPool } from '../processors/sandbox/index.js';
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
const MAX_WASM_BYTES = 8 * 1024 * 1024;
const MAX_TEST_EVENTS = 1_000;

/** Node has WebAssembly; this project's `lib` setting (no DOM) just does not declare it. */
const wasmValidator = (globalThis as unknown as { WebAssembly: { validate(bytes: Uint8Array): boolean } }).WebAssembly;

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
   * Refuses code that cannot run: JavaScript that does not load as a call would load it (syntax, a
   * throwing module, no function exported; checked in the function pool, never on this thread), and
   * bytes that are not WebAssembly.
   */
  private async checkCode(principal: Principal, code: { javascript: string } | { wasm: Uint8Array }, name: string, root: string): Promise<void> {
    if ('javascript' in code) {
      if (Buffer.byteLength(code.javascript, 'utf8') > MAX_JAVASCRIPT_BYTES)
        throw invalidArgument(`${root}javascript: at most ${MAX_JAVASCRIPT_BYTES} bytes of source`);
      const result = await this.pool.check({ tenant: principal.userId, name, code: code.javascript });
      if (!result.ok) throw invalidArgument(`${root}javascript: ${checkFailure(result)}`);
      return;
    }
    if (code.wasm.length > MAX_WASM_BYTES) throw invalidArgument(`${root}wasm: at most ${MAX_WASM_BYTES} bytes`);
    if (!wasmValidator.validate(code.wasm)) throw invalidArgument(`${root}wasm: not a valid WebAssembly module`);
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
    await this.checkCode(principal, code, input.name, 'function.');
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
    if (code) {
      await this.checkCode(principal, code, existing.name, '');
      if ('wasm' in code) {
        const users = await this.store.triggers.countDocuments({ function_id: existing._id });
        if (users > 0) throw failedPrecondition(`wasm: function "${existing.name}" is used by ${users} trigger(s), and WebAssembly cannot run here yet`);
      }
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
    let code = input.javascript;
    let limits = { memoryMiB: DEFAULT_MEMORY_MIB, timeoutMs: DEFAULT_TIMEOUT_MS };
    if (code === '') {
      if (input.id === '') throw invalidArgument('id: required (or javascript, to test code that is not saved)');
      const fn = await this.store.getFunction(principal, input.id);
      if (fn.func.javascript === undefined) throw new ApiError(status.UNIMPLEMENTED, `function "${fn.name}" is WebAssembly, which cannot run here yet`);
      [name, code] = [fn.name, fn.func.javascript];
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
      const pooled = this.pool.function({
        tenant: principal.userId,
        name,
        code,
        limits: { memoryLimitBytes: limits.memoryMiB * 1024 * 1024, cpuTimeMs: limits.timeoutMs },
        onLog,
      });
      const actions = await pooled.run(events, { trigger: 'test', now: Date.now(), ...(input.sink_names.length > 0 ? { sinkNames: input.sink_names } : {}) });
      reply.actions_json = JSON.stringify(actions);
    } catch (error) {
      if (!(error instanceof FunctionError)) throw error;
      Object.assign(reply, { error: error.message, error_kind: error.kind, line: error.line ?? 0, column: error.column ?? 0 });
    }
    return reply;
  }
}
