import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { stringify } from 'yaml';
import { createKafkajsTransport } from '../core/kafka/kafkajs.js';
import { closeHttpAgent, collectMessages, httpCall, startEventSyncInstance, type EventSyncInstance } from '../connectors/eventsync/harness.js';
import { eventSyncId, type EventSyncMessage } from '../connectors/eventsync/message.js';
import { EventStore } from '../connectors/eventsync/store.js';
import { serviceCollections, type EventSyncConfigInput } from '../connectors/eventsync/config.js';
import { eventually, testInfra, uniqueName } from './support/infra.js';

const keys = ['orders', 'payments', 'shipping'] as const;

/** Runs `tasks` with at most `width` in flight. */
async function pool<T>(count: number, width: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < count) {
        const i = next++;
        results[i] = await task(i);
      }
    }),
  );
  return results;
}

/** content → eventIDs of the messages that carried it, after merging repeats of one eventID. */
function deliveries(messages: readonly EventSyncMessage[]): { byContent: Map<string, Set<string>>; sets: Map<string, string[]> } {
  const sets = new Map<string, string[]>();
  for (const m of messages) {
    const contents = Object.values(m.events).flatMap((l) => l.events.map((e) => e.content));
    const known = sets.get(m.eventID);
    if (known)
      expect([...contents].sort()).toEqual([...known].sort()); // a repeat carries exactly the same events
    else sets.set(m.eventID, contents);
  }
  const byContent = new Map<string, Set<string>>();
  for (const [eventID, contents] of sets) for (const c of contents) byContent.set(c, (byContent.get(c) ?? new Set()).add(eventID));
  return { byContent, sets };
}

describe('EventSync under concurrency and crashes', () => {
  const infra = testInfra();
  const kafka = createKafkajsTransport({ brokers: infra.kafka.split(',') });
  const mongo = new MongoClient(infra.mongodb);
  const dbs: string[] = [];
  const running: { stop(): Promise<void> }[] = [];
  const children: ChildProcess[] = [];

  beforeAll(() => mongo.connect());
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const r of running.reverse()) await r.stop().catch(() => undefined);
    for (const db of dbs)
      await mongo
        .db(db)
        .dropDatabase()
        .catch(() => undefined);
    await mongo.close();
    closeHttpAgent();
  });

  const service = (topic: string, claimLeaseMs = 30_000): EventSyncConfigInput => ({
    serviceName: 'Checkout Sync',
    trigger: { type: 'window', observationPeriod: 3600 },
    endpoints: keys.map((eventKey) => ({ eventKey })),
    target: { topic },
    claimLeaseMs,
  });

  async function instance(db: string, services: EventSyncConfigInput[]): Promise<EventSyncInstance> {
    const started = await startEventSyncInstance({ services, brokers: infra.kafka, mongodbUri: infra.mongodb, db });
    running.push(started);
    return started;
  }

  async function collect(topic: string): Promise<EventSyncMessage[]> {
    const c = await collectMessages(kafka, topic, uniqueName('es-g'));
    running.push(c);
    return c.messages;
  }

  it('2,000 concurrent events on 3 endpoints through 2 instances: each event in exactly one message, no duplicate eventIDs', async () => {
    const db = uniqueName('es-db');
    dbs.push(db);
    const topic = uniqueName('es-conc');
    const a = await instance(db, [service(topic)]);
    const b = await instance(db, [service(topic)]);
    const messages = await collect(topic);

    const total = 2000;
    const statuses = await pool(total, 64, async (i) => {
      const base = i % 2 ? a.url : b.url;
      return (await httpCall('POST', `${base}/eventsync/checkout-sync/event/${keys[i % 3]}`, `evt-${i}`)).status;
    });
    expect(statuses.every((s) => s === 200)).toBe(true);
    await a.component.service('Checkout Sync').idle();
    await b.component.service('Checkout Sync').idle();
    // What is left cannot complete a window (an endpoint has none); the manual trigger sends it.
    await httpCall('GET', `${a.url}/eventsync/checkout-sync/event/trigger`);

    await eventually(async () => deliveries(messages).byContent.size >= total, 'every event delivered', 60_000);
    const { byContent, sets } = deliveries(messages);
    expect(messages.length).toBe(sets.size); // no eventID published twice
    for (let i = 0; i < total; i++) expect(byContent.get(`evt-${i}`)?.size).toBe(1);
    expect(byContent.size).toBe(total);
    // Window messages each hold every endpoint.
    const windowMessages = messages.slice(0, -1).filter((m) => keys.every((k) => (m.events[k]?.numberOfEvents ?? 0) > 0));
    expect(windowMessages.length).toBeGreaterThan(1);
    const store = new EventStore(mongo.db(db), serviceCollections({ serviceName: 'Checkout Sync' } as never));
    expect(await store.events.countDocuments({ exported: false })).toBe(0);
    expect(await store.claims.countDocuments({})).toBe(0);
  });

  it('finishes a claim left by a dead instance: republishes a fixed set with the same eventID, frees an unfinished one', async () => {
    const db = uniqueName('es-db');
    dbs.push(db);
    const topic = uniqueName('es-recover');
    const config = { ...service(topic, 500), trigger: { type: 'none' as const, observationPeriod: 3600 } };
    const store = new EventStore(mongo.db(db), serviceCollections({ serviceName: config.serviceName } as never));
    const at = new Date();
    const event = (id: string, eventKey: string) => ({ id, eventKey, datetime: at, headers: {}, queryParams: {}, content: id });
    await store.insert([event('p1', 'orders'), event('p2', 'payments'), event('c1', 'orders'), event('free', 'shipping')]);
    // "dead-1" had fixed its set and was publishing; "dead-2" was still claiming.
    const expired = new Date(Date.now() - 1000);
    await store.openClaim({ _id: 'claim-p', state: 'claiming', owner: 'dead-1', leaseUntil: expired, createdAt: at, manual: false, eventIds: [] });
    await store.claimEvents('claim-p', ['p1', 'p2'], at);
    expect(await store.beginPublishing('claim-p', 'dead-1', ['p1', 'p2'], expired, at)).toBe(true);
    await store.openClaim({ _id: 'claim-c', state: 'claiming', owner: 'dead-2', leaseUntil: expired, createdAt: at, manual: false, eventIds: [] });
    await store.claimEvents('claim-c', ['c1'], at);

    const es = await instance(db, [config]);
    const messages = await collect(topic);
    await eventually(() => messages.length >= 1, 'the republished message');
    expect(messages[0]?.eventID).toBe(eventSyncId(['p1', 'p2']));
    expect(await store.claims.countDocuments({})).toBe(0);
    expect(await store.events.countDocuments({ exported: true })).toBe(2);
    // c1 is free again: the manual trigger sends it with the never-claimed event.
    const trigger = await httpCall('GET', `${es.url}/eventsync/checkout-sync/event/trigger`);
    expect(trigger.json()).toMatchObject({ published: true, events: 2, eventID: eventSyncId(['c1', 'free']) });
  });

  it('kill -9 of one of two instances under load loses no accepted event and splits none across messages', async () => {
    const db = uniqueName('es-db');
    dbs.push(db);
    const topic = uniqueName('es-kill');
    const lease = 1500;
    const dir = mkdtempSync(join(tmpdir(), 'es-kill-'));
    const yamlPath = join(dir, 'changeflow.yaml');
    writeFileSync(
      yamlPath,
      stringify({
        kafka: { brokers: infra.kafka.split(','), partitions: 1 },
        mongodb: { uri: infra.mongodb, db },
        http: { host: '127.0.0.1', port: 0 },
        grpc: { host: '127.0.0.1', port: 0 },
        eventsync: [service(topic, lease)],
      }),
    );
    const child = spawn(process.execPath, ['bin/changeflow.js', 'run', '--config', yamlPath], {
      env: { ...process.env, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.push(child);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    await eventually(() => /changeflow running: http (http:\/\/[\d.]+:\d+)/.test(stderr) || child.exitCode !== null, 'the child instance to start', 60_000);
    const childUrl = /changeflow running: http (http:\/\/[\d.]+:\d+)/.exec(stderr)?.[1];
    if (!childUrl) throw new Error(`child did not start: ${stderr}`);
    rmSync(dir, { recursive: true, force: true });

    const local = await instance(db, [service(topic, lease)]);
    const messages = await collect(topic);

    const total = 2000;
    let childAccepted = 0;
    const accepted = new Set<string>();
    await pool(total, 48, async (i) => {
      const toChild = i % 2 === 0;
      const content = `evt-${i}`;
      try {
        const res = await httpCall('POST', `${toChild ? childUrl : local.url}/eventsync/checkout-sync/event/${keys[i % 3]}`, content);
        if (res.status === 200) {
          accepted.add(content);
          if (toChild && ++childAccepted === 300) child.kill('SIGKILL');
        }
      } catch {
        // The killed instance refuses or drops the request: not accepted.
      }
    });
    await eventually(() => child.signalCode === 'SIGKILL', 'the child to be dead');
    expect(childAccepted).toBeGreaterThanOrEqual(300);
    expect(accepted.size).toBeGreaterThan(1200);

    // The survivor finishes or frees whatever the dead instance held (lease expiry), then flushes the rest.
    const store = new EventStore(mongo.db(db), serviceCollections({ serviceName: 'Checkout Sync' } as never));
    await eventually(
      async () => (await store.claims.countDocuments({})) === 0 && (await store.events.countDocuments({ claimId: { $ne: null }, exported: false })) === 0,
      'claims of the dead instance recovered',
      30_000,
    );
    await local.component.service('Checkout Sync').idle();
    await httpCall('GET', `${local.url}/eventsync/checkout-sync/event/trigger`);

    await eventually(async () => [...accepted].every((c) => deliveries(messages).byContent.has(c)), 'every accepted event delivered', 60_000);
    const { byContent, sets } = deliveries(messages);
    for (const [content, eventIDs] of byContent) expect([content, eventIDs.size]).toEqual([content, 1]);
    const recovered = await local.app.context.metrics.getSingleMetricAsString('changeflow_eventsync_claims_recovered_total');
    process.stderr.write(
      `kill -9: ${accepted.size} accepted (${childAccepted} by the killed child), ${messages.length} messages, ${sets.size} distinct eventIDs, ${byContent.size} events delivered\n${recovered}\n`,
    );
    expect(await store.events.countDocuments({ exported: false })).toBe(0);
  });
});
