import { z } from 'zod';
import { nameSchema } from '../core/names.js';

export const functionConfigSchema = z
  .strictObject({
    name: nameSchema,
    code: z.string().optional(),
    file: z.string().optional(),
    /** Path of an Extism plugin module (.wasm), relative to the config file. */
    wasm: z.string().min(1).optional(),
    limits: z
      .strictObject({
        memoryMiB: z.number().positive().default(32),
        timeoutMs: z.number().int().positive().default(1_000),
      })
      .default({ memoryMiB: 32, timeoutMs: 1_000 }),
  })
  .refine((f) => [f.code, f.file, f.wasm].filter((v) => v !== undefined).length === 1, { error: 'give exactly one of code, file or wasm' });

export type FunctionConfig = z.output<typeof functionConfigSchema> & {
  /** The module at `wasm:`, read and checked by the config loader. */
  wasmBytes?: Uint8Array;
};
