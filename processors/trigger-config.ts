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
  name: nameSchema.meta({ description: 'Unique among triggers; its consumer group is `<prefix>.trigger.<name>`.', example: 'orders-cache' }),
  source: triggerSourceSchema.meta({
    description: "What it reads: `{ db, coll }` (that collection's topic), `{ db }` (every collection topic of the database) or `{ topic }`.",
    example: { db: 'shop', coll: 'orders' },
  }),
  operationTypes: z
    .array(operationTypeSchema)
    .min(1)
    .optional()
    .meta({ description: 'Only events of these operations (default: all).', example: ['insert', 'update', 'replace', 'delete'] }),
  match: matchSchema.optional().meta({
    description: 'A MongoDB-style filter over the change event, evaluated in the processor (allowed operators only; refused at load otherwise).',
    example: { 'fullDocument.status': { $in: ['paid', 'shipped'] } },
  }),
  function: nameSchema
    .optional()
    .meta({ description: 'The function run on each batch (default: events pass through to every sink).', example: 'orders-to-cache' }),
  sinks: z
    .array(sinkRefSchema)
    .min(1, { error: 'a trigger needs at least one sink' })
    .meta({ description: "Named sinks, `{ name, kind, ...the kind's options }` (docs/sinks.md).", example: [{ name: 'cache', kind: 'redis' }] }),
  batch: z
    .strictObject({
      maxSize: z.number().int().positive().default(500).meta({ description: 'Most events per batch (per partition).' }),
      maxWaitMs: z.number().int().nonnegative().default(100).meta({ description: 'Longest wait to fill a batch while the partition has more to read.' }),
      lingerWhenCaughtUp: z.boolean().optional().meta({
        description:
          'Wait for `maxWaitMs` even when the partition has nothing more to read (off: a batch that has caught up goes at once, since waiting only adds latency).',
      }),
    })
    .default({ maxSize: 500, maxWaitMs: 100 })
    .meta({ description: 'How events are grouped into function calls and sink writes.' }),
  ordering: z.enum(['ordered', 'unordered']).default('ordered').meta({
    description:
      'Batches of a partition always run one after the other (per-document order kept); `unordered` also splits each batch by key into 4 groups run side by side, each still in order, for sinks whose latency dominates.',
  }),
  retry: retrySettingsSchema.meta({ description: 'Attempts and backoff of a failing batch before it is bisected and its poison events dead-lettered.' }),
  enabled: z.boolean().default(true).meta({ description: 'A disabled trigger keeps its offsets and does not consume.' }),
});
export type TriggerConfig = z.output<typeof triggerConfigSchema>;
