import { Binary } from 'mongodb';
import { z } from 'zod';
import { nameSchema } from '../core/names.js';
import { FUNCTION_TYPE, type FunctionDoc } from './documents.js';

export const DEFAULT_MEMORY_MIB = 32;
export const DEFAULT_TIMEOUT_MS = 1_000;

/** The wire shape of function.Function (keepCase, enums as numbers, bytes as Buffer). */
export interface FunctionMessage {
  id: string;
  user_id: string;
  name: string;
  function_type: number;
  wasm?: Buffer;
  javascript?: string;
  memory_mib: number;
  timeout_ms: number;
}

const bytes = z.custom<Uint8Array>((v) => v instanceof Uint8Array, { error: 'expected bytes' });

export const limitsShape = {
  memory_mib: z.number().int().min(0).max(1024, { error: 'at most 1024 MiB' }).default(0),
  timeout_ms: z.number().int().min(0).max(60_000, { error: 'at most 60000 ms' }).default(0),
};

export const functionInputSchema = z.looseObject({
  user_id: z.string().default(''),
  name: nameSchema,
  function_type: z.number().int().default(0),
  wasm: bytes.nullish(),
  javascript: z.string().nullish(),
  func: z.string().nullish(),
  ...limitsShape,
});
export type FunctionInput = z.output<typeof functionInputSchema>;

/** The code a request carries, by its `func` oneof (grpc-js names the member that was set in `func`). */
export function pickCode(input: {
  func?: string | null | undefined;
  wasm?: Uint8Array | null | undefined;
  javascript?: string | null | undefined;
}): { javascript: string } | { wasm: Uint8Array } | undefined {
  if (input.func === 'javascript' || (input.func == null && typeof input.javascript === 'string' && input.javascript !== ''))
    return { javascript: input.javascript ?? '' };
  if (input.func === 'wasm' || (input.func == null && input.wasm && input.wasm.length > 0)) return { wasm: input.wasm ?? new Uint8Array() };
  return undefined;
}

/** FUNCTION_TYPE_UNKNOWN is read from the code given; a type that contradicts the code is an error (returned as a message). */
export function resolveFunctionType(declared: number, code: { javascript: string } | { wasm: Uint8Array }): number | string {
  const actual = 'javascript' in code ? FUNCTION_TYPE.JAVASCRIPT : FUNCTION_TYPE.WASM;
  if (declared === FUNCTION_TYPE.UNKNOWN || declared === actual) return actual;
  if (declared !== FUNCTION_TYPE.WASM && declared !== FUNCTION_TYPE.JAVASCRIPT) return 'expected FUNCTION_TYPE_WASM (1) or FUNCTION_TYPE_JAVASCRIPT (2)';
  return declared === FUNCTION_TYPE.WASM
    ? 'FUNCTION_TYPE_WASM needs the `wasm` field (module bytes), not `javascript`'
    : 'FUNCTION_TYPE_JAVASCRIPT needs the `javascript` field (source text), not `wasm`';
}

export function toFunctionMessage(doc: FunctionDoc): Partial<FunctionMessage> {
  const message: Partial<FunctionMessage> = {
    id: doc._id,
    user_id: doc.user_id,
    name: doc.name,
    function_type: doc.function_type,
    memory_mib: doc.memory_mib ?? DEFAULT_MEMORY_MIB,
    timeout_ms: doc.timeout_ms ?? DEFAULT_TIMEOUT_MS,
  };
  if (doc.func.javascript !== undefined) message.javascript = doc.func.javascript;
  else if (doc.func.wasm !== undefined) message.wasm = Buffer.from(doc.func.wasm.buffer);
  return message;
}

export function funcDoc(code: { javascript: string } | { wasm: Uint8Array }): FunctionDoc['func'] {
  return 'javascript' in code ? { javascript: code.javascript } : { wasm: new Binary(code.wasm) };
}
