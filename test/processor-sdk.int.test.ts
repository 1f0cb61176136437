import { Binary, Decimal128, EJSON, Int32, Long, ObjectId, Timestamp } from '../schemas/bson.js';
import { createKafkajsTransport } from '../core/kafka/kafkajs.js';
import type { ChangeEvent } from '../schemas/envelope.js';
import { changeRecord } from '../testing/processors/events.js';
import { subscribe, type DecodedChangeEvent, type EventMeta } from '../sdk/index.js';
import { eventually, testInfra, uniqueName } from './support/infra.js';
import { committedTotal } from './support/processor-kafka.js';

const prefix = uniqueName('cfs');
const kafka = createKafkajsTransport({ brokers: [testInfra().kafka] });
const admin = kafka.admin();

beforeAll(() => admin.connect());
afterAll(async () => {
  await admin.deleteTopics((await admin.listTopics()).filter((t) => t.startsWith(prefix)));
  await admin.disconnect();
});

interface Order {
  _id: ObjectId;
  qty: number | Int32;
  total: Decimal128;
  views: number | Long;
  at: Date;
  blob: Binary;
}

function event(seq: number, op: 'insert' | 'update' | 'delete', id: ObjectId): ChangeEvent {
  const doc = {
    _id: id,
    qty: new Int32(seq),
    total: Decimal128.fromString(`${seq}.10`),
    views: Long.fromString('9007199254740993'),
    at: new Date(Date.UTC(2026, 0, 1, 0, 0, seq)),
    blob: new Binary(Buffer.from([1, 2, seq])),
  };
  return {
    v: 1,
    id: `tok-${seq}`,
    op,
    ns: { db: 'shop', coll: 'orders' },
    documentKey: EJSON.serialize({ _id: id }, { relaxed: false }) as Record<string, unknown>,
    ...(op === 'delete' ? {} : { fullDocument: EJSON.serialize(doc, { relaxed: false }) as Record<string, unknown> }),
    clusterTime: { t: 1_767_225_600, i: seq },
    wallTime: new Date(Date.UTC(2026, 0, 1)).toISOString(),
    source: { name: 'shop', cluster: 'c1' },
  };
}

it('subscribe() decodes changeflow events into BSON types, filters operations and commits after the handler', async () => {
  const topic = `${prefix}.shop.orders`;
  await admin.ensureTopics([{ topic, partitions: 2 }]);
  const ids = Array.from({ length: 6 }, () => new ObjectId());
  const events = ids.flatMap((id, i) => [event(i * 3, 'insert', id), event(i * 3 + 1, 'update', id), event(i * 3 + 2, 'delete', id)]);
  const producer = kafka.producer();
  await producer.connect();
  await producer.send([...events.map((e) => changeRecord(topic, e)), { topic, key: 'x', value: 'not json', headers: { op: 'insert' } }]);
  await producer.disconnect();

  const groupId = uniqueName('sdk');
  const seen: { event: DecodedChangeEvent<Order>; meta: EventMeta }[] = [];
  const invalid: string[] = [];
  let failOnce = true;
  const subscription = await subscribe<Order>(
    {
      brokers: testInfra().kafka,
      groupId,
      ns: { db: 'shop', coll: 'orders' },
      topicPrefix: prefix,
      ops: ['insert', 'update'],
      onInvalid: (e, meta) => invalid.push(`${meta.offset}: ${e.message}`),
    },
    async (e, meta) => {
      if (failOnce) {
        failOnce = false;
        throw new Error('transient');
      }
      seen.push({ event: e, meta });
    },
  );
  expect(subscription.topic).toBe(topic);
  await eventually(() => seen.length === 12 && invalid.length === 1, '12 inserts and updates decoded, 1 invalid record reported');
  await eventually(async () => (await committedTotal(admin, groupId, topic)) === events.length + 1, 'offsets committed after the handler');
  await subscription.stop();
  await subscription.closed;

  expect(seen.map((s) => s.event.op).sort()).toEqual([...Array(6).fill('insert'), ...Array(6).fill('update')]);
  const first = seen.find((s) => s.event.id === 'tok-3')?.event;
  expect(first?.fullDocument?._id).toBeInstanceOf(ObjectId);
  expect(first?.fullDocument?._id.equals(ids[1] as ObjectId)).toBe(true);
  expect(first?.documentKey?.['_id']).toBeInstanceOf(ObjectId);
  expect(first?.fullDocument?.total).toBeInstanceOf(Decimal128);
  expect(first?.fullDocument?.total.toString()).toBe('3.10');
  expect(first?.fullDocument?.at).toEqual(new Date(Date.UTC(2026, 0, 1, 0, 0, 3)));
  expect(first?.fullDocument?.blob).toBeInstanceOf(Binary);
  expect([...(first?.fullDocument?.blob.buffer ?? [])]).toEqual([1, 2, 3]);
  expect(first?.fullDocument?.qty).toBe(3);
  expect(first?.clusterTime).toBeInstanceOf(Timestamp);
  expect(first?.wallTime).toBeInstanceOf(Date);
  // Per document, the insert comes before the update.
  for (const [i] of ids.entries()) {
    const offsets = seen.filter((s) => s.event.id === `tok-${i * 3}` || s.event.id === `tok-${i * 3 + 1}`).map((s) => s.event.op);
    expect(offsets).toEqual(['insert', 'update']);
  }
  expect(invalid[0]).toMatch(/Unexpected token|JSON/);

  // exactNumbers keeps the stored BSON number types (a Mongo→Mongo copy needs them).
  const exact: DecodedChangeEvent<Order>[] = [];
  const second = await subscribe<Order>(
    { brokers: [testInfra().kafka], groupId: uniqueName('sdk-exact'), topic, ops: ['insert'], exactNumbers: true },
    (e) => void exact.push(e),
  );
  await eventually(() => exact.length === 6, 'inserts read again by a second group');
  await second.stop();
  expect(exact[0]?.fullDocument?.qty).toBeInstanceOf(Int32);
  expect(exact[0]?.fullDocument?.views).toBeInstanceOf(Long);
  expect(String(exact[0]?.fullDocument?.views)).toBe('9007199254740993');
});
