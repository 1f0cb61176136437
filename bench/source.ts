/**
 * `npm run bench:source`: events/s a MongoDB source puts into Kafka for 1 KiB documents, beside
 * the raw rate of the same Kafka client (same producer settings, batching and pipelining) on the
 * same broker. Uses KAFKA_BROKERS / MONGODB_URI when set, else starts the local infra.
 * BENCH_SOURCE_DOCS sets the document count (default 20000), BENCH_SOURCE_BATCH the source's
 * batchSize (default: the config default). mongo-java-server pauses 100 ms per change-stream getMore,
 * so there the streaming rate is capped near batchSize × 10 events/s.
 */
import { randomBytes } from 'node:crypto';
import { Int32, MongoClient } from 'mongodb';
import { Health } from '../core/health.js';
import { startInfra } from '../core/infra/infra.js';
import { createKafkajsTransport } from '../core/kafka/kafkajs.js';
import type { Admin, KafkaTransport, OutgoingRecord } from '../core/kafka/transport.js';
import { silentLogger } from '../core/logger.js';
import { createMetricsRegistry } from '../core/metrics.js';
import { TopicNames } from '../core/topics.js';
import { MongoSource } from '../connectors/mongodb/mongo-source.js';
import { OrderedSender } from '../connectors/mongodb/ordered-sender.js';
import { sourceConfigSchema } from '../connectors/mongodb/source-config.js';
import { sourceMetrics } from '../connectors/mongodb/source-metrics.js';

const docs = Number(process.env['BENCH_SOURCE_DOCS'] ?? 20_000);
const batchOverride = process.env['BENCH_SOURCE_BATCH'] ? { batchSize: Number(process.env['BENCH_SOURCE_BATCH']) } : {};
const payload = (i: number): string => `${i}:`.padEnd(1000, 'x');

async function topicCount(admin: Admin, topic: string): Promise<number> {
  const offsets = await admin.topicOffsets(topic).catch(() => []);
  return offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
}

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The raw rate: the same producer, batch size and in-flight window the source uses. */
async function rawProducerRate(kafka: KafkaTransport, admin: Admin, topic: string, batchSize: number, maxInFlight: number): Promise<number> {
  await admin.ensureTopics([{ topic, partitions: 3 }]);
  const producer = kafka.producer({ idempotent: true });
  await producer.connect();
  const sender = new OrderedSender<number>((records) => producer.send(records), maxInFlight, () => undefined);
  const started = performance.now();
  for (let i = 0; i < docs; i += batchSize) {
    const records: OutgoingRecord[] = [];
    for (let j = i; j < Math.min(docs, i + batchSize); j++) {
      records.push({ topic, key: JSON.stringify({ _id: { $numberInt: String(j) } }), value: JSON.stringify({ v: 1, id: randomBytes(8).toString('hex'), op: 'insert', fullDocument: { _id: j, payload: payload(j) } }), headers: { op: 'insert', ns: 'bench.raw', id: String(j) } });
    }
    await sender.submit(records, i);
  }
  await sender.drain();
  const seconds = (performance.now() - started) / 1000;
  await producer.disconnect();
  return docs / seconds;
}

async function main(): Promise<void> {
  const infra = process.env['KAFKA_BROKERS'] && process.env['MONGODB_URI'] ? { kafka: process.env['KAFKA_BROKERS'], mongodb: process.env['MONGODB_URI'] } : await startInfra({ onProgress: (l) => console.error(l) });
  const kafka = createKafkajsTransport({ brokers: infra.kafka.split(',') });
  const admin = kafka.admin();
  await admin.connect();
  const client = new MongoClient(infra.mongodb);
  await client.connect();
  const run = randomBytes(3).toString('hex');
  const prefix = `bench-src-${run}`;
  const topics = new TopicNames(prefix);
  const dbName = `bench_src_${run}`;
  const metaDb = `bench_src_meta_${run}`;
  const registry = createMetricsRegistry({ defaultMetrics: false });
  const health = new Health();
  const created: string[] = [];

  const newSource = (name: string, coll: string, snapshot: 'never' | 'initial'): MongoSource =>
    new MongoSource(sourceConfigSchema.parse({ name, uri: infra.mongodb, watch: { db: dbName, coll }, snapshot, ...batchOverride }), {
      kafka,
      topics,
      logger: silentLogger,
      health,
      metrics: sourceMetrics(registry),
      metadataDb: client.db(metaDb),
      partitions: 3,
    });
  const defaults = sourceConfigSchema.parse({ name: 'x', uri: 'mongodb://x', ...batchOverride });

  try {
    console.log(`bench:source — ${docs} documents of ~1 KiB; Kafka ${infra.kafka}; MongoDB ${infra.mongodb}; batchSize ${defaults.batchSize}, ${defaults.maxInFlightBatches} batches in flight`);
    const rawTopic = `${prefix}.raw`;
    created.push(rawTopic);
    const raw = await rawProducerRate(kafka, admin, rawTopic, defaults.batchSize, defaults.maxInFlightBatches);
    console.log(`raw producer (kafkajs, idempotent, acks=all):   ${Math.round(raw)} records/s`);

    // Streaming: writes happen while the source tails the change stream.
    const streamTopic = topics.change(dbName, 'stream');
    created.push(streamTopic, topics.offsets());
    const streamer = newSource('bench-stream', 'stream', 'never');
    streamer.start();
    await until(async () => health.report().components['source:bench-stream']?.detail === 'streaming', 60_000, 'the source to stream');
    const coll = client.db(dbName).collection<{ _id: Int32; payload: string }>('stream');
    const started = performance.now();
    for (let i = 0; i < docs; i += 1000) {
      await coll.insertMany(Array.from({ length: Math.min(1000, docs - i) }, (_, j) => ({ _id: new Int32(i + j), payload: payload(i + j) })));
    }
    const insertSeconds = (performance.now() - started) / 1000;
    await until(async () => (await topicCount(admin, streamTopic)) >= docs, 600_000, 'all change events in Kafka');
    const streamRate = docs / ((performance.now() - started) / 1000);
    await streamer.stop();
    console.log(`source, change stream (insert → Kafka ack):     ${Math.round(streamRate)} events/s  (inserts alone took ${insertSeconds.toFixed(1)} s)`);

    // Snapshot: the documents are already there; the source copies them.
    const snapTopic = topics.change(dbName, 'stream');
    const snapSource = newSource('bench-snapshot', 'stream', 'initial');
    const before = await topicCount(admin, snapTopic);
    const snapStarted = performance.now();
    snapSource.start();
    await until(async () => (await topicCount(admin, snapTopic)) >= before + docs, 600_000, 'the snapshot in Kafka');
    const snapRate = docs / ((performance.now() - snapStarted) / 1000);
    await snapSource.stop();
    console.log(`source, initial snapshot (incl. start-up):      ${Math.round(snapRate)} docs/s`);
    console.log(`ratio change stream / raw producer:             ${(streamRate / raw).toFixed(3)}`);
    console.log(`ratio snapshot / raw producer:                  ${(snapRate / raw).toFixed(3)}`);
  } finally {
    await client.db(dbName).dropDatabase().catch(() => undefined);
    await client.db(metaDb).dropDatabase().catch(() => undefined);
    await admin.deleteTopics(created).catch(() => undefined);
    await client.close();
    await admin.disconnect();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
