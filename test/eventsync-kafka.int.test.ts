import { MongoClient } from 'mongodb';
import { createKafkajsTransport } from '../core/kafka/kafkajs.js';
import { closeHttpAgent, collectMessages, httpCall, startEventSyncInstance } from '../connectors/eventsync/harness.js';
import type { EventSyncMessage } from '../connectors/eventsync/message.js';
import { eventually, testInfra, uniqueName } from './support/infra.js';

describe('EventSync endpoint fed from a Kafka topic', () => {
  const infra = testInfra();
  const kafka = createKafkajsTransport({ brokers: infra.kafka.split(',') });
  const mongo = new MongoClient(infra.mongodb);
  const admin = kafka.admin();
  const db = uniqueName('es-db');
  const running: { stop(): Promise<void> }[] = [];

  beforeAll(async () => {
    await mongo.connect();
    await admin.connect();
  });
  afterAll(async () => {
    for (const r of running.reverse()) await r.stop().catch(() => undefined);
    await admin.disconnect();
    await mongo
      .db(db)
      .dropDatabase()
      .catch(() => undefined);
    await mongo.close();
    closeHttpAgent();
  });

  it('waits for "order written" (a change topic) AND "payment received" (HTTP), commits after storing, stores a re-read record once', async () => {
    const orders = uniqueName('changeflow.shop.orders');
    const target = uniqueName('es-order-paid');
    const groupId = uniqueName('es-feed');
    const services = [
      {
        serviceName: 'order paid',
        trigger: { type: 'window' as const, observationPeriod: 600 },
        endpoints: [{ eventKey: 'order', topic: orders }, { eventKey: 'payment' }],
        target: { topic: target },
        groupId,
      },
    ];
    const start = () => startEventSyncInstance({ services, brokers: infra.kafka, mongodbUri: infra.mongodb, db });
    let es = await start();
    running.push(es);
    const collector = await collectMessages(kafka, target, uniqueName('es-g'));
    running.push(collector);
    const messages: EventSyncMessage[] = collector.messages;
    const prefix = `${es.url}/eventsync/order-paid`;

    const change = {
      v: 1,
      id: 'tok-1',
      op: 'insert',
      ns: { db: 'shop', coll: 'orders' },
      documentKey: { _id: 'o-1' },
      fullDocument: { _id: 'o-1', total: 42 },
    };
    const producer = kafka.producer();
    await producer.connect();
    await producer.send([{ topic: orders, key: '{"_id":"o-1"}', value: JSON.stringify(change), headers: { op: 'insert' } }]);
    await producer.disconnect();

    // The order alone waits; it is stored, then the offset is committed.
    await eventually(async () => (await es.component.service('order paid').pending())['order'] === 1, 'the order event stored from Kafka');
    await eventually(async () => (await admin.groupOffsets(groupId, orders)).some((o) => o.offset === '1'), 'the feed offset committed');
    expect(messages).toHaveLength(0);

    const viaHttp = await httpCall('POST', `${prefix}/event/order`, 'not over http');
    expect(viaHttp.status).toBe(405);
    expect(viaHttp.json<{ message: string }>().message).toContain(`fed from Kafka topic "${orders}"`);

    expect((await httpCall('POST', `${prefix}/event/payment?order=o-1`, '{"paid":42}', { 'Content-Type': 'application/json' })).status).toBe(200);
    await eventually(() => messages.length >= 1, 'the order-paid message');
    const message = messages[0] as EventSyncMessage;
    const order = message.events['order']?.events[0];
    expect(JSON.parse(order?.content ?? '{}')).toEqual(change);
    expect(order?.headers).toMatchObject({ op: ['insert'], 'kafka-topic': [orders], 'kafka-partition': ['0'], 'kafka-offset': ['0'] });
    expect(message.events['payment']?.events[0]).toMatchObject({ content: '{"paid":42}', queryParams: { order: ['o-1'] } });

    // A record read again (group reset, crash before commit) is stored once: its id is its coordinates.
    await es.stop();
    running.splice(running.indexOf(es), 1);
    const count = await mongo.db(db).collection('eventsync_order-paid').countDocuments({});
    const againGroup = uniqueName('es-feed-again');
    es = await startEventSyncInstance({ services: [{ ...services[0]!, groupId: againGroup }], brokers: infra.kafka, mongodbUri: infra.mongodb, db });
    running.push(es);
    await eventually(async () => (await admin.groupOffsets(againGroup, orders)).some((o) => o.offset === '1'), 'the record read again by a new group');
    expect(await mongo.db(db).collection('eventsync_order-paid').countDocuments({})).toBe(count);
    expect(await es.component.service('order paid').pending()).toEqual({});
  });
});
