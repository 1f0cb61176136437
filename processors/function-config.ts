import { z } from 'zod';
import { nameSchema } from '../core/names.js';

export const functionConfigSchema = z
  .strictObject({
    name: nameSchema,
    code: z.string().optional(),
    file: z.string().optional(),
    limits: z
      .strictObject({
        memoryMiB: z.number().positive().default(32),
        timeoutMs: z.number().int().positive().default(1_000),
      })
      .default({ memoryMiB: 32, timeoutMs: 1_000 }),
  })
  .refine((f) => (f.code === undefined) !== (f.file === undefined), { error: 'give exactly one of code or file' });
export type FunctionConfig = z.output<typeof functionConfigSchema>;
