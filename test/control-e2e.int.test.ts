import { MongoClient } from 'mongodb';
import { startApp, type RunningApp } from '../core/app.js';
import { compileConfig } from '../app/config.js';
import { silentLogger } from '../core/logger.js';
import { createMetricsRegistry } from '../core/metrics.js';
import { ControlClient } from '../control/client.js';
import { createControlPlane, type ControlPlane } from '../control/component.js';
import { Scheduler } from '../control/scheduler.js';
import { ProcessorManager } from '../processors/manager.js';
import { makeChangeEvent } from '../testing/processors/events.js';
import { dropMemoryBucket, memoryBucket, memorySinkKind } from '../testing/processors/memory-sink.js';
import type { TriggerController, TriggerDefinition } from '../processors/trigger-definition.js';
import { eventually, testInfra, uniqueName } from './support/infra.js';
import { produceEvents, readTopic } from './support/processor-kafka.js';

const TOKEN = 'e2e-token-0123456789abcdef';
const fnCode = (tag: string): string =>
  `export default function handle(events) { return events.map((e) => ({ sink: "out", op: "set", key: "${tag}:" + e.fullDocument.seq.$numberInt, value: { seq: Number(e.fullDocument.seq.$numberInt) } })); }`;

/** Delegates to the real processors and remembers what the control plane applied, and when. */
class Observed implements TriggerController {
  readonly applied: { at: number; definition: TriggerDefinition }[] = [];
  constructor(private readonly inner: TriggerController) {}
  async apply(definition: TriggerDefinition): Promise<void> {
    const t = Date.now();
    await this.inner.apply(definition);
    if (process.env['CTL_DEBUG']) console.log('apply', definition.enabled, definition.functionCode?.name, Date.now() - t, 'ms', new Date().toISOString());
    this.applied.push({ at: Date.now(), definition });
  }
  remove(key: string): Promise<void> {
    return this.inner.remove(key);
  }
  running(): string[] {
    return this.inner.running();
  }
  last(key: string): TriggerDefinition | undefined {
    return this.applied.filter((a) => a.definition.key === key).at(-1)?.definition;
  }
}

describe('control plane driving the real processors: changes flow, stop, resume and switch function while running', () => {
  const infra = testInfra();
  const prefix = uniqueName('cfc');
  const dbName = uniqueName('ctl-e2e');
  const bucketName = uniqueName('bucket');
  const watchedDb = uniqueName('shop');
  let app: RunningApp;
  let plane: ControlPlane;
  let observed: Observed | undefined;
  let client: ControlClient;

  beforeAll(async () => {
    const config = compileConfig({
      kafka: { brokers: [infra.kafka], topicPrefix: prefix },
      mongodb: { uri: infra.mongodb, db: dbName },
      http: { port: 0 },
      grpc: { port: 0 },
      auth: { tokens: [{ token: TOKEN, userId: 'team-a' }] },
      // Granted by an admin: team-a's triggers may read shop.orders without a data_source (the test produces those events itself; no source component runs here).
      sources: [{ name: 'shop-orders', uri: infra.mongodb, watch: { db: 'shop', coll: 'orders' }, readers: ['team-a'] }],
    });
    const processors = new ProcessorManager([], { extraSinkKinds: [memorySinkKind], topicRefreshMs: 0 });
    plane = createControlPlane(config, {
      sinkKinds: () => [memorySinkKind],
      controller: () => (observed = new Observed(processors)),
    });
    app = await startApp(config, [() => processors, () => plane], {
      logger: silentLogger,
      metrics: createMetricsRegistry({ defaultMetrics: false }),
    });
    client = new ControlClient(plane.address, TOKEN);
  });

  afterAll(async () => {
    client?.close();
    await app?.stop();
    dropMemoryBucket(bucketName);
    dropMemoryBucket(`${bucketName}-ticks`);
    dropMemoryBucket(`${bucketName}-auto`);
    const admin = app?.context.kafka.admin();
    if (admin) {
      await admin.connect();
      await admin.deleteTopics((await admin.listTopics()).filter((t) => t.startsWith(prefix))).catch(() => undefined);
      await admin.disconnect();
    }
    const mongo = new MongoClient(infra.mongodb);
    await mongo.connect();
    await mongo
      .db(dbName)
      .dropDatabase()
      .catch(() => undefined);
    await mongo
      .db(watchedDb)
      .dropDatabase()
      .catch(() => undefined);
    await mongo.close();
  });

  it('create → flow → disable (stops) → enable (resumes from its committed offset, nothing missed) → other function → delete', async () => {
    expect(observed).toBeDefined();
    const controller = observed as Observed;
    const topic = `${prefix}.shop.orders`;
    const bucket = memoryBucket(bucketName);
    const produce = (from: number, to: number): Promise<void> =>
      produceEvents(
        app.context.kafka,
        topic,
        Array.from({ length: to - from }, (_, i) => makeChangeEvent({ db: 'shop', coll: 'orders', docId: (from + i) % 7, seq: from + i })),
      );
    const keysFor = (tag: string): number[] =>
      bucket.records
        .map((r) => String(r.action?.['key']))
        .filter((k) => k.startsWith(`${tag}:`))
        .map((k) => Number(k.slice(tag.length + 1)))
        .sort((a, b) => a - b);
    const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

    const fnA = (
      await client.call<{ function: Record<string, unknown> }>('functions', 'create', { function: { name: 'to-a', function_type: 2, javascript: fnCode('a') } })
    ).function;
    const fnB = (
      await client.call<{ function: Record<string, unknown> }>('functions', 'create', { function: { name: 'to-b', function_type: 2, javascript: fnCode('b') } })
    ).function;
    const created = (
      await client.call<{ trigger: Record<string, unknown> }>('triggers', 'create', {
        trigger: {
          name: 'orders-flow',
          trigger_type: 1,
          database: { data_source: '', database: 'shop', collection: 'orders', operation_types: [1, 2] }, // events are produced by the test itself
          function_id: fnA['id'],
          enabled: true,
          sinks: [{ name: 'out', kind: 'memory', options_json: JSON.stringify({ bucket: bucketName }) }],
          batch: { max_size: 20, max_wait_ms: 20 },
        },
      })
    ).trigger;
    const key = String(created['runtime_key']);
    const id = created['id'];

    await eventually(() => controller.running().includes(key), 'trigger consuming', 15_000);
    await produce(0, 100);
    await eventually(() => keysFor('a').length === 100, '100 events through function a', 30_000);
    expect(keysFor('a')).toEqual(range(0, 100));

    let t0 = Date.now();
    await client.call('triggers', 'disable', { id });
    await eventually(() => !controller.running().includes(key), 'consumer stopped after disable', 10_000);
    const stopMs = Date.now() - t0;
    await produce(100, 160);
    // Stopped: nothing can consume these until enabled again.
    expect(controller.running()).not.toContain(key);
    expect(bucket.records).toHaveLength(100);

    t0 = Date.now();
    await client.call('triggers', 'enable', { id });
    await eventually(() => keysFor('a').length === 160, 'the 60 events written while disabled', 30_000);
    const resumeMs = Date.now() - t0;
    expect(keysFor('a')).toEqual(range(0, 160));

    t0 = Date.now();
    await client.call('triggers', 'update', { id, function_id: fnB['id'] });
    // The control plane hands the new definition over within milliseconds; the restart itself waits for the
    // old consumer's fetch long-poll (kafkajs maxWaitTimeInMs, 5 s by default), hence the wider bound here.
    await eventually(() => controller.last(key)?.functionCode?.name === 'to-b' && controller.running().includes(key), 'function b applied', 10_000);
    const switchMs = Date.now() - t0;
    await produce(160, 200);
    await eventually(() => keysFor('b').length === 40, '40 events through function b', 30_000);
    expect(keysFor('b')).toEqual(range(160, 200));
    expect(keysFor('a')).toEqual(range(0, 160));

    await client.call('triggers', 'delete', { id });
    await eventually(() => !controller.running().includes(key), 'consumer gone after delete', 15_000);
    console.log(
      `control plane → processors: disable stopped the consumer in ${stopMs} ms; enable delivered the backlog in ${resumeMs} ms; function switch applied in ${switchMs} ms`,
    );
  });
  it('fires a SCHEDULED trigger from its cron expression through the processors, and each firing is claimed once', async () => {
    const controller = observed as Observed;
    const ticks = memoryBucket(`${bucketName}-ticks`);
    const fn = (
      await client.call<{ function: Record<string, unknown> }>('functions', 'create', {
        function: {
          name: 'on-tick',
          function_type: 2,
          javascript:
            'export default (events) => events.map((e) => ({ sink: "out", op: "set", key: "tick:" + e.fullDocument.scheduledAt, value: e.fullDocument }));',
        },
      })
    ).function;
    const created = (
      await client.call<{ trigger: Record<string, unknown> }>('triggers', 'create', {
        trigger: {
          name: 'every-second',
          trigger_type: 3,
          scheduled: { schedule: '* * * * * *' },
          function_id: fn['id'],
          enabled: true,
          sinks: [{ name: 'out', kind: 'memory', options_json: JSON.stringify({ bucket: `${bucketName}-ticks` }) }],
          batch: { max_size: 10, max_wait_ms: 10 },
        },
      })
    ).trigger;
    const key = String(created['runtime_key']);
    await eventually(() => new Set(ticks.records.map((r) => r.action?.['key'])).size >= 2, 'two scheduled firings delivered', 20_000);
    const first = ticks.records[0];
    expect(first?.event.op).toBe('insert');
    expect(first?.event.ns).toEqual({ db: '__schedule', coll: 'every-second' });
    expect(String(first?.action?.['key'])).toMatch(/^tick:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);

    await client.call('triggers', 'delete', { id: created['id'] });
    await eventually(() => !controller.running().includes(key), 'scheduled trigger gone', 10_000);

    // A second instance firing the same instant finds it claimed and writes nothing.
    const scheduler = new Scheduler({ kafka: app.context.kafka, db: app.context.metadata.db, topics: app.context.topics, logger: silentLogger });
    const claimKey = uniqueName('claim');
    try {
      await scheduler.set(claimKey, 'claim', '0 0 1 1 *');
      const at = new Date('2030-01-01T00:00:00.200Z');
      expect(await scheduler.fire(claimKey, 'claim', at)).toBe(true);
      expect(await scheduler.fire(claimKey, 'claim', new Date('2030-01-01T00:00:00.300Z'))).toBe(false);
      const records = await readTopic(app.context.kafka, Scheduler.topic(app.context.topics, claimKey), 1);
      expect(records).toHaveLength(1);
      expect(JSON.parse(String(records[0]?.value))).toMatchObject({ v: 1, id: `schedule:${claimKey}:2030-01-01T00:00:00.000Z`, op: 'insert' });
    } finally {
      await scheduler.stop();
    }
  });
  it('starts a source for a DATABASE trigger whose namespace has none: MongoDB insert → Kafka → trigger → sink', async () => {
    const auto = memoryBucket(`${bucketName}-auto`);
    const created = (
      await client.call<{ trigger: Record<string, unknown> }>('triggers', 'create', {
        trigger: {
          name: 'auto-source',
          trigger_type: 1,
          database: { data_source: infra.mongodb, database: watchedDb, collection: 'orders', operation_types: [1] },
          enabled: true,
          sinks: [{ name: 'out', kind: 'memory', options_json: JSON.stringify({ bucket: `${bucketName}-auto` }) }],
          batch: { max_size: 10, max_wait_ms: 10 },
        },
      })
    ).trigger;
    const key = String(created['runtime_key']);
    await eventually(() => (observed as Observed).running().includes(key), 'trigger consuming', 10_000);
    const mongo = new MongoClient(infra.mongodb);
    await mongo.connect();
    try {
      const orders = mongo.db(watchedDb).collection<{ _id: number; total: number }>('orders');
      // The source may still be opening its change stream: keep writing until the first change comes through.
      let n = 0;
      await eventually(
        async () => {
          if (auto.records.length === 0 && n < 50) await orders.insertOne({ _id: n++, total: n * 10 });
          return auto.records.length > 0;
        },
        'first insert published by the auto source and delivered',
        30_000,
        500,
      );
      await orders.insertMany([
        { _id: 1000, total: 1 },
        { _id: 1001, total: 2 },
      ]);
      await eventually(
        () => auto.records.some((r) => r.event.documentKey?.['_id'] !== undefined && JSON.stringify(r.event.documentKey).includes('1001')),
        'later inserts delivered',
        30_000,
      );
      expect(auto.records.every((r) => r.event.op === 'insert' && r.event.ns.db === watchedDb && r.event.ns.coll === 'orders')).toBe(true);
    } finally {
      await mongo.close();
    }
    await client.call('triggers', 'delete', { id: created['id'] });
  });
});
