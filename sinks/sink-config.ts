import { z } from 'zod';
import { nameSchema } from '../core/names.js';
import { retrySettingsSchema } from '../core/retry-settings.js';

/**
 * The schema of a sink entry in a trigger: `{ name, kind, ...options }`. Strict, so a misspelt option
 * is reported by key path instead of being ignored.
 */
export function sinkEntrySchema<K extends string, T extends z.ZodRawShape>(kind: K, shape: T) {
  return z.strictObject({
    name: nameSchema.meta({ description: "The sink's name within the trigger; function actions address it as `sink`.", example: 'copy' }),
    kind: z.literal(kind),
    ...shape,
  });
}

/** Retry/backoff knobs of sinks that retry by themselves (HTTP): the same as a trigger's. */
export { retrySettingsSchema };
