/**
 * Sink rows of `npm run bench` (and `npm run bench:sinks` alone): change events/s each sink writes in
 * batches of SINK_BATCH (the processor's default batch), one batch at a time as a processor partition
 * does, beside a limit row that writes the same documents straight through the driver:
 *   - MongoDB: the sink applies pass-through inserts (upsert by _id, stale-write guard on) vs the
 *     driver's `bulkWrite` of `replaceOne` upserts of the same documents;
 *   - Redis: the sink's pass-through refresh (SET `<coll>:<_id>` of the document's JSON) vs an ioredis
 *     pipeline of the same SETs.
 * The sinks' own work (planning, stale guard, JSON per document) is what the ratio shows.
 */
import { randomBytes } from 'node:crypto';
import { EJSON, type Document } from '../schemas/bson.js';
import { Redis } from 'ioredis';
import { MongoClient, type AnyBulkWriteOperation } from 'mongodb';
import { processorContext } from '../testing/processors/context.js';
import { makeChangeEvent } from '../testing/processors/events.js';
import { mongodbSinkKind, mongodbSinkSchema } from '../sinks/mongodb.js';
import { redisSinkKind, redisSinkSchema } from '../sinks/redis.js';
import type { Sink, SinkRecord } from '../sinks/sink.js';
import { runIfMain } from './lib/runner.js';
import type { BenchContext, BenchFigure, BenchStage } from './lib/stage.js';
import { LatencySamples, nowMs } from './lib/timing.js';

/** Records per write: the processor's default `batch.maxEvents`. */
const SINK_BATCH = 500;
/** Bytes of a generated document besides its padding field, so that a document (canonical EJSON) is about `--size` bytes. */
const DOC_OVERHEAD_BYTES = 176;

export const SINK_LIMIT = {
  mongodb: 'mongodb bulkWrite loop (driver, replaceOne upserts)',
  redis: 'redis pipeline loop (ioredis, SET)',
} as const;

function runId(): string {
  return `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
}

/** Batches of insert events with fresh _ids, each document about `ctx.messageBytes` bytes. */
function eventBatches(ctx: BenchContext, db: string, coll: string): () => SinkRecord[] {
  let seq = 0;
  const padBytes = Math.max(0, ctx.messageBytes - DOC_OVERHEAD_BYTES);
  return () =>
    Array.from({ length: SINK_BATCH }, () => {
      seq += 1;
      const event = makeChangeEvent({ db, coll, docId: seq, seq, padBytes });
      return { event, origin: { topic: 'bench', partition: 0, offset: String(seq) } };
    });
}

/**
 * Writes batches one at a time for the figure's duration; events/s and p50/p99 count only the writes
 * (making the test events is not the sink's work, and costs as much as a fast write).
 */
async function timeBatches(ctx: BenchContext, next: () => SinkRecord[], write: (records: SinkRecord[]) => Promise<void>): Promise<BenchFigure> {
  const latency = new LatencySamples();
  const deadline = nowMs() + ctx.durationMs;
  let events = 0;
  let writingMs = 0;
  while (nowMs() < deadline) {
    const records = next();
    const started = nowMs();
    await write(records);
    const ms = nowMs() - started;
    latency.add(ms);
    writingMs += ms;
    events += records.length;
  }
  const seconds = writingMs / 1000;
  const p50Ms = latency.percentile(50);
  const p99Ms = latency.percentile(99);
  return {
    eventsPerSec: events / seconds,
    events,
    seconds,
    ...(p50Ms === undefined ? {} : { p50Ms }),
    ...(p99Ms === undefined ? {} : { p99Ms }),
    note: `batches of ${SINK_BATCH}; time in writes only; p50/p99 ms = one batch's write`,
  };
}

/** Starts the sink `create` makes and times its writes of fresh event batches. */
async function sinkFigure(ctx: BenchContext, create: (context: ReturnType<typeof processorContext>) => Sink): Promise<BenchFigure> {
  const context = processorContext({ brokers: ctx.kafka, mongodbUri: ctx.mongodb, client: ctx.client });
  const sink = create(context);
  const next = eventBatches(ctx, 'bench', 'docs');
  await sink.start();
  try {
    return await timeBatches(ctx, next, (records) => sink.write(records));
  } finally {
    await sink.stop();
    await context.close();
  }
}

const mongodbLimit: BenchStage = {
  name: SINK_LIMIT.mongodb,
  kind: 'limit',
  async run(ctx) {
    const client = new MongoClient(ctx.mongodb);
    await client.connect();
    const collection = client.db(`bench_sink_limit_${runId()}`).collection('docs');
    const next = eventBatches(ctx, 'bench', 'docs');
    try {
      return await timeBatches(ctx, next, async (records) => {
        const ops: AnyBulkWriteOperation<Document>[] = records.map(({ event }) => {
          const doc = EJSON.deserialize(event.fullDocument ?? {}, { relaxed: false });
          return { replaceOne: { filter: { _id: doc['_id'] }, replacement: doc, upsert: true } };
        });
        await collection.bulkWrite(ops, { ordered: false });
      });
    } finally {
      await collection.db.dropDatabase().catch(() => undefined);
      await client.close();
    }
  },
};

const mongodbSinkRow: BenchStage = {
  name: 'sink: mongodb, pass-through inserts',
  kind: 'changeflow',
  limitName: SINK_LIMIT.mongodb,
  async run(ctx) {
    const run = runId();
    const db = `bench_sink_${run}`;
    const config = mongodbSinkSchema.parse({ name: 'b', kind: 'mongodb', uri: ctx.mongodb, db, stateDb: `${db}_state` });
    try {
      return await sinkFigure(ctx, (context) => mongodbSinkKind.create(config, { trigger: `bench-${run}`, context }));
    } finally {
      const client = new MongoClient(ctx.mongodb);
      await client.connect();
      await Promise.all([client.db(db).dropDatabase(), client.db(`${db}_state`).dropDatabase()]).catch(() => undefined);
      await client.close();
    }
  },
};

function redisUrl(ctx: BenchContext): string {
  if (!ctx.redis) throw new Error('bench: no Redis for the sink rows (set REDIS_URL or run a redis-server on 127.0.0.1:6379)');
  return ctx.redis;
}

/** Deletes the keys a Redis row wrote (they share a prefix unique to the run). */
async function dropKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true });
  await redis.connect();
  try {
    let cursor = '0';
    do {
      const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 10_000);
      cursor = nextCursor;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

const redisLimit: BenchStage = {
  name: SINK_LIMIT.redis,
  kind: 'limit',
  async run(ctx) {
    const url = redisUrl(ctx);
    const prefix = `bench-limit-${runId()}:`;
    const redis = new Redis(url);
    const next = eventBatches(ctx, 'bench', 'docs');
    try {
      return await timeBatches(ctx, next, async (records) => {
        const pipeline = redis.pipeline();
        for (const { event } of records) {
          const doc = EJSON.deserialize(event.fullDocument ?? {}, { relaxed: false });
          pipeline.set(`${prefix}docs:${String(doc['_id'])}`, EJSON.stringify(doc, { relaxed: true }));
        }
        await pipeline.exec();
      });
    } finally {
      redis.disconnect();
      await dropKeys(url, prefix);
    }
  },
};

const redisSinkRow: BenchStage = {
  name: 'sink: redis, pass-through refresh',
  kind: 'changeflow',
  limitName: SINK_LIMIT.redis,
  async run(ctx) {
    const url = redisUrl(ctx);
    const run = runId();
    const keyPrefix = `bench-sink-${run}:`;
    const config = redisSinkSchema.parse({ name: 'cache', kind: 'redis', url, keyPrefix });
    try {
      return await sinkFigure(ctx, (context) => redisSinkKind.create(config, { trigger: `bench-${run}`, context }));
    } finally {
      await dropKeys(url, keyPrefix);
    }
  },
};

export const stages: BenchStage[] = [mongodbLimit, mongodbSinkRow, redisLimit, redisSinkRow];

await runIfMain(import.meta.url, stages);
