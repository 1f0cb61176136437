import { EJSON } from '../schemas/bson.js';
import { Binary, Decimal128, Int32, Long, MongoClient, ObjectId, type Document } from 'mongodb';
import { componentFactories } from '../app/components.js';
import { startApp, type RunningApp } from '../core/app.js';
import { compileConfig } from '../app/config.js';
import { silentLogger } from '../core/logger.js';
import { TopicNames } from '../core/topics.js';
import { isConfluentAvro } from '../schemas/avro-codec.js';
import { startTestSchemaRegistry, type TestSchemaRegistry } from '../testing/schema-registry.js';
import { eventually, testInfra, uniqueName } from './support/infra.js';

const infra = testInfra();
const mongo = new MongoClient(infra.mongodb);

/** The collection as canonical Extended JSON, keys sorted, ordered by `_id` text: equal means equal types too. */
async function contents(db: string): Promise<string[]> {
  const sorted = (value: unknown): unknown =>
    value && typeof value === 'object' && !Array.isArray(value)
      ? Object.fromEntries(
          Object.entries(value as Record<string, unknown>)
            .sort(([a], [b]) => (a < b ? -1 : 1))
            .map(([k, v]) => [k, sorted(v)]),
        )
      : value;
  const docs: Document[] = await mongo.db(db).collection('items').find().toArray();
  return docs.map((d) => JSON.stringify(sorted(EJSON.serialize(d, { relaxed: false })))).sort();
}

const doc = (i: number): Document => ({
  _id: new ObjectId(),
  n: new Int32(i),
  big: Long.fromString(`900719925474099${i % 10}`),
  price: Decimal128.fromString(`${i}.10`),
  bin: new Binary(Buffer.from([i % 256, 7]), 0),
  at: new Date(1_700_000_000_000 + i),
  nested: { tags: ['a', `t${i}`], none: null },
});

describe('format: avro from the source to a MongoDB sink', () => {
  const prefix = uniqueName('cfavro');
  const [dbA, dbB, metaDb, stateDb] = ['avroa', 'avrob', 'avrometa', 'avrostate'].map((n) => uniqueName(n)) as [string, string, string, string];
  let registry: TestSchemaRegistry;
  let app: RunningApp | undefined;

  beforeAll(async () => {
    registry = await startTestSchemaRegistry();
    await mongo.connect();
  });

  afterAll(async () => {
    await app?.stop();
    for (const db of [dbA, dbB, metaDb, stateDb])
      await mongo
        .db(db)
        .dropDatabase()
        .catch(() => undefined);
    await mongo.close();
    await registry.close();
  });

  it('writes Confluent-framed Avro records that a trigger decodes into the same documents on the target', async () => {
    const items = mongo.db(dbA).collection('items');
    await items.insertMany(Array.from({ length: 20 }, (_, i) => doc(i)));
    const config = compileConfig(
      {
        kafka: { brokers: [infra.kafka], topicPrefix: prefix, partitions: 2, schemaRegistry: { url: registry.url } },
        mongodb: { uri: infra.mongodb, db: metaDb },
        http: { port: 0 },
        grpc: { port: 0 },
        sources: [{ name: 'a', uri: infra.mongodb, watch: { db: dbA, coll: 'items' }, snapshot: 'initial', format: 'avro', checkpointIntervalMs: 200 }],
        triggers: [
          {
            name: 'a-to-b',
            source: { db: dbA, coll: 'items' },
            sinks: [{ name: 'b', kind: 'mongodb', uri: infra.mongodb, db: dbB, updateMode: 'document', stateDb }],
          },
        ],
      },
      {},
    );
    app = await startApp(config, componentFactories(), { logger: silentLogger });

    // Streamed changes after the snapshot: inserts, an update and a delete.
    await eventually(async () => (await mongo.db(dbB).collection('items').countDocuments()) === 20, 'the snapshot to reach B', 90_000, 250);
    const more = Array.from({ length: 20 }, (_, i) => doc(100 + i));
    await items.insertMany(more);
    await items.updateOne({ _id: more[0]?.['_id'] }, { $set: { n: new Int32(-1), price: Decimal128.fromString('0.01') } });
    await items.deleteOne({ _id: more[1]?.['_id'] });

    let left: string[] = [];
    let right: string[] = [];
    await eventually(
      async () => {
        [left, right] = await Promise.all([contents(dbA), contents(dbB)]);
        return left.length === right.length && left.every((line, i) => line === right[i]);
      },
      'B to equal A, BSON types included',
      90_000,
      250,
    );
    expect(right).toHaveLength(39);

    // On the wire: every record of the topic is Avro in Confluent's framing, under one registered subject.
    const topic = new TopicNames(prefix).change(dbA, 'items');
    const consumer = app.context.kafka.consumer({ groupId: uniqueName('avro-reader'), fromBeginning: true });
    const values: Buffer[] = [];
    await consumer.connect();
    await consumer.subscribe([topic]);
    await consumer.run(async (batch) => {
      for (const r of batch.records) if (r.value) values.push(r.value);
    });
    await eventually(() => values.length >= 42, 'the topic to be read back', 60_000);
    await consumer.disconnect();
    expect(values.every((v) => isConfluentAvro(v))).toBe(true);
    expect([...registry.subjects().keys()]).toContain(`${topic}-value`);
  }, 240_000);
});
