import { ProcessorManager } from '../processors/manager.js';
import { makeChangeEvent } from '../testing/processors/events.js';
import { processorContext } from '../testing/processors/context.js';
import { dropMemoryBucket, memoryBucket, memorySinkKind } from '../testing/processors/memory-sink.js';
import { triggerConfigSchema } from '../processors/trigger-config.js';
import type { TriggerDefinition } from '../processors/trigger-definition.js';
import { consumerGroupOf } from '../processors/trigger-runtime.js';
import { eventually, testInfra, uniqueName } from './support/infra.js';
import { committedTotal, produceEvents } from './support/processor-kafka.js';

const prefix = uniqueName('cfk');
const context = processorContext({ brokers: testInfra().kafka, prefix });
const admin = context.kafka.admin();
const manager = new ProcessorManager([], { extraSinkKinds: [memorySinkKind], topicRefreshMs: 0 });

function trigger(input: Record<string, unknown>, functionCode?: string): TriggerDefinition {
  const parsed = triggerConfigSchema.parse(input);
  return {
    ...parsed,
    key: parsed.name,
    ...(functionCode ? { functionCode: { name: `${parsed.name}-fn`, code: functionCode, memoryMiB: 32, timeoutMs: 1000 } } : {}),
  };
}

async function quietFor(ms: number, check: () => Promise<void> | void): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    await check();
    await new Promise((r) => setTimeout(r, 150));
  }
}

beforeAll(async () => {
  await admin.connect();
  await manager.start(context);
});

afterAll(async () => {
  await manager.stop();
  await admin.deleteTopics((await admin.listTopics()).filter((t) => t.startsWith(prefix)));
  await admin.disconnect();
  await context.close();
});

it('passes events through, filtered by operationTypes and match, from every collection topic of a database except __ddl', async () => {
  const name = uniqueName('db');
  const a = `${prefix}.shop.a`;
  const b = `${prefix}.shop.b`;
  await admin.ensureTopics([a, b, `${prefix}.shop.__ddl`, `${prefix}.other.c`].map((topic) => ({ topic, partitions: 1 })));
  const ops = ['insert', 'update', 'delete'] as const;
  const eventsA = Array.from({ length: 30 }, (_, seq) =>
    makeChangeEvent({ db: 'shop', coll: 'a', docId: seq, seq, op: ops[seq % 3], fields: { qty: seq % 10 } }),
  );
  const eventsB = Array.from({ length: 10 }, (_, seq) => makeChangeEvent({ db: 'shop', coll: 'b', docId: seq, seq, fields: { qty: seq } }));
  await produceEvents(context.kafka, a, eventsA);
  await produceEvents(context.kafka, b, eventsB);
  await produceEvents(context.kafka, `${prefix}.shop.__ddl`, [makeChangeEvent({ db: 'shop', coll: 'a', docId: 99, seq: 99, fields: { qty: 9 } })]);
  await produceEvents(context.kafka, `${prefix}.other.c`, [makeChangeEvent({ db: 'other', coll: 'c', docId: 1, seq: 1, fields: { qty: 9 } })]);
  const bucket = memoryBucket(name);
  await manager.apply(
    trigger({
      name,
      source: { db: 'shop' },
      operationTypes: ['insert', 'update'],
      match: { 'fullDocument.qty': { $gt: 5 } },
      sinks: [
        { name: 'out', kind: 'memory', bucket: name },
        { name: 'copy', kind: 'memory', bucket: `${name}-copy` },
      ],
    }),
  );
  expect(manager.status(name)?.topics).toEqual([a, b]);
  const expected = [...eventsA, ...eventsB]
    .filter((e) => e.op !== 'delete' && Number((e.fullDocument?.['qty'] as { $numberInt: string }).$numberInt) > 5)
    .map((e) => e.id);
  const group = consumerGroupOf(prefix, name);
  await eventually(async () => (await committedTotal(admin, group, a)) === 30 && (await committedTotal(admin, group, b)) === 10, 'both topics committed');
  expect(bucket.records.map((r) => r.event.id).sort()).toEqual(expected.sort());
  // Pass-through: every sink receives each event, with no action.
  expect(
    memoryBucket(`${name}-copy`)
      .records.map((r) => r.event.id)
      .sort(),
  ).toEqual(expected.sort());
  expect(bucket.records.every((r) => r.action === undefined)).toBe(true);
  expect(manager.status(name)?.stats).toMatchObject({ delivered: expected.length, filtered: 40 - expected.length, deadLettered: 0 });
  await manager.remove(name);
  dropMemoryBucket(name);
  dropMemoryBucket(`${name}-copy`);
});

it('apply() starts, disables (keeping offsets), re-enables, restarts on change and removes a trigger without disturbing another', async () => {
  const one = uniqueName('one');
  const two = uniqueName('two');
  const x = `${prefix}.shop.x`;
  const y = `${prefix}.shop.y`;
  await admin.ensureTopics([x, y].map((topic) => ({ topic, partitions: 1 })));
  let seq = 0;
  const produce = (topic: string, n: number): Promise<void> =>
    produceEvents(
      context.kafka,
      topic,
      Array.from({ length: n }, () => makeChangeEvent({ db: 'shop', coll: topic.split('.').pop() ?? '', docId: seq, seq: seq++ })),
    );
  const bucketOne = memoryBucket(one);
  const bucketTwo = memoryBucket(two);
  const v1 = "export default (events) => events.map((e) => ({ sink: 'out', op: 'set', key: e.id, version: 1 }))";
  const defOne = {
    name: one,
    source: { topic: x },
    function: 'f',
    sinks: [{ name: 'out', kind: 'memory', bucket: one }],
    batch: { maxSize: 100, maxWaitMs: 20 },
  };
  await manager.apply(
    trigger({ name: two, source: { topic: y }, sinks: [{ name: 'out', kind: 'memory', bucket: two }], batch: { maxSize: 100, maxWaitMs: 20 } }),
  );
  await manager.apply(trigger(defOne, v1));
  expect(manager.running()).toEqual([one, two].sort());
  await produce(x, 10);
  await eventually(() => bucketOne.records.length === 10, 'trigger one consumed');
  await eventually(async () => (await committedTotal(admin, consumerGroupOf(prefix, one), x)) === 10, 'trigger one committed');

  // Disabled: consumes nothing, keeps its committed offset; trigger two carries on.
  await manager.apply(trigger({ ...defOne, enabled: false }, v1));
  expect(manager.running()).toEqual([two]);
  expect(manager.status(one)).toMatchObject({ enabled: false, running: false });
  await produce(x, 10);
  await produce(y, 5);
  await eventually(() => bucketTwo.records.length === 5, 'trigger two kept consuming');
  await quietFor(1_500, async () => {
    expect(bucketOne.records).toHaveLength(10);
    expect(await committedTotal(admin, consumerGroupOf(prefix, one), x)).toBe(10);
  });

  // Enabled again: resumes where it stopped (no repeats after a clean stop).
  await manager.apply(trigger(defOne, v1));
  await eventually(() => bucketOne.records.length === 20, 'trigger one resumed');
  expect(new Set(bucketOne.records.map((r) => r.event.id)).size).toBe(20);

  // The same definition again changes nothing; a new function version restarts it.
  const batchesBefore = manager.status(one)?.stats?.batches ?? 0;
  await manager.apply(trigger(defOne, v1));
  expect(manager.status(one)?.stats?.batches).toBe(batchesBefore);
  await manager.apply(trigger(defOne, v1.replace('version: 1', 'version: 2')));
  await produce(x, 5);
  await produce(y, 5);
  await eventually(() => bucketOne.records.length === 25, 'trigger one restarted with the new function');
  expect(bucketOne.records.slice(20).map((r) => r.action?.['version'])).toEqual([2, 2, 2, 2, 2]);
  await eventually(() => bucketTwo.records.length === 10, 'trigger two unaffected');
  expect(new Set(bucketTwo.records.map((r) => r.event.id)).size).toBe(10);

  // Metrics per trigger.
  const text = await context.metrics.metrics();
  expect(text).toMatch(new RegExp(`changeflow_processor_events_total\\{trigger="${one}",outcome="delivered"\\} 25`));
  expect(text).toMatch(new RegExp(`changeflow_processor_consumer_lag\\{trigger="${one}"\\} 0`));
  expect(text).toMatch(new RegExp(`changeflow_processor_function_seconds_count\\{trigger="${one}"\\} [1-9]`));
  expect(text).toMatch(new RegExp(`changeflow_processor_trigger_running\\{trigger="${one}"\\} 1`));

  await manager.remove(one);
  expect(manager.running()).toEqual([two]);
  expect(manager.status(one)).toBeUndefined();
  expect(context.health.report().components[`processor:${one}`]).toBeUndefined();
  await manager.remove(two);
  dropMemoryBucket(one);
  dropMemoryBucket(two);
});

it('sends a batch that has caught up with its partition at once, unless lingerWhenCaughtUp asks to wait for maxWaitMs', async () => {
  const eager = uniqueName('eager');
  const lingering = uniqueName('linger');
  const topic = `${prefix}.shop.caughtup`;
  await admin.ensureTopics([{ topic, partitions: 1 }]);
  const events = Array.from({ length: 5 }, (_, seq) => makeChangeEvent({ db: 'shop', coll: 'caughtup', docId: seq, seq }));
  await produceEvents(context.kafka, topic, events);
  // Five records never fill a batch of 500; only the caught-up rule can send them before the minute is up.
  const batch = { maxSize: 500, maxWaitMs: 60_000 };
  await manager.apply(trigger({ name: eager, source: { topic }, sinks: [{ name: 'out', kind: 'memory', bucket: eager }], batch }));
  await manager.apply(
    trigger({ name: lingering, source: { topic }, sinks: [{ name: 'out', kind: 'memory', bucket: lingering }], batch: { ...batch, lingerWhenCaughtUp: true } }),
  );
  await eventually(() => memoryBucket(eager).records.length === 5, 'the eager trigger to deliver the 5 records', 30_000);
  // Both groups have read the records by now (the eager one delivered them); the lingering one holds them.
  await quietFor(3_000, () => expect(memoryBucket(lingering).records).toHaveLength(0));
  await manager.remove(eager);
  await manager.remove(lingering);
  dropMemoryBucket(eager);
  dropMemoryBucket(lingering);
}, 60_000);
