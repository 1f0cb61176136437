import { z } from 'zod';
import { nameSchema } from '../../core/names.js';
import { pipelineProblem } from './pipeline.js';

const namespaceShape = (example: { db: string; coll: string }) => ({
  db: z.string().min(1).meta({ description: 'Database name.', example: example.db }),
  coll: z.string().min(1).meta({ description: 'Collection name.', example: example.coll }),
});

/** A pipeline checked exactly as the view compiles it, so a stage the view cannot keep is refused at load with its position. */
export const viewPipelineSchema = z.array(z.record(z.string(), z.unknown())).superRefine((stages, ctx) => {
  const problem = pipelineProblem(stages);
  if (problem) ctx.addIssue({ code: 'custom', message: problem.message });
});

export const viewConfigSchema = z.strictObject({
  name: nameSchema.meta({
    description: 'Unique among views; its change feed is `<prefix>.view.<name>` and its consumer group `<prefix>.view.<name>.<generation>` (docs/views.md).',
    example: 'per-chat',
  }),
  source: z.strictObject(namespaceShape({ db: 'chat', coll: 'messages' })).meta({
    description: 'The collection the pipeline reads: a source of this file must watch it (the view reads that source’s topic).',
    example: { db: 'chat', coll: 'messages' },
  }),
  pipeline: viewPipelineSchema.meta({
    description:
      'Aggregation stages, kept incrementally: `$match`, `$project`, `$addFields`, `$set`, `$unset`, `$replaceRoot`, `$unwind`, one `$lookup` (localField/foreignField, same database; a source must watch that collection too), one `$group` (a `$sort` right before it orders `$first`/`$last`/`$push`); anything else is refused at load (docs/views.md).',
    example: [{ $match: { deleted: { $ne: true } } }, { $group: { _id: '$chat', n: { $sum: 1 } } }],
  }),
  target: z
    .strictObject({
      ...namespaceShape({ db: 'chat_views', coll: 'per_chat' }),
      uri: z
        .string()
        .startsWith('mongodb', { error: 'expected a MongoDB connection string (mongodb:// or mongodb+srv://)' })
        .optional()
        .meta({ description: 'Server of the target (default: the metadata store’s, `mongodb.uri`).', example: 'mongodb://views-host/', secret: true }),
    })
    .meta({
      description: 'Collection holding the rows (`_id` = row key); its state lives beside it in `<coll>.__state`.',
      example: { db: 'chat_views', coll: 'per_chat' },
    }),
  enabled: z.boolean().default(true).meta({ description: 'A disabled view keeps its target, state and positions and does not consume.' }),
});
export type ViewConfig = z.output<typeof viewConfigSchema>;
