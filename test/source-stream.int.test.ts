import { Binary, Decimal128, Int32, Long, MongoClient, ObjectId, type AnyBulkWriteOperation, type Document } from 'mongodb';
import { Health } from '../core/health.js';
import { createKafkajsTransport } from '../core/kafka/kafkajs.js';
import { createLogger, silentLogger } from '../core/logger.js';
import { createMetricsRegistry } from '../core/metrics.js';
import { TopicNames } from '../core/topics.js';
import { MongoSource } from '../connectors/mongodb/mongo-source.js';
import { sourceConfigSchema, type SourceConfig } from '../connectors/mongodb/source-config.js';
import { sourceMetrics } from '../connectors/mongodb/source-metrics.js';
import { TopicReader } from '../testing/mongodb/topic-reader.js';
import { fromEJson } from '../schemas/ejson.js';
import { parseChangeEvent, type ChangeEvent } from '../schemas/envelope.js';
import { eventually, testInfra, uniqueName } from './support/infra.js';

const N = 10_000;
const infra = testInfra();

describe('MongoDB source streaming into Kafka (real Kafka + mongo-java-server)', () => {
  const kafka = createKafkajsTransport({ brokers: [infra.kafka] });
  const admin = kafka.admin();
  const client = new MongoClient(infra.mongodb);
  const dbName = uniqueName('srcdb');
  const metaDbName = uniqueName('srcmeta');
  const prefix = uniqueName('cfs');
  const topics = new TopicNames(prefix);
  const health = new Health();
  const registry = createMetricsRegistry({ defaultMetrics: false });
  const sources: MongoSource[] = [];

  function startSource(input: Record<string, unknown>): MongoSource {
    const config: SourceConfig = sourceConfigSchema.parse({ uri: infra.mongodb, watch: { db: dbName, coll: 'orders' }, snapshot: 'never', ...input });
    const source = new MongoSource(config, {
      kafka,
      topics,
      logger: process.env['SOURCE_TEST_LOG'] ? createLogger({ level: 'debug' }) : silentLogger,
      health,
      metrics: sourceMetrics(registry),
      metadataDb: client.db(metaDbName),
      partitions: 3,
    });
    source.start();
    sources.push(source);
    return source;
  }

  beforeAll(async () => {
    await Promise.all([admin.connect(), client.connect()]);
  });

  afterAll(async () => {
    await Promise.all(sources.map((s) => s.stop()));
    await client
      .db(dbName)
      .dropDatabase()
      .catch(() => undefined);
    await client
      .db(metaDbName)
      .dropDatabase()
      .catch(() => undefined);
    await Promise.all([admin.disconnect(), client.close()]);
  });

  it(`publishes insert/update/replace/delete of ${N} documents in per-document order, with exact BSON types; filters and $match drop what they should`, async () => {
    const topic = topics.change(dbName, 'orders');
    const filteredTopic = `${prefix}.filtered.${dbName}`;
    await admin.ensureTopics([
      { topic, partitions: 3 },
      { topic: filteredTopic, partitions: 3 },
      { topic: topics.ddl(dbName), partitions: 1 },
    ]);
    const reader = await new TopicReader(kafka, [topic, filteredTopic, topics.ddl(dbName)]).start();

    startSource({ name: 'all' });
    startSource({
      name: 'filtered',
      topic: filteredTopic,
      // No lookups: mongo-java-server looks an update's document up by scanning the collection, before $match runs.
      fullDocument: 'default',
      operationTypes: ['insert', 'delete'],
      // Server-side: keep deletes, and inserts of even documents only.
      pipeline: [{ $match: { $or: [{ operationType: 'delete' }, { 'fullDocument.even': true }] } }],
    });
    await eventually(
      () => health.report().components['source:all']?.detail === 'streaming' && health.report().components['source:filtered']?.detail === 'streaming',
      'both sources streaming',
      60_000,
    );

    const coll = client.db(dbName).collection('orders');
    const typed = (i: number): Document => ({
      _id: new Int32(i),
      n: new Int32(i),
      big: Long.fromString(`900719925474${String(i).padStart(5, '0')}`),
      price: Decimal128.fromString(`${i}.10`),
      at: new Date(1_700_000_000_000 + i),
      ref: new ObjectId(),
      bin: new Binary(Buffer.from([i % 256, 7])),
      nested: { list: [new Int32(1), Long.fromNumber(2)], flag: true },
      even: i % 2 === 0,
    });
    const docs = Array.from({ length: N }, (_, i) => typed(i));
    const t0 = Date.now();
    const phase = (what: string): void => void (process.env['SOURCE_TEST_LOG'] && console.error(`${what} at ${Date.now() - t0} ms`));
    for (let i = 0; i < N; i += 1000) await coll.insertMany(docs.slice(i, i + 1000), { ordered: true });
    await coll.bulkWrite(
      docs.map((d): AnyBulkWriteOperation => ({ updateOne: { filter: { _id: d['_id'] }, update: { $set: { status: 'paid', n: new Int32(-1) } } } })),
      { ordered: true },
    );
    // mongo-java-server looks up an update's document (and so its _id) when the event is read, not when it happens:
    // let the updates be read before the documents are deleted (a real replica set needs no such wait).
    const count = (t: string, op?: string): number => reader.records.filter((r) => r.topic === t && (op === undefined || r.headers['op'] === op)).length;
    const progress = process.env['SOURCE_TEST_LOG']
      ? setInterval(() => console.error(`records: ${count(topic)} main, ${count(filteredTopic)} filtered`), 5_000)
      : undefined;
    phase('inserted and updated');
    await eventually(() => count(topic, 'update') >= N, `${N} update events in Kafka`, 120_000, 250);
    await coll.bulkWrite(
      docs.map((d): AnyBulkWriteOperation => ({ replaceOne: { filter: { _id: d['_id'] }, replacement: { ...d, replaced: true } } })),
      { ordered: true },
    );
    await coll.bulkWrite(
      docs.map((d): AnyBulkWriteOperation => ({ deleteOne: { filter: { _id: d['_id'] } } })),
      { ordered: true },
    );
    phase('replaced and deleted');
    await eventually(() => count(topic) >= 4 * N && count(filteredTopic) >= N + N / 2, 'every document change in Kafka', 120_000, 250);
    // Dropped only now: mongo-java-server fails a pending update lookup once its collection is gone.
    await coll.drop();
    // A real server's drop carries ns and is published; mongo-java-server's carries none (and it sends the
    // drops of other collections to this watch too), so the source leaves it out and says so in health.
    const unplaced = (): boolean => /without a namespace not published/.test(health.report().components['source:all']?.detail ?? '');
    await eventually(
      () => (count(topics.ddl(dbName)) >= 1 && count(topic) >= 4 * N + 1) || unplaced(),
      'the drop in Kafka, or left out as unplaced',
      30_000,
      250,
    );
    const dropPublished = !unplaced();
    phase('all in Kafka');

    clearInterval(progress);
    // Envelopes and per-document order on the unfiltered topic.
    const byKey = new Map<string, ChangeEvent[]>();
    const ids = new Set<string>();
    for (const record of reader.records.filter((r) => r.topic === topic)) {
      const event = parseChangeEvent(record.value ?? '');
      expect(record.headers).toEqual({ op: event.op, ns: `${dbName}.orders`, id: event.id });
      ids.add(event.id);
      if (event.op === 'drop') continue;
      const key = record.key?.toString() ?? '';
      byKey.set(key, [...(byKey.get(key) ?? []), event]);
    }
    expect(ids.size).toBe(4 * N + (dropPublished ? 1 : 0));
    expect(byKey.size).toBe(N);
    for (const [key, events] of byKey) {
      expect(events.map((e) => e.op)).toEqual(['insert', 'update', 'replace', 'delete']);
      expect(JSON.parse(key)).toEqual(events[0]?.documentKey);
    }

    const sample = byKey.get('{"_id":{"$numberInt":"4321"}}') ?? [];
    const [insert, update, replace, del] = sample;
    expect(insert).toMatchObject({ v: 1, ns: { db: dbName, coll: 'orders' }, source: { name: 'all' }, documentKey: { _id: { $numberInt: '4321' } } });
    expect(insert?.clusterTime?.t).toBeGreaterThan(0);
    const back = fromEJson<Document>(insert?.fullDocument);
    const original = docs[4321] ?? {};
    expect(back['n']).toBeInstanceOf(Int32);
    expect(back['big']).toBeInstanceOf(Long);
    expect(String(back['big'])).toBe(String(original['big']));
    expect(back['price']).toBeInstanceOf(Decimal128);
    expect(String(back['price'])).toBe('4321.10');
    expect(back['at']).toEqual(original['at']);
    expect((back['ref'] as ObjectId).equals(original['ref'] as ObjectId)).toBe(true);
    expect(Buffer.from((back['bin'] as Binary).buffer)).toEqual(Buffer.from([4321 % 256, 7]));
    expect((back['nested'] as { list: unknown[] }).list[1]).toBeInstanceOf(Long);
    // The server's own delta where it sends one (a replica set); none is made up where it does not
    // (mongo-java-server): then the looked-up document carries the whole change.
    if (update?.updateDescription !== undefined)
      expect(update.updateDescription).toEqual({ updatedFields: { status: 'paid', n: { $numberInt: '-1' } }, removedFields: [] });
    else expect(update?.fullDocument?.['n']).toEqual({ $numberInt: '-1' });
    expect(update?.fullDocument?.['status']).toBe('paid');
    expect(replace?.fullDocument?.['replaced']).toBe(true);
    expect(del?.fullDocument ?? null).toBeNull();

    // The drop reached both the collection topic and the database's DDL topic, or (no ns) neither.
    if (dropPublished) expect(reader.values<ChangeEvent>(topics.ddl(dbName)).map((e) => e.op)).toContain('drop');
    else expect(reader.values<ChangeEvent>(topics.ddl(dbName))).toEqual([]);

    // operationTypes + $match: inserts of even documents and all deletes, nothing else.
    const filtered = reader.values<ChangeEvent>(filteredTopic);
    expect(filtered.filter((e) => e.op === 'insert')).toHaveLength(N / 2);
    expect(filtered.filter((e) => e.op === 'insert').every((e) => e.fullDocument?.['even'] === true)).toBe(true);
    expect(filtered.filter((e) => e.op === 'delete')).toHaveLength(N);
    expect(filtered.filter((e) => e.op !== 'insert' && e.op !== 'delete')).toHaveLength(0);

    // The acknowledged position was checkpointed to the compacted offsets topic.
    const metrics = await registry.getSingleMetricAsString('changeflow_source_events_total');
    expect(metrics).toMatch(/changeflow_source_events_total\{source="all",op="insert"\} 10000/);
    await reader.stop();
  }, 300_000);
});
