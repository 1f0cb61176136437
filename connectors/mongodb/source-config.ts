import { z } from 'zod';
import { sourceEntrySchema } from '../source.js';

export const operationTypes = ['insert', 'update', 'replace', 'delete', 'drop', 'rename', 'dropDatabase', 'invalidate'] as const;
export type OperationType = (typeof operationTypes)[number];

export const watchSchema = z
  .strictObject({
    db: z.string().min(1).optional(),
    coll: z.string().min(1).optional(),
  })
  .refine((w) => !(w.coll && !w.db), { error: 'a collection needs its database: give watch.db too' });

/** A MongoDB source: what to watch and how its changes become Kafka records. */
/**
 * The stages a source's `pipeline` may add after `$changeStream`. The source reads each event's `_id`
 * (its resume token), `operationType`, `ns` and `documentKey` to publish it and to resume, so a stage
 * that could reshape the event ($project, $set, $replaceRoot, …) would stall or corrupt the stream the
 * first time it touched one of them (a server refuses a modified `_id` only when the event arrives).
 */
function checkStreamStages(stages: Record<string, unknown>[], ctx: z.RefinementCtx): void {
  stages.forEach((stage, index) => {
    const names = Object.keys(stage);
    const problem = (message: string): void => ctx.addIssue({ code: 'custom', path: [index], message, input: stage });
    if (names.length !== 1) return problem(`a stage is an object with exactly one key, e.g. { $match: { … } }; this one has ${names.length}`);
    const name = names[0] as string;
    if (name === '$match') {
      if (typeof stage[name] !== 'object' || stage[name] === null || Array.isArray(stage[name]))
        problem('$match takes a query document, e.g. { $match: { "fullDocument.region": "eu" } }');
      return;
    }
    if (name === '$changeStreamSplitLargeEvent') {
      if (index !== stages.length - 1) problem('$changeStreamSplitLargeEvent must be the last stage');
      return;
    }
    problem(
      `"${name}" is not allowed: the source reads each event's _id (its resume token), operationType, ns and documentKey, so only $match stages (and $changeStreamSplitLargeEvent as the last one) may be added. Filter with $match here; shape records in a trigger's function`,
    );
  });
}

export const sourceConfigSchema = sourceEntrySchema(z.literal('mongodb').default('mongodb').meta({ description: 'The kind of source.' }), {
  uri: z
    .string()
    .startsWith('mongodb', { error: 'expected a MongoDB connection string (mongodb:// or mongodb+srv://)' })
    .meta({ description: 'Connection string of the cluster to watch.', example: 'mongodb://rs0-a,rs0-b/?replicaSet=rs0', secret: true }),
  watch: watchSchema
    .default({})
    .meta({ description: '`{ db, coll }` = one collection; `{ db }` = a whole database; `{}` = the whole cluster.', example: { db: 'shop', coll: 'orders' } }),
  operationTypes: z
    .array(z.enum(operationTypes))
    .min(1)
    .optional()
    .meta({ description: 'Server-side filter on the operation (default: all).', example: ['insert', 'update', 'replace', 'delete'] }),
  pipeline: z
    .array(z.record(z.string(), z.unknown()))
    .default([])
    .superRefine(checkStreamStages)
    .meta({
      description: "Extra `$match` stages applied server-side, in MongoDB's change-event field names; `$changeStreamSplitLargeEvent` may be the last stage.",
      example: [{ $match: { 'fullDocument.region': 'eu' } }],
    }),
  fullDocument: z
    .enum(['default', 'updateLookup', 'whenAvailable', 'required'])
    .default('updateLookup')
    .meta({ description: "The change stream's `fullDocument` option: `updateLookup` looks the document up for updates." }),
  fullDocumentBeforeChange: z
    .enum(['off', 'whenAvailable', 'required'])
    .default('off')
    .meta({ description: 'Pre-images (the collection needs `changeStreamPreAndPostImages`).' }),
  snapshot: z
    .enum(['initial', 'never', 'when_needed'])
    .default('never')
    .meta({ description: '`initial`: copy the existing documents first (resumable); `when_needed`: only when there is no stored position; `never`.' }),
  onHistoryLost: z.enum(['fail', 'snapshot', 'latest']).default('fail').meta({
    description: "When the stored position fell off the server's oplog: stop and say so, re-snapshot, or skip to now (docs/sources.md#history-lost).",
  }),
  topic: z.string().min(1).optional().meta({
    description: 'Topic for a namespace; `{prefix}`, `{db}` and `{coll}` are replaced (default `<prefix>.{db}.{coll}`).',
    example: '{prefix}.{db}.{coll}',
  }),
  format: z
    .enum(['json', 'avro'])
    .default('json')
    .meta({ description: '`avro`: Confluent-framed Avro with a schema registry (`kafka.schemaRegistry.url`, docs/avro.md).' }),
  jsonMode: z.enum(['canonical', 'relaxed']).default('canonical').meta({ description: 'Extended JSON flavour of values: `canonical` keeps every BSON type.' }),
  oversized: z.enum(['fail', 'dlq']).default('fail').meta({
    description:
      'An event larger than `maxRecordBytes`: `fail` stops this source naming the document; `dlq` writes a summary to `<prefix>.__dlq.source.<name>` and goes on.',
  }),
  heartbeatMs: z.number().int().positive().default(10_000).meta({ description: 'How often a quiet stream still records its position.' }),
  maxAwaitMs: z
    .number()
    .int()
    .positive()
    .max(10_000)
    .default(100)
    .meta({ description: 'How long the server may hold an empty change-stream read (getMore): lower = less latency, more idle round trips.' }),
  skipEchoes: z
    .boolean()
    .default(false)
    .meta({ description: "Drop changes written by changeflow's own MongoDB sink (`echoLedger: true`), for bidirectional sync." }),
  batchSize: z
    .number()
    .int()
    .positive()
    .default(500)
    .meta({ description: 'Change events asked of the server per read (getMore) while the stream is live; Kafka sends are split by `maxBatchBytes`.' }),
  maxBatchSize: z.number().int().positive().optional().meta({
    description:
      'Largest read while reads come back full (a backlog): the read size doubles from `batchSize` up to this and halves back when reads come back short. Default 4 × `batchSize`; equal to `batchSize` turns this off.',
    example: 2000,
  }),
  maxBatchBytes: z
    .number()
    .int()
    .positive()
    .default(900_000)
    .meta({ description: "Most bytes per Kafka send (keep below the broker's `message.max.bytes`: one partition's share is one record batch)." }),
  maxRecordBytes: z
    .number()
    .int()
    .positive()
    .default(1_000_000)
    .meta({ description: "Largest single record; a bigger event follows `oversized`. Kafka's default `message.max.bytes` is 1048588." }),
  maxInFlightBatches: z
    .number()
    .int()
    .positive()
    .max(32)
    .default(5)
    .meta({ description: 'Sends awaiting acknowledgement at once (on librdkafka; the kafkajs transport sends one at a time to keep per-partition order).' }),
  checkpointIntervalMs: z
    .number()
    .int()
    .positive()
    .default(1_000)
    .meta({ description: 'How often the acknowledged position is written to `<prefix>.__offsets` while events flow.' }),
  snapshotBatchSize: z.number().int().positive().default(1_000).meta({ description: 'Documents read per snapshot query batch.' }),
  snapshotParallelism: z
    .number({ error: 'expected a number of snapshot cursors, e.g. 2' })
    .int({ error: 'expected a whole number of snapshot cursors, e.g. 2' })
    .min(1, { error: 'at least 1 (1 copies one collection at a time with one cursor)' })
    .max(32, { error: 'at most 32 snapshot cursors' })
    .default(1)
    .meta({
      description:
        'Snapshot cursors reading at once: collections copied side by side, and a collection of at least this many `snapshotBatchSize` batches cut into as many `_id` ranges, each resumable on its own. 1 (one collection at a time) because 2 was no faster on the measured 2-core machine with mongo-java-server (docs/performance.md, 2026-12-04); try more where reads wait on a network round trip and the server has cores to spare.',
    }),
  leaseMs: z.number().int().min(1_000).default(10_000).meta({ description: 'Lease lifetime for active/standby failover; renewed every third of it.' }),
  cluster: z
    .string()
    .min(1)
    .optional()
    .meta({ description: "`source.cluster` in every event (default: the replica set name, else the URI's hosts).", example: 'eu-1' }),
}).refine((c) => c.maxBatchSize === undefined || c.maxBatchSize >= c.batchSize, {
  path: ['maxBatchSize'],
  error: 'must be at least batchSize (equal turns the growing read size off)',
});
export type SourceConfig = z.output<typeof sourceConfigSchema>;
