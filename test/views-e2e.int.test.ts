import { MongoClient, type Document } from 'mongodb';
import { createKafkajsTransport } from '../core/kafka/kafkajs.js';
import { fromEJson } from '../schemas/ejson.js';
import { parseChangeEvent } from '../schemas/envelope.js';
import { ChildService } from '../testing/mongodb/child-service.js';
import { eventually, testInfra, uniqueName, waitFor as waitForWith } from './support/infra.js';

/**
 * Views through the real path (issue 22): MongoDB source → Kafka → view → target collection and
 * `<prefix>.view.<name>`, with the service as a `changeflow run` child process; then the same with
 * the service killed (SIGKILL) mid-sequence and started again.
 */
const infra = testInfra();
const kafka = createKafkajsTransport({ brokers: [infra.kafka] });
const admin = kafka.admin();
const client = new MongoClient(infra.mongodb);
const children: ChildService[] = [];
const databases: string[] = [];

const childLogs = (): string => children.map((c, i) => `--- child ${i} output ---\n${c.tail(30)}`).join('\n');
const waitFor = (check: () => Promise<boolean> | boolean, what: string, timeoutMs: number): Promise<void> =>
  waitForWith(check, what, timeoutMs, 250, childLogs);

const perChat = [{ $match: { deleted: { $ne: true } } }, { $group: { _id: '$chat', n: { $sum: 1 }, last: { $max: '$at' }, total: { $sum: '$at' } } }];
const counter = [{ $group: { _id: 'all', n: { $sum: 1 } } }];
const withNames = [{ $lookup: { from: 'users', localField: 'sender', foreignField: '_id', as: 'from' } }, { $project: { text: 1, senders: '$from.name' } }];

function config(prefix: string, db: string): Record<string, unknown> {
  return {
    kafka: { brokers: [infra.kafka], topicPrefix: prefix, partitions: 3 },
    mongodb: { uri: infra.mongodb, db: `${db}_meta` },
    http: { port: 0 },
    grpc: { port: 0 },
    // One source per collection: mongo-java-server's change events of a database watch carry no ns (docs/testing.md).
    sources: ['messages', 'users'].map((coll) => ({
      name: coll,
      uri: infra.mongodb,
      watch: { db, coll },
      snapshot: 'never',
      checkpointIntervalMs: 200,
      leaseMs: 2_000,
    })),
    views: [
      { name: `${prefix}-per-chat`, source: { db, coll: 'messages' }, pipeline: perChat, target: { db: `${db}_views`, coll: 'per_chat' } },
      { name: `${prefix}-count`, source: { db, coll: 'messages' }, pipeline: counter, target: { db: `${db}_views`, coll: 'count' } },
      { name: `${prefix}-names`, source: { db, coll: 'messages' }, pipeline: withNames, target: { db: `${db}_views`, coll: 'with_names' } },
    ],
  };
}

const sorted = (rows: Document[]): string[] =>
  rows.map((r) => JSON.stringify(Object.fromEntries(Object.entries(r).sort(([a], [b]) => a.localeCompare(b))))).sort();

/** The feed read as a changelog: the last record per key, deletes dropped; and every record's row in order per key. */
async function readFeed(topic: string): Promise<{ last: Document[]; history: Map<string, (Document | null)[]> }> {
  const total = (await admin.topicOffsets(topic)).reduce((sum, p) => sum + Number(p.high), 0);
  const consumer = kafka.consumer({ groupId: uniqueName('views-feed'), fromBeginning: true });
  const history = new Map<string, (Document | null)[]>();
  let read = 0;
  await consumer.connect();
  await consumer.subscribe([topic]);
  void consumer.run(async (batch) => {
    for (const r of batch.records) {
      read++;
      const event = parseChangeEvent(r.value as Buffer);
      const key = r.key?.toString() ?? '';
      history.set(key, [...(history.get(key) ?? []), event.op === 'delete' ? null : fromEJson<Document>(event.fullDocument)]);
    }
  });
  await eventually(() => read >= total, `reading ${total} feed records`, 30_000);
  await consumer.disconnect();
  const last = [...history.values()].map((h) => h.at(-1)).filter((r): r is Document => r !== null && r !== undefined);
  return { last, history };
}

async function converged(db: string, pipeline: Document[], coll: string): Promise<boolean> {
  const [expected, actual] = await Promise.all([
    client.db(db).collection('messages').aggregate(pipeline).toArray(),
    client.db(`${db}_views`).collection(coll).find({}).toArray(),
  ]);
  return JSON.stringify(sorted(expected)) === JSON.stringify(sorted(actual));
}

/** Inserts, updates, moves between chats, soft deletes and (unless told not to, for a counter that only grows) hard deletes; never a delete right after an update (see sync-e2e). */
async function writeChanges(db: string, from: number, count: number, hardDeletes = true): Promise<void> {
  const messages = client.db(db).collection<Document>('messages');
  for (let i = from; i < from + count; i++) {
    await messages.insertOne({ _id: i, chat: `c${i % 4}`, at: i, text: `m${i}`, sender: `u${i % 5}` } as Document);
    if (i % 3 === 0) await messages.updateOne({ _id: i - 1 } as Document, { $set: { chat: `c${(i + 1) % 4}`, at: i * 10 } });
    if (i % 5 === 0) await messages.updateOne({ _id: i - 2 } as Document, { $set: { deleted: true } });
    if (hardDeletes && i % 7 === 0) await messages.deleteOne({ _id: i } as Document);
  }
}

beforeAll(async () => {
  await Promise.all([admin.connect(), client.connect()]);
});

afterAll(async () => {
  await Promise.all(children.map((c) => c.kill()));
  for (const db of databases)
    for (const suffix of ['', '_views', '_meta'])
      await client
        .db(`${db}${suffix}`)
        .dropDatabase()
        .catch(() => undefined);
  await Promise.all([admin.disconnect(), client.close()]);
});

it('keeps views from a watched collection, and their feeds rebuild them', async () => {
  const prefix = uniqueName('v');
  const db = prefix.replaceAll('-', '_');
  databases.push(db);
  const service = new ChildService(config(prefix, db)).start();
  children.push(service);
  await waitFor(
    // Both sources start at "latest": a change written before its source streams is, rightly, not seen.
    () => service.logs(/^streaming$/).length === 2 && service.logs(/^view started$/).length === 3,
    'both sources streaming and the three views started',
    90_000,
  );
  await writeChanges(db, 1, 60);
  await waitFor(() => converged(db, perChat, 'per_chat'), 'per_chat == aggregate()', 60_000);
  await waitFor(() => converged(db, counter, 'count'), 'count == aggregate()', 60_000);
  await waitFor(() => converged(db, withNames, 'with_names'), 'with_names ($lookup) == aggregate()', 60_000);
  const { last } = await readFeed(`${prefix}.view.${prefix}-per-chat`);
  expect(sorted(last)).toEqual(sorted(await client.db(`${db}_views`).collection('per_chat').find({}).toArray()));
  const state = await client.db(`${db}_views`).collection('per_chat.__state').countDocuments({});
  expect(state).toBeGreaterThan(0);
  await service.stop();

  // Its state dropped, the view is built again from the start of the source topic (a new consumer group).
  await client.db(`${db}_views`).collection('per_chat.__state').drop();
  const again = new ChildService(config(prefix, db)).start();
  children.push(again);
  await waitFor(() => again.logs(/^no stored state: rebuilding the view/).length === 1, 'the view rebuilding', 90_000);
  await waitFor(() => converged(db, perChat, 'per_chat'), 'per_chat == aggregate() after the rebuild', 60_000);
  await again.stop();
});

it('after a SIGKILL mid-sequence, resumes from its stored state: the target converges and never goes back', async () => {
  const prefix = uniqueName('vk');
  const db = prefix.replaceAll('-', '_');
  databases.push(db);
  const first = new ChildService(config(prefix, db)).start();
  children.push(first);
  await waitFor(() => first.logs(/^streaming$/).length === 2 && first.logs(/^view started$/).length === 3, 'the first service ready', 90_000);
  await client
    .db(db)
    .collection<Document>('users')
    .insertMany([0, 1, 2, 3, 4].map((i) => ({ _id: `u${i}`, name: `user ${i}` }) as Document));
  // The counter only grows (inserts): watched all along, it must never be seen going down.
  const seen: number[] = [];
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      const row = await client.db(`${db}_views`).collection('count').findOne({});
      if (row) seen.push(row['n'] as number);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  const writes = writeChanges(db, 1, 120, false);
  await waitFor(async () => ((await client.db(`${db}_views`).collection('count').findOne({}))?.['n'] ?? 0) > 10, 'the view under way', 60_000);
  await first.kill();
  await writes;
  await writeChanges(db, 121, 30, false);
  await client
    .db(db)
    .collection<Document>('users')
    .updateOne({ _id: 'u3' } as Document, { $set: { name: 'renamed while down' } });
  const second = new ChildService(config(prefix, db)).start();
  children.push(second);
  await waitFor(() => converged(db, perChat, 'per_chat'), 'per_chat == aggregate() after the restart', 90_000);
  await waitFor(() => converged(db, counter, 'count'), 'count == aggregate() after the restart', 60_000);
  await waitFor(() => converged(db, withNames, 'with_names'), 'with_names ($lookup) == aggregate() after the restart', 60_000);
  watching = false;
  await watcher;
  expect(seen.length).toBeGreaterThan(0);
  expect(seen.filter((n, i) => i > 0 && n < (seen[i - 1] as number))).toEqual([]);
  // It resumed from its state: it did not read the source topic again from the start.
  expect(second.logs(/^no stored state/)).toEqual([]);
  const loaded = second.logs(/^view state loaded$/);
  expect(loaded.some((l) => (l['documents'] as number) > 0)).toBe(true);
  const { last, history } = await readFeed(`${prefix}.view.${prefix}-count`);
  expect(sorted(last)).toEqual(sorted(await client.db(`${db}_views`).collection('count').find({}).toArray()));
  // At least once: repeats allowed, but in order the counter's feed never goes back either.
  const counts = [...history.values()].flat().map((r) => (r?.['n'] as number | undefined) ?? 0);
  expect(counts.filter((n, i) => i > 0 && n < (counts[i - 1] as number))).toEqual([]);
  await second.stop();
});

it('runs in one instance at a time: a second one waits as standby and takes over from the stored state when the first is killed', async () => {
  const prefix = uniqueName('vs');
  const db = prefix.replaceAll('-', '_');
  databases.push(db);
  const first = new ChildService(config(prefix, db)).start();
  children.push(first);
  await waitFor(() => first.logs(/^view active$/).length === 3 && first.logs(/^streaming$/).length === 2, 'the first service active', 90_000);
  const second = new ChildService(config(prefix, db)).start();
  children.push(second);
  await waitFor(() => second.logs(/^view started$/).length === 3, 'the second service started', 90_000);
  expect(second.logs(/^view active$/)).toEqual([]);
  await writeChanges(db, 1, 40);
  await waitFor(() => converged(db, perChat, 'per_chat'), 'per_chat == aggregate() on the first service', 60_000);
  await first.kill();
  await writeChanges(db, 41, 40);
  await waitFor(() => converged(db, perChat, 'per_chat'), 'per_chat == aggregate() after the standby took over', 90_000);
  await waitFor(() => converged(db, counter, 'count'), 'count == aggregate() after the standby took over', 60_000);
  expect(second.logs(/^view active$/)).toHaveLength(3);
  expect(second.logs(/^no stored state/)).toEqual([]);
  await second.stop();
});
