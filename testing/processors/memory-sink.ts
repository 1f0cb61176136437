import { z } from 'zod';
import { nameSchema } from '../../core/names.js';
import { SinkWriteError, type Sink, type SinkKind, type SinkRecord } from '../../sinks/sink.js';

/** Where a `memory` sink puts what it acknowledged; tests reach it by bucket name. */
export interface MemoryBucket {
  /** Records acknowledged, in acknowledgement order. */
  readonly records: SinkRecord[];
  /** Calls to write(), failed ones included. */
  writes: number;
  /**
   * Runs before each write is acknowledged: delay (a hanging ack) or throw (a failing ack). Throwing a
   * SinkWriteError keeps the records it does not name, as a real target that refused only those would.
   */
  beforeAck: ((records: readonly SinkRecord[], write: number) => Promise<void> | void) | undefined;
}

const buckets = new Map<string, MemoryBucket>();

export function memoryBucket(name: string): MemoryBucket {
  let bucket = buckets.get(name);
  if (!bucket) {
    bucket = { records: [], writes: 0, beforeAck: undefined };
    buckets.set(name, bucket);
  }
  return bucket;
}

export function dropMemoryBucket(name: string): void {
  buckets.delete(name);
}

const configSchema = z.strictObject({
  name: nameSchema,
  kind: z.literal('memory'),
  bucket: z
    .string({ error: 'expected the name of the in-memory bucket (a string)' })
    .min(1)
    .meta({ description: 'name of the in-memory bucket the test reads', example: 'orders' }),
});

/** A sink kind for tests: keeps acknowledged records in memory, with hooks to delay or fail acks. */
export const memorySinkKind: SinkKind<typeof configSchema> = {
  kind: 'memory',
  description: 'Keeps records in process memory (tests only)',
  configSchema,
  create(config): Sink {
    const bucket = memoryBucket(config.bucket);
    return {
      name: config.name,
      kind: 'memory',
      start: async () => undefined,
      stop: async () => undefined,
      async write(records) {
        bucket.writes++;
        try {
          await bucket.beforeAck?.(records, bucket.writes);
        } catch (error) {
          if (error instanceof SinkWriteError) {
            const refused = new Set(error.rejected.map((r) => r.index));
            bucket.records.push(...records.filter((_, i) => !refused.has(i)));
          }
          throw error;
        }
        bucket.records.push(...records);
      },
    };
  },
};

const noopSchema = z.strictObject({ name: nameSchema, kind: z.literal('noop') });

/** Acknowledges everything at once and keeps nothing (benchmarks). */
export const noopSinkKind: SinkKind<typeof noopSchema> = {
  kind: 'noop',
  description: 'Acknowledges and discards records (benchmarks)',
  configSchema: noopSchema,
  create(config): Sink {
    return { name: config.name, kind: 'noop', start: async () => undefined, stop: async () => undefined, write: async () => undefined };
  },
};
