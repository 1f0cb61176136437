import { MongoClient, Timestamp, type Document } from 'mongodb';
import { EJSON } from '../../schemas/bson.js';
import { compileConfig } from '../../app/config.js';
import { Health } from '../../core/health.js';
import { createKafkajsTransport } from '../../core/kafka/kafkajs.js';
import { silentLogger } from '../../core/logger.js';
import { createMetricsRegistry } from '../../core/metrics.js';
import { TopicNames } from '../../core/topics.js';
import type { ChangeEvent } from '../../schemas/envelope.js';
import type { SinkDependencies, SinkRecord } from '../../sinks/sink.js';
import { stableStringify } from '../../schemas/values.js';
import { testInfra } from './infra.js';

/** What a sink gets from the app, built against the test servers. `close()` disconnects the metadata client. */
export async function sinkTestContext(
  trigger: string,
  options: { metadataDb: string; topicPrefix?: string },
): Promise<{ dependencies: SinkDependencies; metadata: MongoClient; close(): Promise<void> }> {
  const infra = testInfra();
  const config = compileConfig(
    {
      kafka: { brokers: [infra.kafka], topicPrefix: options.topicPrefix ?? 'changeflow' },
      mongodb: { uri: infra.mongodb, db: options.metadataDb },
      ...(infra.redis ? { redis: { url: infra.redis } } : {}),
    },
    {},
  );
  const client = new MongoClient(infra.mongodb);
  await client.connect();
  const dependencies: SinkDependencies = {
    trigger,
    context: {
      config,
      logger: silentLogger,
      metrics: createMetricsRegistry({ defaultMetrics: false }),
      health: new Health(),
      kafka: createKafkajsTransport({ brokers: [infra.kafka] }),
      topics: new TopicNames(config.kafka.topicPrefix),
      metadata: { client, db: client.db(options.metadataDb) },
    },
  };
  return { dependencies, metadata: client, close: () => client.close() };
}

export const origin = { topic: 'test', partition: 0, offset: '0' };

export function records(events: readonly ChangeEvent[]): SinkRecord[] {
  return events.map((event, i) => ({ event, origin: { ...origin, offset: String(i) } }));
}

/** Sum of the sink record counter for one outcome. */
export async function sinkCount(dependencies: SinkDependencies, outcome: string): Promise<number> {
  const metric = dependencies.context.metrics.getSingleMetric('changeflow_sink_records_total');
  if (!metric) return 0;
  const data = await metric.get();
  return data.values.filter((v) => v.labels['outcome'] === outcome).reduce((sum, v) => sum + v.value, 0);
}

export function ejson(value: unknown): Record<string, unknown> {
  return EJSON.serialize(value, { relaxed: false }) as Record<string, unknown>;
}

/**
 * Raw change event of mongo-java-server → envelope, for the kinds of writes the tests make
 * (insertOne, replaceOne, deleteOne). Its replacements arrive as `update` with the new document as
 * documentKey; the real connector repairs the same way.
 */
export function envelopeFromJavaServer(raw: Document, ns: { db: string; coll: string }, sourceName: string): ChangeEvent {
  const ts = raw['clusterTime'] as Timestamp;
  const base = {
    v: 1 as const,
    id: String((raw['_id'] as { _data: string })._data),
    ns,
    clusterTime: { t: ts.t, i: ts.i },
    source: { name: sourceName, cluster: sourceName },
  };
  const key = raw['documentKey'] as Document;
  switch (raw['operationType']) {
    case 'insert':
      return { ...base, op: 'insert', documentKey: ejson({ _id: key['_id'] }), fullDocument: ejson(raw['fullDocument']) };
    case 'update':
      if (Object.keys(key).some((k) => k.startsWith('$'))) throw new Error('test writes must be replacements (mongo-java-server cannot key $set updates)');
      return { ...base, op: 'replace', documentKey: ejson({ _id: key['_id'] }), fullDocument: ejson(key) };
    case 'delete':
      return { ...base, op: 'delete', documentKey: ejson({ _id: key['_id'] }) };
    default:
      throw new Error(`unexpected change ${String(raw['operationType'])}`);
  }
}

/**
 * A collection's documents as canonical Extended JSON text (exact BSON types), keys sorted, documents
 * sorted. Field order is left out on purpose: mongo-java-server keeps the old field order on replaceOne
 * (a real server uses the replacement's), so the same history can leave different orders.
 */
export async function snapshotOf(client: MongoClient, db: string, coll: string): Promise<string[]> {
  const docs = await client.db(db).collection(coll).find({}, { promoteValues: false }).toArray();
  return docs.map((d) => stableStringify(EJSON.serialize(d, { relaxed: false }))).sort();
}
