import { Binary, Decimal128, Int32, Long, ObjectId, Timestamp } from 'mongodb';
import { encodeChange, type EncoderContext } from '../connectors/mongodb/change-encoder.js';
import { createKafkaTransport, effectiveKafkaClient, type IncomingRecord } from '../core/kafka/index.js';
import { createAvroCodec, isConfluentAvro } from '../schemas/avro-codec.js';
import { parseChangeEvent, type ChangeEvent } from '../schemas/envelope.js';
import { startTestSchemaRegistry, type TestSchemaRegistry } from '../testing/schema-registry.js';
import { eventually, testInfra, uniqueName } from './support/infra.js';

const context: EncoderContext = { sourceName: 'shop', cluster: 'rs0', watch: { db: 'shop', coll: 'orders' }, mode: 'canonical' };

function change(i: number): { event: ChangeEvent; key: string | null } {
  const _id = new ObjectId();
  const ops = ['insert', 'update', 'replace', 'delete'] as const;
  const op = ops[i % ops.length] ?? 'insert';
  const doc = {
    _id,
    n: new Int32(i),
    big: Long.fromString('9007199254740993'),
    price: Decimal128.fromString('1.10'),
    bin: new Binary(Buffer.from([i % 256]), 0),
    at: new Date(1_700_000_000_000 + i),
  };
  return encodeChange(
    {
      _id: { _data: `82${i.toString(16).padStart(8, '0')}` },
      operationType: op,
      ns: { db: 'shop', coll: 'orders' },
      documentKey: { _id },
      ...(op === 'delete' ? {} : { fullDocument: doc }),
      ...(op === 'update' ? { updateDescription: { updatedFields: { n: new Int32(i) }, removedFields: [] } } : {}),
      clusterTime: new Timestamp({ t: 1_700_000_000, i: i + 1 }),
      wallTime: new Date(1_700_000_000_000 + i),
    },
    context,
  );
}

/** How a reader picks the value format per record: Confluent-framed Avro, else the JSON envelope. */
async function decodeValue(codec: ReturnType<typeof createAvroCodec>, record: IncomingRecord): Promise<ChangeEvent> {
  if (!record.value) throw new Error(`record ${record.topic}/${record.partition}/${record.offset} has no value`);
  return isConfluentAvro(record.value) ? codec.decode(record.value, record) : parseChangeEvent(record.value);
}

describe('Avro value format through the real Kafka broker', () => {
  const transport = createKafkaTransport(effectiveKafkaClient('kafkajs'), { brokers: [testInfra().kafka] });
  const admin = transport.admin();
  let registry: TestSchemaRegistry;

  beforeAll(async () => {
    registry = await startTestSchemaRegistry();
    await admin.connect();
  });
  afterAll(async () => {
    await admin.disconnect();
    await registry.close();
  });

  it('reads back, through the transport and a separate codec, the ChangeEvents the source would have written as JSON', async () => {
    const topic = uniqueName('avro.shop.orders');
    await admin.ensureTopics([{ topic, partitions: 3 }]);
    const writer = createAvroCodec({ registryUrl: registry.url });
    const changes = Array.from({ length: 200 }, (_, i) => change(i));
    // Every tenth record is a JSON envelope: a topic switched from json to avro carries both, and readers must take both.
    const records = await Promise.all(
      changes.map(async ({ event, key }, i) => ({
        topic,
        key,
        value: i % 10 === 9 ? JSON.stringify(event) : await writer.encode(topic, event),
        headers: { op: event.op, ns: 'shop.orders', id: event.id },
      })),
    );
    const producer = transport.producer();
    await producer.connect();
    try {
      await producer.send(records);
    } finally {
      await producer.disconnect();
    }
    expect(registry.subjects().get(`${topic}-value`)).toHaveLength(1);
    expect(registry.requests.filter((r) => r === `POST /subjects/${topic}-value/versions`)).toHaveLength(1);

    const reader = createAvroCodec({ registryUrl: registry.url });
    const consumer = transport.consumer({ groupId: uniqueName('avro-reader') });
    const seen = new Map<string, ChangeEvent>();
    const perKey = new Map<string, string[]>();
    let failure: unknown;
    let avroValues = 0;
    await consumer.connect();
    await consumer.subscribe([topic]);
    await consumer.run(async (batch) => {
      try {
        for (const record of batch.records) {
          if (record.value && isConfluentAvro(record.value)) avroValues++;
          const event = await decodeValue(reader, record);
          seen.set(event.id, event);
          const key = record.key?.toString() ?? '';
          perKey.set(key, [...(perKey.get(key) ?? []), event.id]);
        }
      } catch (error) {
        failure = error;
      }
    });
    try {
      await eventually(() => failure !== undefined || seen.size >= changes.length, `${changes.length} records read back from ${topic}`, 60_000);
    } finally {
      await consumer.disconnect();
    }
    if (failure) throw failure;

    expect(avroValues).toBe(180);
    for (const { event } of changes) expect(seen.get(event.id)).toStrictEqual(parseChangeEvent(JSON.stringify(event)));
    // The record key stays the canonical EJSON documentKey whatever the value format.
    for (const { event, key } of changes) expect(perKey.get(key ?? '')).toEqual([event.id]);
    const schemaId = records.find((r) => Buffer.isBuffer(r.value))?.value as Buffer;
    expect(registry.requests.filter((r) => r === `GET /schemas/ids/${schemaId.readInt32BE(1)}`)).toHaveLength(1);
  });
});
