import { ProcessorManager } from '../processors/manager.js';
import { makeChangeEvent } from '../testing/processors/events.js';
import { processorContext } from '../testing/processors/context.js';
import { dropMemoryBucket, memoryBucket, memorySinkKind } from '../testing/processors/memory-sink.js';
import { consumerGroupOf } from '../processors/trigger-runtime.js';
import type { TriggerDefinition } from '../processors/trigger-definition.js';
import { triggerConfigSchema } from '../processors/trigger-config.js';
import { eventually, testInfra, uniqueName } from './support/infra.js';
import { committedTotal, produceEvents } from './support/processor-kafka.js';

const prefix = uniqueName('cfp');
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

beforeAll(async () => {
  await admin.connect();
  await manager.start(context);
});

afterAll(async () => {
  await manager.stop();
  const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
  await admin.deleteTopics(topics);
  await admin.disconnect();
  await context.close();
});

describe('processor delivery against the real Kafka', () => {
  it('runs a function on 50,000 events: exact actions, per-document order, offsets committed after the acks', async () => {
    const name = uniqueName('map');
    const topic = `${prefix}.shop.orders`;
    await admin.ensureTopics([{ topic, partitions: 3 }]);
    const docs = 500;
    const total = 50_000;
    const events = Array.from({ length: total }, (_, seq) =>
      makeChangeEvent({ db: 'shop', coll: 'orders', docId: seq % docs, seq, op: seq < docs ? 'insert' : 'update' }),
    );
    await produceEvents(context.kafka, topic, events);

    const bucket = memoryBucket(name);
    const code = `export default function handle(events) {
      return events.map((e) => ({ sink: 'out', op: 'set', key: 'order:' + e.documentKey._id.$numberInt, value: { seq: Number(e.fullDocument.seq.$numberInt), op: e.op } }));
    }`;
    await manager.apply(
      trigger(
        {
          name,
          source: { db: 'shop', coll: 'orders' },
          function: 'map',
          sinks: [{ name: 'out', kind: 'memory', bucket: name }],
          batch: { maxSize: 1000, maxWaitMs: 50 },
        },
        code,
      ),
    );
    expect(manager.running()).toContain(name);

    const group = consumerGroupOf(prefix, name);
    await eventually(async () => (await committedTotal(admin, group, topic)) === total, 'all 50,000 offsets committed', 90_000, 250);
    // Every committed offset was acknowledged by the sink first.
    expect(bucket.records).toHaveLength(total);

    const byKey = new Map<string, number[]>();
    for (const record of bucket.records) {
      const action = record.action as { sink: string; op: string; key: string; value: { seq: number; op: string } };
      expect(action.sink).toBe('out');
      expect(action.op).toBe('set');
      // The action was derived from the event it is attached to.
      expect(record.event.fullDocument?.['seq']).toEqual({ $numberInt: String(action.value.seq) });
      byKey.set(action.key, [...(byKey.get(action.key) ?? []), action.value.seq]);
    }
    expect(byKey.size).toBe(docs);
    for (const [key, seqs] of byKey) {
      const doc = Number(key.slice('order:'.length));
      // Exactly the expected actions, in per-document order.
      expect(seqs).toEqual(Array.from({ length: total / docs }, (_, i) => doc + i * docs));
    }
    expect(manager.status(name)?.stats?.delivered).toBe(total);
    await manager.remove(name);
    dropMemoryBucket(name);
  });

  it('commits nothing while the sink hangs its ack, and retries a failing ack', async () => {
    const name = uniqueName('hang');
    const topic = `${prefix}.shop.${name}`;
    await admin.ensureTopics([{ topic, partitions: 2 }]);
    await produceEvents(
      context.kafka,
      topic,
      Array.from({ length: 200 }, (_, seq) => makeChangeEvent({ db: 'shop', coll: name, docId: seq % 20, seq })),
    );

    const bucket = memoryBucket(name);
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    let hungPartition = -1;
    bucket.beforeAck = async (records, write) => {
      if (write !== 1) return;
      hungPartition = records[0]?.origin.partition ?? -1;
      await released;
    };
    await manager.apply(trigger({ name, source: { topic }, sinks: [{ name: 'out', kind: 'memory', bucket: name }], batch: { maxSize: 50, maxWaitMs: 10 } }));
    const group = consumerGroupOf(prefix, name);
    await eventually(() => hungPartition >= 0, 'the first write reached the sink');
    // Watch the group's offsets for two seconds while the ack hangs: the hung partition commits nothing.
    const deadline = Date.now() + 2_000;
    let polls = 0;
    while (Date.now() < deadline) {
      const offsets = await admin.groupOffsets(group, topic);
      expect(offsets.find((o) => o.partition === hungPartition)?.offset ?? '-1').toBe('-1');
      polls++;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(polls).toBeGreaterThan(3);
    expect(await committedTotal(admin, group, topic)).toBeLessThan(200);
    release();
    await eventually(async () => (await committedTotal(admin, group, topic)) === 200, 'all offsets committed after the ack', 30_000);
    expect(new Set(bucket.records.map((r) => r.event.id)).size).toBe(200);
    await manager.remove(name);

    // A failing ack: the batch is retried and then delivered; nothing is lost.
    const name2 = uniqueName('fail');
    const topic2 = `${prefix}.shop.${name2}`;
    await admin.ensureTopics([{ topic: topic2, partitions: 1 }]);
    await produceEvents(
      context.kafka,
      topic2,
      Array.from({ length: 100 }, (_, seq) => makeChangeEvent({ db: 'shop', coll: name2, docId: seq, seq })),
    );
    const bucket2 = memoryBucket(name2);
    bucket2.beforeAck = (_records, write) => {
      if (write <= 2) throw new Error(`simulated ack failure ${write}`);
    };
    await manager.apply(
      trigger({
        name: name2,
        source: { topic: topic2 },
        sinks: [{ name: 'out', kind: 'memory', bucket: name2 }],
        batch: { maxSize: 100, maxWaitMs: 200 },
        retry: { attempts: 5, initialDelayMs: 20, maxDelayMs: 100 },
      }),
    );
    const group2 = consumerGroupOf(prefix, name2);
    await eventually(async () => (await committedTotal(admin, group2, topic2)) === 100, 'offsets committed after the retried ack', 30_000);
    expect(bucket2.writes).toBeGreaterThanOrEqual(3);
    expect(bucket2.records.map((r) => r.event.id)).toEqual(Array.from({ length: 100 }, (_, seq) => `shop.${name2}:${seq}`));
    expect(manager.status(name2)?.stats?.errors).toBeGreaterThanOrEqual(2);
    expect(manager.status(name2)?.stats?.deadLettered).toBe(0);
    await manager.remove(name2);
    dropMemoryBucket(name);
    dropMemoryBucket(name2);
  });
});
