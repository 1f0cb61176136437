import { z } from 'zod';
import { nameSchema } from '../core/names.js';

/**
 * The schema of a sink entry in a trigger: `{ name, kind, ...options }`. Strict, so a misspelt option
 * is reported by key path instead of being ignored.
 */
export function sinkEntrySchema<K extends string, T extends z.ZodRawShape>(kind: K, shape: T) {
  return z.strictObject({ name: nameSchema, kind: z.literal(kind), ...shape });
}

/** Retry/backoff knobs shared by sinks that retry by themselves (HTTP). */
export const retrySettingsSchema = z
  .strictObject({
    attempts: z.number().int().positive().default(5),
    initialDelayMs: z.number().int().positive().default(200),
    maxDelayMs: z.number().int().positive().default(10_000),
  })
  .default({ attempts: 5, initialDelayMs: 200, maxDelayMs: 10_000 });
