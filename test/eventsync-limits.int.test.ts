import { MongoClient } from 'mongodb';
import { createKafkajsTransport } from '../core/kafka/kafkajs.js';
import { closeHttpAgent, collectMessages, httpCall, startEventSyncInstance, type EventSyncInstance } from '../connectors/eventsync/harness.js';
import type { EventSyncMessage } from '../connectors/eventsync/message.js';
import { eventually, testInfra, uniqueName } from './support/infra.js';

// Issue 17 item 7: an event too large for any message is refused at intake, a window too large as a whole
// is split and drops nothing, and bodies that are not UTF-8 arrive intact (base64).
describe('EventSync limits: event size, window size, non-UTF-8 bodies', () => {
  const infra = testInfra();
  const kafka = createKafkajsTransport({ brokers: infra.kafka.split(',') });
  const mongo = new MongoClient(infra.mongodb);
  const dbs: string[] = [];
  const running: { stop(): Promise<void> }[] = [];

  beforeAll(() => mongo.connect());
  afterAll(async () => {
    for (const r of running.reverse()) await r.stop().catch(() => undefined);
    for (const db of dbs)
      await mongo
        .db(db)
        .dropDatabase()
        .catch(() => undefined);
    await mongo.close();
    closeHttpAgent();
  });

  async function start(topic: string, serviceName: string): Promise<{ es: EventSyncInstance; db: string; prefix: string; messages: EventSyncMessage[] }> {
    const db = uniqueName('es-lim');
    dbs.push(db);
    const es = await startEventSyncInstance({
      services: [
        { serviceName, trigger: { type: 'window', observationPeriod: 3600 }, endpoints: [{ eventKey: 'big' }, { eventKey: 'small' }], target: { topic } },
      ],
      brokers: infra.kafka,
      mongodbUri: infra.mongodb,
      db,
    });
    running.push(es);
    const c = await collectMessages(kafka, topic, uniqueName('es-g'));
    running.push(c);
    return { es, db, prefix: `${es.url}/eventsync/${serviceName}`, messages: c.messages };
  }

  const contents = (messages: EventSyncMessage[], key: string): string[] => messages.flatMap((m) => m.events[key]?.events.map((e) => e.content) ?? []);

  it('refuses an event that cannot fit in one message with 413 naming target.maxMessageBytes; the window still publishes', async () => {
    const topic = uniqueName('es-lim-a');
    const { prefix, messages } = await start(topic, 'limits-a');
    // The case: three ~1 MB bodies, each under http.maxBodyBytes (1,048,576) but over target.maxMessageBytes (1,000,000).
    for (let i = 0; i < 3; i++) {
      const r = await httpCall('POST', `${prefix}/event/big`, `${i}`.repeat(1_000_000), { 'Content-Type': 'text/plain' });
      expect(r.status).toBe(413);
      expect(r.json<{ message: string }>().message).toMatch(/target\.maxMessageBytes \(1000000 bytes\)/);
    }
    expect((await httpCall('POST', `${prefix}/event/big`, 'fits', { 'Content-Type': 'text/plain' })).status).toBe(200);
    expect((await httpCall('POST', `${prefix}/event/small`, 'hello, world!', { 'Content-Type': 'text/plain' })).status).toBe(200);
    await eventually(() => messages.length > 0, 'the window published');
    expect([contents(messages, 'big'), contents(messages, 'small')]).toEqual([['fits'], ['hello, world!']]);
  }, 60_000);

  it('splits a window too large as a whole and drops none of its events', async () => {
    const topic = uniqueName('es-lim-b');
    const { prefix, messages } = await start(topic, 'limits-b');
    const bodies = ['a', 'b', 'c'].map((c) => c.repeat(450_000));
    for (const body of bodies) expect((await httpCall('POST', `${prefix}/event/big`, body, { 'Content-Type': 'text/plain' })).status).toBe(200);
    expect((await httpCall('POST', `${prefix}/event/small`, 'hello, world!', { 'Content-Type': 'text/plain' })).status).toBe(200);
    await eventually(() => messages.length > 0 && messages.length === messages[0]?.part?.count, 'every part of the window published');
    expect(messages.length).toBeGreaterThanOrEqual(2);
    expect(new Set(messages.map((m) => m.eventID)).size).toBe(1);
    expect(contents(messages, 'big').sort()).toEqual(bodies);
    expect(contents(messages, 'small')).toEqual(['hello, world!']);
  }, 60_000);

  it('publishes the rest of a window when one stored event alone is too large (stored before the intake check)', async () => {
    const topic = uniqueName('es-lim-c');
    const { prefix, db, messages } = await start(topic, 'limits-c');
    await mongo
      .db(db)
      .collection('eventsync_limits-c')
      .insertOne({
        _id: 'old-huge' as never,
        eventKey: 'big',
        datetime: new Date(),
        headers: {},
        queryParams: {},
        content: 'h'.repeat(1_000_100),
        exported: false,
        claimId: null,
        claimedAt: null,
      });
    expect((await httpCall('POST', `${prefix}/event/big`, 'fits', { 'Content-Type': 'text/plain' })).status).toBe(200);
    expect((await httpCall('POST', `${prefix}/event/small`, 'hello, world!', { 'Content-Type': 'text/plain' })).status).toBe(200);
    await eventually(() => messages.length > 0, 'the window published without the oversized event');
    expect([contents(messages, 'big'), contents(messages, 'small')]).toEqual([['fits'], ['hello, world!']]);
    const huge = await mongo
      .db(db)
      .collection('eventsync_limits-c')
      .findOne({ _id: 'old-huge' as never });
    expect(huge).toMatchObject({ exported: true, rejected: expect.stringMatching(/target\.maxMessageBytes/) });
  }, 60_000);

  it('stores a body that is not valid UTF-8 as base64 with encoding: "base64", and keeps UTF-8 bodies as text', async () => {
    const topic = uniqueName('es-lim-d');
    const { prefix, messages } = await start(topic, 'limits-d');
    const bytes = Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x41, 0xc3, 0x28]);
    expect((await httpCall('POST', `${prefix}/event/big`, bytes, { 'Content-Type': 'application/octet-stream' })).status).toBe(200);
    expect((await httpCall('POST', `${prefix}/event/small`, 'grüße ✓', { 'Content-Type': 'text/plain; charset=utf-8' })).status).toBe(200);
    await eventually(() => messages.length > 0, 'the window published');
    const binary = messages[0]?.events['big']?.events[0];
    expect(binary).toMatchObject({ content: bytes.toString('base64'), encoding: 'base64' });
    expect(Buffer.from(binary?.content ?? '', 'base64')).toEqual(bytes);
    const text = messages[0]?.events['small']?.events[0];
    expect(text?.content).toBe('grüße ✓');
    expect(text && 'encoding' in text).toBe(false);
  }, 60_000);
});
