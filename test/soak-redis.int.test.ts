import { Redis } from 'ioredis';
import { readDeadLetterHeaders } from '../processors/dead-letters.js';
import { ProcessorManager } from '../processors/manager.js';
import { processorContext } from '../testing/processors/context.js';
import { triggerConfigSchema } from '../processors/trigger-config.js';
import type { TriggerDefinition } from '../processors/trigger-definition.js';
import { consumerGroupOf } from '../processors/trigger-runtime.js';
import type { ChangeEvent } from '../schemas/envelope.js';
import { eventually, testInfra, uniqueName } from './support/infra.js';
import { committedTotal, produceEvents, readTopic } from './support/processor-kafka.js';

/**
 * Issue 18: a function trigger keeping Redis current fell minutes behind after faults. Replayed
 * update events whose document was deleted before the source looked it up carry `fullDocument: null`
 * (and, from mongo-java-server, no documentKey); the function reads `e.fullDocument.n`, throws,
 * and each such event cost the partition the whole retry policy twice (batch, then the event alone).
 */
const infra = testInfra();
const describeWithRedis = infra.redis ? describe : describe.skip;

describeWithRedis('a Redis function trigger under replays of since-deleted documents', () => {
  const prefix = uniqueName('cfsr');
  const context = processorContext({ brokers: infra.kafka, prefix, config: { redis: { url: infra.redis as string } } });
  const admin = context.kafka.admin();
  const manager = new ProcessorManager([], { topicRefreshMs: 0 });
  const redis = new Redis(infra.redis as string);
  const keyPrefix = `${prefix}:`;

  beforeAll(async () => {
    await admin.connect();
    await manager.start(context);
  });

  afterAll(async () => {
    await manager.stop();
    const keys = await redis.keys(`${keyPrefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    await admin.deleteTopics((await admin.listTopics()).filter((t) => t.startsWith(prefix)));
    await admin.disconnect();
    await context.close();
  });

  it('stays exact and keeps up when replayed updates of deleted documents make the function throw', async () => {
    const name = uniqueName('ft');
    const topic = `${prefix}.shop.${name}`;
    await admin.ensureTopics([{ topic, partitions: 1 }]);
    let seq = 0;
    const event = (op: ChangeEvent['op'], id: number | undefined, n: number | null): ChangeEvent => ({
      v: 1,
      id: `shop.${name}:${++seq}`,
      op,
      ns: { db: 'shop', coll: name },
      ...(id === undefined ? {} : { documentKey: { _id: id } }),
      ...(op === 'delete' ? {} : { fullDocument: n === null ? null : { _id: id, n } }),
      clusterTime: { t: 1_700_000_000, i: seq },
      source: { name: 'test', cluster: 'test-cluster' },
    });
    const expected = new Map<string, string>();
    const events: ChangeEvent[] = [];
    const ghosts: string[] = [];
    for (let id = 0; id < 120; id++) {
      events.push(event('insert', id, 1), event('update', id, 2));
      // Replayed after a restart: the document was deleted before the lookup. From a real server the
      // event keeps its documentKey; from mongo-java-server it has none (every other one here).
      const ghost = event('update', id % 2 === 0 ? id : undefined, null);
      ghosts.push(ghost.id);
      events.push(ghost, event('delete', id, null));
      if (id % 3 !== 0) {
        events.push(event('insert', id, 3), event('update', id, 4));
        expected.set(`${keyPrefix}ft:${id}`, JSON.stringify({ n: 4 }));
      }
    }
    await produceEvents(context.kafka, topic, events);

    // The function of the issue, as a user wrote it: unguarded.
    const code = `export default function handle(events) {
      return events.map((e) => e.op === 'delete'
        ? { sink: 'cache', op: 'del', key: 'ft:' + e.documentKey._id }
        : { sink: 'cache', op: 'set', key: 'ft:' + e.documentKey._id, value: { n: e.fullDocument.n } });
    }`;
    const parsed = triggerConfigSchema.parse({
      name,
      source: { topic },
      sinks: [{ name: 'cache', kind: 'redis', keyPrefix }],
      batch: { maxSize: 50, maxWaitMs: 200 },
    });
    const definition: TriggerDefinition = { ...parsed, key: parsed.name, functionCode: { name: `${name}-fn`, code, memoryMiB: 32, timeoutMs: 1000 } };
    await manager.apply(definition);

    // Default retry policy (5 attempts, 200 ms doubling): 120 throwing events must not stall the partition for minutes.
    await eventually(
      async () => (await committedTotal(admin, consumerGroupOf(prefix, name), topic)) === events.length,
      'the trigger reached the end of its topic',
      90_000,
      250,
    );

    const keys = (await redis.keys(`${keyPrefix}ft:*`)).sort();
    expect(keys).toEqual([...expected.keys()].sort());
    const values = keys.length > 0 ? await redis.mget(...keys) : [];
    expect(Object.fromEntries(keys.map((k, i) => [k, values[i]]))).toEqual(Object.fromEntries(expected));

    // Only the events the function threw on are dead letters, each once.
    const letters = await readTopic(context.kafka, `${prefix}.__dlq.${name}`, ghosts.length);
    const lettered = letters.map((l) => (JSON.parse(l.value?.toString() ?? '{}') as ChangeEvent).id).sort();
    expect(lettered).toEqual([...ghosts].sort());
    for (const letter of letters) expect(readDeadLetterHeaders(letter.headers).errorKind).toBe('function:runtime');
  }, 150_000);
});
