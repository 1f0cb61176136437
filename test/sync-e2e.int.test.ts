import type { Document } from '../schemas/bson.js';
import { Int32, MongoClient, type ChangeStream } from 'mongodb';
import { createKafkajsTransport } from '../core/kafka/kafkajs.js';
import { TopicNames } from '../core/topics.js';
import { ChildService } from '../testing/mongodb/child-service.js';
import { committedTotal } from './support/processor-kafka.js';
import { contents as contentsOf, describeDiff, sameContents as sameContentsOf, type Comparison } from './support/compare.js';
import { eventually, testInfra, uniqueName, waitFor as waitForWith } from './support/infra.js';

/**
 * End to end through the real path: MongoDB source → Kafka → processor → MongoDB sink, with the
 * service as `changeflow run` child processes (issue 5).
 */
const infra = testInfra();
const kafka = createKafkajsTransport({ brokers: [infra.kafka] });
const admin = kafka.admin();
const client = new MongoClient(infra.mongodb);
const children: ChildService[] = [];
const databases: string[] = [];
const prefixes: string[] = [];
const stoppers: (() => void)[] = [];
const stopAll = (): void => stoppers.forEach((stop) => stop());

const childLogs = (): string => children.map((c, i) => `--- child ${i} output ---\n${c.tail(25)}`).join('\n');
const waitFor = (check: () => Promise<boolean> | boolean, what: string | (() => string), timeoutMs: number, intervalMs = 250): Promise<void> =>
  waitForWith(check, what, timeoutMs, intervalMs, childLogs);
const contents = (db: string): Promise<string[]> => contentsOf(client, db);
const sameContents = (a: string, b: string): Promise<Comparison> => sameContentsOf(client, a, b);

function start(config: Record<string, unknown>): ChildService {
  const child = new ChildService(config).start();
  children.push(child);
  return child;
}

/** The records of `topics` whose key (canonical EJSON of documentKey, or its `_id` part) `wanted` picks, read with a new group. */
async function recordsOf(topics: string[], wanted: (idText: string) => boolean): Promise<string[]> {
  const existing = new Set(await admin.listTopics());
  const present = topics.filter((t) => existing.has(t));
  const total = (await Promise.all(present.map((t) => highWatermarks(t)))).reduce((a, b) => a + b, 0);
  const consumer = kafka.consumer({ groupId: uniqueName('sync-diagnose'), fromBeginning: true });
  const lines: string[] = [];
  let read = 0;
  await consumer.connect();
  await consumer.subscribe(present);
  void consumer.run(async (batch) => {
    for (const r of batch.records) {
      read++;
      const key = r.key?.toString() ?? '';
      const idText = key.startsWith('{"_id":') ? JSON.stringify((JSON.parse(key) as { _id: unknown })._id) : key;
      if (wanted(idText)) lines.push(`${r.topic}[${r.partition}]@${r.offset} ${JSON.stringify(r.headers)} ${r.value?.toString().slice(0, 600) ?? ''}`);
    }
  });
  await eventually(() => read >= total, 'the diagnostic read', 30_000).catch(() => undefined);
  await consumer.disconnect();
  return lines;
}

async function highWatermarks(topic: string): Promise<number> {
  return (await admin.topicOffsets(topic)).reduce((sum, p) => sum + Number(p.high), 0);
}

function baseConfig(prefix: string, metaDb: string): Record<string, unknown> {
  return {
    kafka: { brokers: [infra.kafka], topicPrefix: prefix, partitions: 3 },
    mongodb: { uri: infra.mongodb, db: metaDb },
    http: { port: 0 },
    grpc: { port: 0 },
  };
}

beforeAll(async () => {
  await Promise.all([admin.connect(), client.connect()]);
});

afterAll(async () => {
  stopAll();
  await Promise.all(children.map((c) => c.kill()));
  for (const db of databases)
    await client
      .db(db)
      .dropDatabase()
      .catch(() => undefined);
  const topics = (await admin.listTopics()).filter((t) => prefixes.some((p) => t.startsWith(p)));
  if (topics.length > 0) await admin.deleteTopics(topics).catch(() => undefined);
  await Promise.all([admin.disconnect(), client.close()]);
});

it('sync A→B survives kill -9 of the processor, and a full replay of the topic changes nothing', async () => {
  const prefix = uniqueName('cfsync');
  const [dbA, dbB, metaDb, stateDb] = ['synca', 'syncb', 'syncmeta', 'syncstate'].map((n) => uniqueName(n));
  if (!dbA || !dbB || !metaDb || !stateDb) throw new Error('names');
  databases.push(dbA, dbB, metaDb, stateDb);
  prefixes.push(prefix);
  const topic = new TopicNames(prefix).change(dbA, 'items');
  await admin.ensureTopics([{ topic, partitions: 3 }]);

  const base = baseConfig(prefix, metaDb);
  const trigger = (name: string): Record<string, unknown> => ({
    name,
    source: { topic },
    sinks: [{ name: 'b', kind: 'mongodb', uri: infra.mongodb, db: dbB, updateMode: 'document', stateDb }],
    batch: { maxSize: 200, maxWaitMs: 50 },
  });
  const source = start({
    ...base,
    sources: [{ name: 'a', uri: infra.mongodb, watch: { db: dbA, coll: 'items' }, snapshot: 'never', checkpointIntervalMs: 200 }],
  });
  await waitFor(() => source.logs(/^streaming$/).length > 0, 'the source streaming', 90_000);
  const processorConfig = { ...base, triggers: [trigger('a-to-b')] };
  const first = start(processorConfig);

  // Mixed writes: per round 40 inserts, then updates, replaces and deletes of those, and $inc of the
  // previous round's docs. A document is never deleted after an update (mongo-java-server then has no
  // post-image to key the update by).
  const coll = client.db(dbA).collection<Document>('items');
  let writes = 0;
  const rounds = 35;
  let stopWriter = false;
  const writer = (async () => {
    for (let round = 0; round < rounds && !stopWriter; round++) {
      const ids = Array.from({ length: 40 }, (_, k) => round * 40 + k);
      await coll.insertMany(ids.map((i) => ({ _id: new Int32(i), v: new Int32(0), name: `doc ${i}`, tags: ['new'] }) as Document));
      writes += ids.length;
      for (const i of ids) {
        if (i % 5 === 0)
          await coll.updateOne({ _id: new Int32(i) }, { $set: { v: new Int32(1), tags: ['new', 'updated'], at: new Date(1_700_000_000_000 + i) } });
        else if (i % 5 === 1) await coll.replaceOne({ _id: new Int32(i) }, { nested: { n: new Int32(i), list: [1.5, 'x'] }, replaced: true });
        else if (i % 5 === 2) await coll.deleteOne({ _id: new Int32(i) });
        else continue;
        writes++;
      }
      for (const i of ids.map((i) => i - 40).filter((i) => i >= 0 && i % 5 === 3)) {
        await coll.updateOne({ _id: new Int32(i) }, { $inc: { v: new Int32(5) } });
        writes++;
      }
      await new Promise((r) => setTimeout(r, 40));
    }
  })();

  stoppers.push(() => (stopWriter = true));
  writer.catch(() => undefined);
  const targetCount = (): Promise<number> => client.db(dbB).collection('items').countDocuments();
  let progress = '';
  await waitFor(
    async () => {
      const copied = await targetCount();
      progress = `${writes} writes, ${await highWatermarks(topic)} records, ${copied} docs in B`;
      return copied >= 200;
    },
    () => `the processor copied a few hundred documents (${progress})`,
    120_000,
    500,
  );
  await first.kill();
  const copiedAtKill = await targetCount();
  const second = start(processorConfig);
  await writer;
  const highAfterWrites = await highWatermarks(topic);

  let last = { equal: false, left: [] as string[], right: [] as string[] };
  await waitFor(
    async () => {
      last = await sameContents(dbA, dbB);
      return last.equal;
    },
    () => `B equal to A after the restart (${describeDiff(last.left, last.right)})`,
    150_000,
    500,
  ).catch(async (error: unknown) => {
    // Where did the differing documents go wrong? Their records in Kafka, and the trigger's dead letters.
    const differing = new Set(last.left.filter((line) => !last.right.includes(line)).map((line) => JSON.stringify((JSON.parse(line) as { _id: unknown })._id)));
    const history = await recordsOf([topic, new TopicNames(prefix).deadLetter('a-to-b')], (key) => differing.has(key));
    throw new Error(`${(error as Error).message}\n--- records of the differing documents ---\n${history.join('\n')}`, { cause: error });
  });
  const group = `${prefix}.trigger.a-to-b`;
  await waitFor(
    async () => (await committedTotal(admin, group, topic)) >= (await highWatermarks(topic)),
    'the restarted processor committed everything',
    60_000,
    500,
  );
  const records = await highWatermarks(topic);
  console.log(
    `A→B kill -9: ${writes} writes, ${records} records in Kafka (${highAfterWrites} when the writer ended), ${copiedAtKill} docs in B at the kill, ${last.left.length} docs at the end`,
  );
  expect(last.left.length).toBeGreaterThan(1000);
  expect(records).toBeGreaterThanOrEqual(writes);
  await second.stop();

  // Replay the whole topic with a new consumer group into the same B: the stale-write guard skips all.
  // A change stream on B (collection level: mongo-java-server's database-level streams carry no
  // namespace) sees every write the replay makes; markers bracket the replay.
  const target = client.db(dbB).collection<Document>('items');
  const stream: ChangeStream = target.watch([], { maxAwaitTimeMS: 200 });
  const seen: string[] = [];
  stream.on('change', (change) => {
    const c = change as { operationType: string; fullDocument?: Document };
    seen.push(`${c.operationType}:${String(c.fullDocument?.['_id'] ?? '')}`);
  });
  stream.on('error', () => undefined);
  // The driver opens the stream lazily: insert markers until one comes through.
  let markers = 0;
  await waitFor(
    async () => {
      if (seen.some((line) => line.startsWith('insert:marker-open'))) return true;
      await target.insertOne({ _id: `marker-open-${markers++}` } as unknown as Document);
      return false;
    },
    'the change stream on B is open',
    60_000,
    1_000,
  );
  const opened = seen.length;
  const before = await contents(dbB);
  const replay = start({ ...base, triggers: [trigger('replay')] });
  await waitFor(
    async () => (await committedTotal(admin, `${prefix}.trigger.replay`, topic)) >= records,
    `the replay committed all ${records} records`,
    120_000,
    500,
  );
  await target.insertOne({ _id: 'marker-done' } as unknown as Document);
  await waitFor(() => seen.includes('insert:marker-done'), 'the end marker came through the change stream', 30_000);
  await stream.close();
  const written = seen.slice(opened).filter((line) => !line.includes('marker-'));
  console.log(`replay of ${records} records wrote ${written.length} changes into B`);
  expect(written).toEqual([]);
  await target.deleteMany({ _id: { $regex: '^marker-' } } as unknown as Document);
  expect((await contents(dbB)).filter((line) => !line.includes('marker-'))).toEqual(before.filter((line) => !line.includes('marker-')));
  expect((await sameContents(dbA, dbB)).equal).toBe(true);
  await replay.stop();
  await source.stop();
}, 420_000);

it('bidirectional A↔B converges without an echo loop', async () => {
  const prefix = uniqueName('cfbidi');
  const [dbA, dbB, metaDb] = ['bidia', 'bidib', 'bidimeta'].map((n) => uniqueName(n));
  if (!dbA || !dbB || !metaDb) throw new Error('names');
  databases.push(dbA, dbB, metaDb);
  prefixes.push(prefix);
  const topicA = `${prefix}.a.${dbA}.items`;
  const topicB = `${prefix}.b.${dbB}.items`;
  await admin.ensureTopics([
    { topic: topicA, partitions: 3 },
    { topic: topicB, partitions: 3 },
  ]);
  const sink = (db: string): Record<string, unknown> => ({ name: 'target', kind: 'mongodb', uri: infra.mongodb, db, updateMode: 'document', echoLedger: true });
  const service = start({
    ...baseConfig(prefix, metaDb),
    sources: [
      {
        name: 'a',
        uri: infra.mongodb,
        watch: { db: dbA, coll: 'items' },
        topic: `${prefix}.a.{db}.{coll}`,
        skipEchoes: true,
        snapshot: 'never',
        checkpointIntervalMs: 200,
      },
      {
        name: 'b',
        uri: infra.mongodb,
        watch: { db: dbB, coll: 'items' },
        topic: `${prefix}.b.{db}.{coll}`,
        skipEchoes: true,
        snapshot: 'never',
        checkpointIntervalMs: 200,
      },
    ],
    triggers: [
      { name: 'a-to-b', source: { topic: topicA }, sinks: [sink(dbB)], batch: { maxSize: 200, maxWaitMs: 50 } },
      { name: 'b-to-a', source: { topic: topicB }, sinks: [sink(dbA)], batch: { maxSize: 200, maxWaitMs: 50 } },
    ],
  });
  await waitFor(() => service.logs(/^streaming$/).length >= 2, 'both sources streaming', 90_000);

  const a = client.db(dbA).collection<Document>('items');
  const b = client.db(dbB).collection<Document>('items');
  let writes = 0;
  const n = 150;
  let last = { equal: false, left: [] as string[], right: [] as string[] };
  const converge = (what: string): Promise<void> =>
    waitFor(
      async () => {
        last = await sameContents(dbA, dbB);
        return last.equal;
      },
      () => `${what} (${describeDiff(last.left, last.right)})`,
      120_000,
      500,
    );

  // Phase 1: each side writes its own documents.
  for (let i = 0; i < n; i += 25) {
    const ids = Array.from({ length: 25 }, (_, k) => i + k);
    await Promise.all([
      a.insertMany(ids.map((k) => ({ _id: `a-${k}`, side: 'a', v: new Int32(0) }) as Document)),
      b.insertMany(ids.map((k) => ({ _id: `b-${k}`, side: 'b', v: new Int32(0) }) as Document)),
    ]);
    writes += 50;
  }
  for (let i = 0; i < n; i += 3) {
    await Promise.all([
      a.updateOne({ _id: `a-${i}` } as Document, { $set: { v: new Int32(1) } }),
      b.updateOne({ _id: `b-${i}` } as Document, { $set: { v: new Int32(1) } }),
    ]);
    writes += 2;
  }
  await converge('A and B equal after each side wrote its own documents');

  // Phase 2: each side edits documents that came from the other side; deletes only of never-updated ones.
  for (let i = 1; i < n; i += 5) {
    await Promise.all([
      a.replaceOne({ _id: `b-${i}` } as Document, { side: 'b', v: new Int32(9), editedBy: 'a' }),
      b.updateOne({ _id: `a-${i}` } as Document, { $set: { editedBy: 'b', v: new Int32(7) } }),
    ]);
    writes += 2;
  }
  for (let i = 2; i < n; i += 10) {
    await Promise.all([a.deleteOne({ _id: `b-${i}` } as Document), b.deleteOne({ _id: `a-${i}` } as Document)]);
    writes += 2;
  }
  await converge('A and B equal after cross edits');

  // Phase 3, later: edit the other side's edits once more.
  for (let i = 1; i < n; i += 15) {
    await Promise.all([
      b.updateOne({ _id: `b-${i}` } as Document, { $set: { v: new Int32(10) } }),
      a.updateOne({ _id: `a-${i}` } as Document, { $set: { v: new Int32(11) } }),
    ]);
    writes += 2;
  }
  await converge('A and B equal after the second round of edits');

  const count = async (): Promise<number> => (await highWatermarks(topicA)) + (await highWatermarks(topicB));
  await waitFor(
    async () =>
      (await committedTotal(admin, `${prefix}.trigger.a-to-b`, topicA)) >= (await highWatermarks(topicA)) &&
      (await committedTotal(admin, `${prefix}.trigger.b-to-a`, topicB)) >= (await highWatermarks(topicB)),
    'both triggers committed everything',
    60_000,
    500,
  );
  const settled = await count();
  // No echo loop: with nothing written for a while, nothing more is published.
  await new Promise((r) => setTimeout(r, 5_000));
  const later = await count();
  console.log(
    `A↔B: ${writes} user writes, ${settled} records on both topics after convergence, ${later} five seconds later; ${last.left.length} docs per side`,
  );
  expect(later).toBe(settled);
  expect(settled).toBeGreaterThanOrEqual(writes);
  expect(settled).toBeLessThan(2 * writes);
  expect((await sameContents(dbA, dbB)).equal).toBe(true);
  expect(last.left.length).toBe(2 * n - 2 * Math.ceil((n - 2) / 10));
  await service.stop();
}, 300_000);
