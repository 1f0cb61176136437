import { MongoClient } from 'mongodb';
import { createKafkajsTransport } from '../core/kafka/kafkajs.js';
import { closeHttpAgent, collectMessages, httpCall, startEventSyncInstance, type EventSyncInstance } from '../connectors/eventsync/harness.js';
import { eventSyncId, type EventSyncMessage } from '../connectors/eventsync/message.js';
import { eventually, testInfra, uniqueName } from './support/infra.js';

// The sample output of the EventSync requirements (docs/design.md), with the eventID its text describes.
const seedSample = {
  eventID: 'x',
  date: '2023-01-12T11:06:20.908047236Z',
  serviceName: 'My First Event Sync',
  triggerType: 'window',
  events: {
    entry1: {
      FirstEventDate: '2023-01-12T10:58:01.618171Z',
      lastEventDate: '2023-01-12T10:58:01.618171Z',
      numberOfEvents: 1,
      events: [
        {
          datetime: '2023-01-12T10:58:01.618171Z',
          eventKey: 'entry1',
          headers: { 'Content-Type': ['application/x-www-form-urlencoded'] },
          queryParams: { queryP: ['myQueryP'] },
          content: 'New test1',
        },
      ],
    },
    entry2: {
      FirstEventDate: '2023-01-12T11:06:19.432117Z',
      lastEventDate: '2023-01-12T11:06:19.432117Z',
      numberOfEvents: 1,
      events: [
        {
          datetime: '2023-01-12T11:06:19.432117Z',
          eventKey: 'entry2',
          headers: { 'Content-Type': ['application/x-www-form-urlencoded'] },
          queryParams: { queryP: ['myQueryP'] },
          content: 'New test2',
        },
      ],
    },
  },
};

/** Every key path of a JSON value (array items merged), to compare shapes. */
function keyPaths(value: unknown, path = ''): string[] {
  if (Array.isArray(value)) return value.flatMap((v) => keyPaths(v, `${path}[]`));
  if (typeof value === 'object' && value !== null) return Object.entries(value).flatMap(([k, v]) => [`${path}.${k}`, ...keyPaths(v, `${path}.${k}`)]);
  return [];
}
const shape = (value: unknown): string[] => [...new Set(keyPaths(value).filter((p) => !/\.headers\.(?!Content-Type)/.test(p)))].sort();

describe('EventSync: the sample of the requirements, window semantics, bad input', () => {
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

  async function start(
    services: Parameters<typeof startEventSyncInstance>[0]['services'],
    extra: { clock?: () => number; maxBodyBytes?: number } = {},
  ): Promise<EventSyncInstance> {
    const db = uniqueName('es-db');
    dbs.push(db);
    const instance = await startEventSyncInstance({ services, brokers: infra.kafka, mongodbUri: infra.mongodb, db, ...extra });
    running.push(instance);
    return instance;
  }

  async function collect(topic: string): Promise<EventSyncMessage[]> {
    const c = await collectMessages(kafka, topic, uniqueName('es-g'));
    running.push(c);
    return c.messages;
  }

  it('reproduces the sample of the requirements: curl calls to entry1 and entry2 give one message of that shape', async () => {
    const topic = uniqueName('es-seed');
    const es = await start([
      {
        serviceName: 'My First Event Sync',
        trigger: { type: 'window', observationPeriod: 3600, keepEventAfterTrigger: false },
        endpoints: [{ eventKey: 'entry1' }, { eventKey: 'entry2' }],
        target: { topic },
      },
    ]);
    const messages = await collect(topic);
    const prefix = `${es.url}/eventsync/my-first-event-sync`;

    const config = await httpCall('GET', `${prefix}/config`);
    expect(config.status).toBe(200);
    expect(config.json()).toMatchObject({ serviceName: 'My First Event Sync', trigger: { type: 'window', observationPeriod: 3600 }, target: { topic } });

    const form = { 'Content-Type': 'application/x-www-form-urlencoded' };
    const first = await httpCall('POST', `${prefix}/event/entry1?queryP=myQueryP`, 'New test1', form);
    expect(first.status).toBe(200);
    const second = await httpCall('POST', `${prefix}/event/entry2?queryP=myQueryP`, 'New test2', form);
    expect(second.status).toBe(200);

    await eventually(() => messages.length >= 1, 'the EventSync message on the target topic');
    const message = messages[0] as EventSyncMessage;
    expect(shape(message)).toEqual(shape(seedSample));
    expect(message.serviceName).toBe('My First Event Sync');
    expect(message.triggerType).toBe('window');
    expect(message.eventID).toBe(eventSyncId([first.json<{ id: string }>().id, second.json<{ id: string }>().id]));
    expect(message.events['entry1']?.events[0]).toMatchObject({
      eventKey: 'entry1',
      content: 'New test1',
      queryParams: { queryP: ['myQueryP'] },
      headers: { 'Content-Type': ['application/x-www-form-urlencoded'] },
    });
    expect(message.events['entry2']?.events[0]?.content).toBe('New test2');
    expect(message.events['entry1']?.numberOfEvents).toBe(1);

    // Exported: one more entry1 event alone does not trigger again.
    await httpCall('POST', `${prefix}/event/entry1`, 'again');
    await es.component.service('My First Event Sync').idle();
    expect(await es.component.service('My First Event Sync').pending()).toEqual({ entry1: 1 });
    expect(messages).toHaveLength(1);

    const health = await httpCall('GET', `${es.url}/healthz`);
    expect(health.json()).toMatchObject({ status: 'ok', components: { 'eventsync:my-first-event-sync': { ok: true } } });
    const metrics = (await httpCall('GET', `${es.url}/metrics`)).body;
    expect(metrics).toContain('changeflow_eventsync_events_accepted_total{service="My First Event Sync",event_key="entry1",via="http"} 2');
    expect(metrics).toContain('changeflow_eventsync_messages_published_total{service="My First Event Sync",trigger="window"} 1');
    expect(metrics).toContain('changeflow_eventsync_trigger_latency_seconds_count{service="My First Event Sync",trigger="window"} 1');
  });

  it('counts only events inside the observation period; keepEventAfterTrigger lets events count again; reset clears', async () => {
    let now = Date.parse('2030-01-01T00:00:00Z');
    const clock = (): number => now;
    const keepTopic = uniqueName('es-keep');
    const plainTopic = uniqueName('es-plain');
    const es = await start(
      [
        {
          serviceName: 'plain',
          trigger: { type: 'window', observationPeriod: 60 },
          endpoints: [{ eventKey: 'a' }, { eventKey: 'b' }],
          target: { topic: plainTopic },
        },
        {
          serviceName: 'keep',
          trigger: { type: 'window', observationPeriod: 60, keepEventAfterTrigger: true },
          endpoints: [{ eventKey: 'a' }, { eventKey: 'b' }],
          target: { topic: keepTopic },
        },
      ],
      { clock },
    );
    const plain = await collect(plainTopic);
    const keep = await collect(keepTopic);
    const post = async (svc: string, key: string, content: string): Promise<void> => {
      const res = await httpCall('POST', `${es.url}/eventsync/${svc}/event/${key}`, content);
      expect(res.status).toBe(200);
      await es.component.service(svc).idle();
    };

    // An "a" event ages out of the 60 s window before "b" arrives: no message.
    await post('plain', 'a', 'old-a');
    now += 61_000;
    await post('plain', 'b', 'b1');
    await post('plain', 'a', 'new-a');
    await eventually(() => plain.length >= 1, 'plain message');
    const contents = (m: EventSyncMessage): string[] =>
      Object.values(m.events)
        .flatMap((l) => l.events.map((e) => e.content))
        .sort();
    expect(contents(plain[0] as EventSyncMessage)).toEqual(['b1', 'new-a']);

    // Reset flags everything pending; a later "b" alone then does not complete a sync.
    await post('plain', 'a', 'a-before-reset');
    const reset = await httpCall('POST', `${es.url}/eventsync/plain/reset`);
    expect(reset.json()).toEqual({ reset: 1 });
    await post('plain', 'b', 'b-after-reset');
    expect(await es.component.service('plain').pending()).toEqual({ b: 1 });
    await post('plain', 'a', 'a-after-reset');
    await eventually(() => plain.length >= 2, 'second plain message');
    expect(contents(plain[1] as EventSyncMessage)).toEqual(['a-after-reset', 'b-after-reset']);
    expect(plain).toHaveLength(2);

    // keepEventAfterTrigger: the same a1/b1 count again with each new event.
    await post('keep', 'a', 'a1');
    await post('keep', 'b', 'b1');
    await eventually(() => keep.length >= 1, 'first keep message');
    await post('keep', 'b', 'b2');
    await eventually(() => keep.length >= 2, 'second keep message');
    expect(contents(keep[0] as EventSyncMessage)).toEqual(['a1', 'b1']);
    expect(contents(keep[1] as EventSyncMessage)).toEqual(['a1', 'b1', 'b2']);
    expect(keep[1]?.events['b']?.numberOfEvents).toBe(2);
  });

  it('type none publishes only on the manual trigger, with every event of the period', async () => {
    const topic = uniqueName('es-none');
    const es = await start([
      {
        serviceName: 'manual',
        trigger: { type: 'none', observationPeriod: 3600 },
        endpoints: [{ eventKey: 'a' }, { eventKey: 'b' }, { eventKey: 'c' }],
        target: { topic },
      },
    ]);
    const messages = await collect(topic);
    const prefix = `${es.url}/eventsync/manual`;
    for (const [key, content] of [
      ['a', 'a1'],
      ['b', 'b1'],
      ['a', 'a2'],
    ] as const)
      expect((await httpCall('POST', `${prefix}/event/${key}`, content)).status).toBe(200);
    expect(await es.component.service('manual').pending()).toEqual({ a: 2, b: 1 });

    const trigger = await httpCall('GET', `${prefix}/event/trigger`);
    expect(trigger.json()).toMatchObject({ published: true, events: 3, records: 1 });
    await eventually(() => messages.length >= 1, 'manual message');
    const message = messages[0] as EventSyncMessage;
    expect(message.triggerType).toBe('none');
    expect(message.events['a']?.numberOfEvents).toBe(2);
    expect(message.events['c']).toEqual({ numberOfEvents: 0, events: [] });
    expect((await httpCall('GET', `${prefix}/event/trigger`)).json()).toMatchObject({ published: false, reason: 'empty' });
  });

  it('rejects bad input: unknown eventKey, oversized body, missing auth; splits or rejects an oversized message', async () => {
    const topic = uniqueName('es-bad');
    const rejectTopic = uniqueName('es-reject');
    const token = 'a-bearer-token-of-some-length';
    const es = await start(
      [
        {
          serviceName: 'split',
          trigger: { type: 'none', observationPeriod: 3600 },
          endpoints: [{ eventKey: 'x' }, { eventKey: 'y' }],
          target: { topic, maxMessageBytes: 4096, oversize: 'split' },
          auth: { type: 'bearer', token },
        },
        {
          serviceName: 'reject',
          trigger: { type: 'none', observationPeriod: 3600 },
          endpoints: [{ eventKey: 'x' }],
          target: { topic: rejectTopic, maxMessageBytes: 4096, oversize: 'reject' },
          auth: { type: 'sharedSecret', secret: 'a-shared-secret-value' },
        },
      ],
      { maxBodyBytes: 2048 },
    );
    const messages = await collect(topic);
    const auth = { Authorization: `Bearer ${token}` };

    const unknown = await httpCall('POST', `${es.url}/eventsync/split/event/nope`, 'x', auth);
    expect(unknown.status).toBe(404);
    expect(unknown.json()).toMatchObject({ error: 'unknown eventKey', validEventKeys: ['x', 'y'] });

    const big = await httpCall('POST', `${es.url}/eventsync/split/event/x`, 'z'.repeat(3000), auth);
    expect(big.status).toBe(413);
    expect(big.json<{ message: string }>().message).toContain('http.maxBodyBytes (2048 bytes)');

    expect((await httpCall('POST', `${es.url}/eventsync/split/event/x`, 'no auth')).status).toBe(401);
    expect((await httpCall('POST', `${es.url}/eventsync/split/event/x`, 'bad auth', { Authorization: 'Bearer wrong-token-wrong-token' })).status).toBe(401);
    expect((await httpCall('POST', `${es.url}/eventsync/reject/event/x`, 'no secret')).status).toBe(401);

    for (let i = 0; i < 12; i++)
      expect((await httpCall('POST', `${es.url}/eventsync/split/event/${i % 2 ? 'x' : 'y'}`, `${i}:${'p'.repeat(1000)}`, auth)).status).toBe(200);
    const split = await httpCall('GET', `${es.url}/eventsync/split/event/trigger`, undefined, auth);
    const result = split.json<{ published: boolean; records: number; eventID: string }>();
    expect(result.published).toBe(true);
    expect(result.records).toBeGreaterThan(1);
    await eventually(() => messages.length >= result.records, 'every part of the split message');
    expect(messages.every((m) => m.eventID === result.eventID && m.part?.count === result.records)).toBe(true);
    expect(messages.map((m) => m.part?.index)).toEqual(Array.from({ length: result.records }, (_, i) => i + 1));
    const delivered = messages.flatMap((m) => Object.values(m.events).flatMap((l) => l.events));
    expect(delivered).toHaveLength(12);
    // The bearer token is not copied into the published event headers.
    expect(delivered.every((e) => !Object.keys(e.headers).some((h) => h.toLowerCase() === 'authorization'))).toBe(true);

    const secret = { 'x-eventsync-secret': 'a-shared-secret-value' };
    for (let i = 0; i < 6; i++) expect((await httpCall('POST', `${es.url}/eventsync/reject/event/x`, 'q'.repeat(1000), secret)).status).toBe(200);
    const rejected = await httpCall('GET', `${es.url}/eventsync/reject/event/trigger`, undefined, secret);
    expect(rejected.status).toBe(422);
    expect(rejected.json<{ error: string }>().error).toContain('over target.maxMessageBytes (4096); set target.oversize: split');
  });

  it('fails to start on a bad config with the field named', async () => {
    const topic = uniqueName('es-cfg');
    const common = { brokers: infra.kafka, mongodbUri: infra.mongodb, db: uniqueName('es-db') };
    await expect(
      startEventSyncInstance({
        ...common,
        services: [{ serviceName: 's', trigger: { type: 'window', observationPeriod: -5 }, endpoints: [{ eventKey: 'a' }], target: { topic } }],
      }),
    ).rejects.toThrow('eventsync[0].trigger.observationPeriod: observationPeriod must be a number of seconds > 0');
    await expect(
      startEventSyncInstance({
        ...common,
        services: [
          { serviceName: 's', trigger: { type: 'window', observationPeriod: 5 }, endpoints: [{ eventKey: 'a' }, { eventKey: 'a' }], target: { topic } },
        ],
      }),
    ).rejects.toThrow('eventsync[0].endpoints[1].eventKey: eventKey "a" is already used by endpoints[0]');
    const svc = { trigger: { type: 'window' as const, observationPeriod: 5 }, endpoints: [{ eventKey: 'a' }], target: { topic } };
    await expect(
      startEventSyncInstance({
        ...common,
        services: [
          { serviceName: 'Same', ...svc },
          { serviceName: 'same', ...svc },
        ],
      }),
    ).rejects.toThrow('eventsync[1].pathPrefix');
  });
});
