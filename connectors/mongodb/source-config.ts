import { z } from 'zod';
import { nameSchema } from '../../core/names.js';

export const operationTypes = ['insert', 'update', 'replace', 'delete', 'drop', 'rename', 'dropDatabase', 'invalidate'] as const;
export type OperationType = (typeof operationTypes)[number];

export const watchSchema = z
  .strictObject({
    db: z.string().min(1).optional(),
    coll: z.string().min(1).optional(),
  })
  .refine((w) => !(w.coll && !w.db), { error: 'a collection needs its database: give watch.db too' });

/** A MongoDB source: what to watch and how its changes become Kafka records. */
export const sourceConfigSchema = z.strictObject({
  name: nameSchema,
  uri: z.string().startsWith('mongodb', { error: 'expected a MongoDB connection string (mongodb:// or mongodb+srv://)' }),
  watch: watchSchema.default({}),
  operationTypes: z.array(z.enum(operationTypes)).min(1).optional(),
  /** Extra `$match` stages applied server-side, in MongoDB's change-event field names. */
  pipeline: z.array(z.record(z.string(), z.unknown())).default([]),
  fullDocument: z.enum(['default', 'updateLookup', 'whenAvailable', 'required']).default('updateLookup'),
  fullDocumentBeforeChange: z.enum(['off', 'whenAvailable', 'required']).default('off'),
  snapshot: z.enum(['initial', 'never', 'when_needed']).default('never'),
  onHistoryLost: z.enum(['fail', 'snapshot', 'latest']).default('fail'),
  /** Topic for a namespace; `{db}` and `{coll}` are replaced. Default `<prefix>.{db}.{coll}`. */
  topic: z.string().min(1).optional(),
  format: z.enum(['json', 'avro']).default('json'),
  jsonMode: z.enum(['canonical', 'relaxed']).default('canonical'),
  /** What to do with an event larger than Kafka accepts: fail naming the document key, or route it to the DLQ topic. */
  oversized: z.enum(['fail', 'dlq']).default('fail'),
  heartbeatMs: z.number().int().positive().default(10_000),
  /** How long the server may hold an empty change-stream read (getMore). Lower = less latency, more idle round trips. */
  maxAwaitMs: z.number().int().positive().max(10_000).default(100),
  /** Pass each batch through the echo filter so changes written by changeflow's own MongoDB sink are not published again. */
  skipEchoes: z.boolean().default(false),
  /** Most change events per Kafka send. */
  batchSize: z.number().int().positive().default(500),
  /** Most bytes per Kafka send (keep below the broker's `message.max.bytes`: one partition's share is one record batch). */
  maxBatchBytes: z.number().int().positive().default(900_000),
  /** Largest single record; a bigger event follows `oversized`. Kafka's default `message.max.bytes` is 1048588. */
  maxRecordBytes: z.number().int().positive().default(1_000_000),
  /** Sends awaiting acknowledgement at once (pipelining). */
  maxInFlightBatches: z.number().int().positive().max(32).default(5),
  /** How often the acknowledged position is written to `<prefix>.__offsets` while events flow. */
  checkpointIntervalMs: z.number().int().positive().default(1_000),
  /** Documents read per snapshot query batch. */
  snapshotBatchSize: z.number().int().positive().default(1_000),
  /** Lease lifetime for active/standby failover; renewed every third of it. */
  leaseMs: z.number().int().min(1_000).default(10_000),
  /** `source.cluster` in every event; default: the replica set name, else the URI's hosts. */
  cluster: z.string().min(1).optional(),
});
export type SourceConfig = z.output<typeof sourceConfigSchema>;
