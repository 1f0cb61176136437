import { z } from 'zod';
import { nameSchema } from '../core/names.js';
import { changeOperations } from '../schemas/envelope.js';
import { MatchFilterError, compileMatch } from './match-filter.js';
import { retrySettingsSchema } from '../core/retry-settings.js';

export const triggerSourceSchema = z.union([
  z.strictObject({ topic: z.string().min(1) }),
  z.strictObject({ db: z.string().min(1), coll: z.string().min(1).optional() }),
]);

/** A sink as written in a trigger: its name, its kind and the kind's own options (checked against the sink registry). */
export const sinkRefSchema = z.looseObject({
  name: nameSchema,
  kind: z.string().min(1),
});

/** An operation of the change-event envelope (schemas/envelope.ts). */
export const operationTypeSchema = z.string().refine((op) => (changeOperations as readonly string[]).includes(op), {
  error: (issue) => `"${String(issue.input)}" is not an operation type; allowed: ${changeOperations.join(', ')}`,
});

/** A `match` checked exactly as the processor compiles it, so a config `run` would refuse is refused at load. */
export const matchSchema = z.record(z.string(), z.unknown()).superRefine((match, ctx) => {
  try {
    compileMatch(match);
  } catch (error) {
    if (!(error instanceof MatchFilterError)) throw error;
    ctx.addIssue({ code: 'custom', path: error.path === '' ? [] : [error.path], message: error.reason });
  }
});

export const triggerConfigSchema = z.strictObject({
  name: nameSchema,
  source: triggerSourceSchema,
  operationTypes: z.array(operationTypeSchema).min(1).optional(),
  /** A MongoDB-style filter over the change event, evaluated in the processor (allowed operators only). */
  match: matchSchema.optional(),
  function: nameSchema.optional(),
  sinks: z.array(sinkRefSchema).min(1, { error: 'a trigger needs at least one sink' }),
  batch: z
    .strictObject({
      maxSize: z.number().int().positive().default(500),
      maxWaitMs: z.number().int().nonnegative().default(100),
      /**
       * Wait for `maxWaitMs` even when the partition has nothing more to read. Off by default: a batch
       * that has caught up with the partition goes at once, because waiting only adds latency.
       */
      lingerWhenCaughtUp: z.boolean().optional(),
    })
    .default({ maxSize: 500, maxWaitMs: 100 }),
  ordering: z.enum(['ordered', 'unordered']).default('ordered'),
  retry: retrySettingsSchema,
  enabled: z.boolean().default(true),
});
export type TriggerConfig = z.output<typeof triggerConfigSchema>;
