import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import { UnavailableError } from '../core/errors.js';
import { readDeadLetterHeaders } from '../processors/dead-letters.js';
import { ProcessorManager } from '../processors/manager.js';
import { makeChangeEvent } from '../testing/processors/events.js';
import { processorContext } from '../testing/processors/context.js';
import { dropMemoryBucket, memoryBucket, memorySinkKind } from '../testing/processors/memory-sink.js';
import { triggerConfigSchema } from '../processors/trigger-config.js';
import type { TriggerDefinition } from '../processors/trigger-definition.js';
import { consumerGroupOf } from '../processors/trigger-runtime.js';
import { eventually, testInfra, uniqueName } from './support/infra.js';
import { committedTotal, produceEvents, readTopic } from './support/processor-kafka.js';

// Poison values: one event whose sink write can never succeed must be dead-lettered with its reason,
// and the other events of its batch delivered; the partition moves on.
const prefix = uniqueName('cfpv');
const context = processorContext({ brokers: testInfra().kafka, prefix });
const admin = context.kafka.admin();
const manager = new ProcessorManager([], { extraSinkKinds: [memorySinkKind], topicRefreshMs: 0 });
const mongo = new MongoClient(testInfra().mongodb);
const targetDb = uniqueName('poison_target').replace(/-/g, '_');

function trigger(input: Record<string, unknown>, functionCode?: string): TriggerDefinition {
  const parsed = triggerConfigSchema.parse(input);
  return {
    ...parsed,
    key: parsed.name,
    ...(functionCode ? { functionCode: { name: `${parsed.name}-fn`, code: functionCode, memoryMiB: 64, timeoutMs: 2000 } } : {}),
  };
}

beforeAll(async () => {
  await admin.connect();
  await mongo.connect();
  await manager.start(context);
});

afterAll(async () => {
  await manager.stop();
  await admin.deleteTopics((await admin.listTopics()).filter((t) => t.startsWith(prefix)));
  await admin.disconnect();
  await mongo
    .db(targetDb)
    .dropDatabase()
    .catch(() => undefined);
  await mongo.close();
  await context.close();
});

/** The function writes one upsert per event; event 7 carries `bad` (built inside the function). */
async function runPoisonCase(label: string, badDoc: string): Promise<string> {
  const name = uniqueName(label);
  const topic = `${prefix}.shop.${name}`;
  await admin.ensureTopics([{ topic, partitions: 1 }]);
  await produceEvents(
    context.kafka,
    topic,
    Array.from({ length: 20 }, (_, seq) => makeChangeEvent({ db: 'shop', coll: name, docId: seq, seq, fields: { bad: seq === 7 } })),
  );
  const code = `export default function handle(events) {
    return events.map((e) => {
      const doc = e.fullDocument.bad ? ${badDoc} : { _id: e.fullDocument._id, seq: e.fullDocument.seq };
      return { sink: 'copy', op: 'upsert', doc };
    });
  }`;
  const sinks = [{ name: 'copy', kind: 'mongodb', uri: testInfra().mongodb, db: targetDb, coll: name, timeoutMs: 3000 }];
  await manager.apply(
    trigger({ name, source: { topic }, sinks, batch: { maxSize: 20, maxWaitMs: 500 }, retry: { attempts: 3, initialDelayMs: 20, maxDelayMs: 100 } }, code),
  );
  await eventually(async () => (await committedTotal(admin, consumerGroupOf(prefix, name), topic)) === 20, `${label}: all 20 offsets committed`, 60_000);

  const docs = await mongo.db(targetDb).collection(name).find({}).sort({ _id: 1 }).toArray();
  expect(docs.map((d) => d['seq'])).toEqual(Array.from({ length: 20 }, (_, i) => i).filter((i) => i !== 7));
  const [letter] = await readTopic(context.kafka, `${prefix}.__dlq.${name}`, 1);
  const info = readDeadLetterHeaders(letter?.headers ?? {});
  expect(info.offset).toBe('7');
  expect(manager.status(name)?.stats).toMatchObject({ delivered: 19, deadLettered: 1 });
  process.stdout.write(`[poison ${label}] 19 delivered, 1 dead-lettered: kind=${info.errorKind} attempts=${info.attempts} reason=${info.error}\n`);
  await manager.remove(name);
  return info.error;
}

describe('poison values never stall a partition', () => {
  it('a function action holding { $numberLong: "abc" }: 19 of 20 events reach MongoDB, 1 is dead-lettered with the reason', async () => {
    const reason = await runPoisonCase('numlong', "{ _id: e.fullDocument._id, n: { $numberLong: 'abc' } }");
    expect(reason).toMatch(/\$numberLong.*"abc"/);
    expect(reason).toMatch(/doc\.n/);
  }, 120_000);

  it('a function action holding a document nested 5,000 deep: 19 of 20 delivered, 1 dead-lettered as too deep', async () => {
    const deep = '(() => { let d = { x: 1 }; for (let i = 0; i < 5000; i++) d = { d }; return { _id: e.fullDocument._id, d }; })()';
    const reason = await runPoisonCase('deep', deep);
    expect(reason).toMatch(/nest/i);
  }, 120_000);

  it('a pass-through event nested 5,000 deep (as raw JSON on the topic): 19 delivered, 1 dead-lettered', async () => {
    const name = uniqueName('deeppass');
    const topic = `${prefix}.shop.${name}`;
    await admin.ensureTopics([{ topic, partitions: 1 }]);
    const events = Array.from({ length: 20 }, (_, seq) => makeChangeEvent({ db: 'shop', coll: name, docId: seq, seq }));
    const producer = context.kafka.producer();
    await producer.connect();
    const deep = `${'{"d":'.repeat(5000)}1${'}'.repeat(5000)}`;
    await producer.send(
      events.map((e, seq) => {
        const value = JSON.stringify(e);
        return { topic, key: String(seq), value: seq === 7 ? value.replace('"seq":', `"deep":${deep},"seq":`) : value };
      }),
    );
    await producer.disconnect();
    const sinks = [{ name: 'copy', kind: 'mongodb', uri: testInfra().mongodb, db: targetDb, coll: name, timeoutMs: 3000 }];
    await manager.apply(
      trigger({ name, source: { topic }, sinks, batch: { maxSize: 20, maxWaitMs: 500 }, retry: { attempts: 3, initialDelayMs: 20, maxDelayMs: 100 } }),
    );
    await eventually(async () => (await committedTotal(admin, consumerGroupOf(prefix, name), topic)) === 20, 'all 20 offsets committed', 60_000);
    expect(await mongo.db(targetDb).collection(name).countDocuments()).toBe(19);
    const [letter] = await readTopic(context.kafka, `${prefix}.__dlq.${name}`, 1);
    const info = readDeadLetterHeaders(letter?.headers ?? {});
    expect(info.offset).toBe('7');
    expect(info.error).toMatch(/nest/i);
    process.stdout.write(`[poison deep pass-through] kind=${info.errorKind} reason=${info.error}\n`);
    await manager.remove(name);
  }, 120_000);

  it('redis: WRONGTYPE and an invalid Extended JSON value are dead-lettered per event with the reason; the other 18 are written', async () => {
    const url = testInfra().redis;
    if (!url) throw new Error('this test needs the suite Redis (redis-server on PATH)');
    const name = uniqueName('redispoison');
    const topic = `${prefix}.shop.${name}`;
    await admin.ensureTopics([{ topic, partitions: 1 }]);
    const redis = new Redis(url);
    await redis.set(`${name}:h:7`, 'a string, so HSET answers WRONGTYPE');
    await produceEvents(
      context.kafka,
      topic,
      Array.from({ length: 20 }, (_, seq) => makeChangeEvent({ db: 'shop', coll: name, docId: seq, seq })),
    );
    const code = `export default function handle(events) {
      return events.map((e) => {
        const seq = e.fullDocument.seq.$numberInt;
        const value = seq === '12' ? { $numberLong: 'abc' } : seq;
        return { sink: 'cache', op: 'hset', key: '${name}:h:' + seq, fields: { seq: value, at: { $date: { $numberLong: '1700000000000' } } } };
      });
    }`;
    await manager.apply(
      trigger(
        {
          name,
          source: { topic },
          sinks: [{ name: 'cache', kind: 'redis', url }],
          batch: { maxSize: 20, maxWaitMs: 500 },
          retry: { attempts: 3, initialDelayMs: 20, maxDelayMs: 100 },
        },
        code,
      ),
    );
    try {
      await eventually(async () => (await committedTotal(admin, consumerGroupOf(prefix, name), topic)) === 20, 'all 20 offsets committed', 60_000);
      const hashes = (await redis.keys(`${name}:h:*`)).filter((k) => !k.endsWith(':7') && !k.endsWith(':12'));
      expect(hashes).toHaveLength(18);
      expect(await redis.exists(`${name}:h:12`)).toBe(0);
      const letters = (await readTopic(context.kafka, `${prefix}.__dlq.${name}`, 2))
        .map((l) => readDeadLetterHeaders(l.headers))
        .sort((a, b) => Number(a.offset) - Number(b.offset));
      expect(letters.map((l) => [l.offset, l.errorKind])).toEqual([
        ['7', 'sink-rejected'],
        ['12', 'sink-rejected'],
      ]);
      expect(letters[0]?.error).toMatch(/WRONGTYPE/);
      expect(letters[1]?.error).toMatch(/action\.fields\.seq: invalid Extended JSON: \$numberLong string "abc"/);
      for (const l of letters) process.stdout.write(`[poison redis] offset ${l.offset}: ${l.error}\n`);
    } finally {
      redis.disconnect();
      await manager.remove(name);
    }
  }, 120_000);

  it('while a partition is stuck on an unavailable sink, lag shows the records behind and the seconds behind', async () => {
    const name = uniqueName('stuck');
    const topic = `${prefix}.shop.${name}`;
    await admin.ensureTopics([{ topic, partitions: 1 }]);
    const bucket = memoryBucket(name);
    let down = true;
    bucket.beforeAck = () => {
      if (down) throw new UnavailableError('target down (test)');
    };
    await produceEvents(
      context.kafka,
      topic,
      Array.from({ length: 30 }, (_, seq) => makeChangeEvent({ db: 'shop', coll: name, docId: seq, seq })),
    );
    await manager.apply(
      trigger({
        name,
        source: { topic },
        sinks: [{ name: 'out', kind: 'memory', bucket: name }],
        batch: { maxSize: 10, maxWaitMs: 200 },
        retry: { attempts: 2, initialDelayMs: 50, maxDelayMs: 200 },
      }),
    );
    await eventually(() => (manager.status(name)?.stats?.lag ?? 0) === 30, 'lag shows all 30 records behind while stuck', 30_000);
    // More records while stuck: the lag follows the log end, not the last batch taken.
    await produceEvents(
      context.kafka,
      topic,
      Array.from({ length: 5 }, (_, i) => makeChangeEvent({ db: 'shop', coll: name, docId: 30 + i, seq: 30 + i })),
    );
    await eventually(() => (manager.status(name)?.stats?.lag ?? 0) === 35, 'lag follows new records while stuck', 30_000);
    await eventually(() => (manager.status(name)?.stats?.secondsBehind ?? 0) >= 2, 'seconds behind grows while stuck', 30_000);
    const text = await context.metrics.metrics();
    const lagLine = text.split('\n').find((l) => l.startsWith('changeflow_processor_consumer_lag{') && l.includes(name));
    const secondsLine = text.split('\n').find((l) => l.startsWith('changeflow_processor_seconds_behind{') && l.includes(name));
    process.stdout.write(`[stuck] ${lagLine ?? '(no lag line)'}\n[stuck] ${secondsLine ?? '(no seconds line)'}\n`);
    expect(lagLine).toMatch(/ 35$/);
    expect(Number(secondsLine?.split(' ').pop())).toBeGreaterThanOrEqual(2);
    down = false;
    await eventually(() => bucket.records.length === 35, 'all records delivered once the sink is back', 30_000);
    await eventually(() => manager.status(name)?.stats?.lag === 0 && manager.status(name)?.stats?.secondsBehind === 0, 'lag back to 0', 30_000);
    await manager.remove(name);
    dropMemoryBucket(name);
  }, 120_000);
});
