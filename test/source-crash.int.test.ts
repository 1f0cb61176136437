import { MongoClient } from 'mongodb';
import { createKafkajsTransport } from '../core/kafka/kafkajs.js';
import { TopicNames } from '../core/topics.js';
import { ChildService } from '../connectors/mongodb/testing/child-service.js';
import { TopicReader } from '../connectors/mongodb/testing/topic-reader.js';
import { ChangeWriter as Writer, tallyChanges, type WriterCollection } from '../connectors/mongodb/testing/change-writer.js';
import { eventually, testInfra, uniqueName } from './support/infra.js';

/** eventually(), with the child's last log lines in the failure message. */
async function waitFor(check: () => boolean, what: string, child: ChildService, timeoutMs: number, intervalMs = 100): Promise<void> {
  try {
    await eventually(check, what, timeoutMs, intervalMs);
  } catch (error) {
    throw new Error(`${(error as Error).message}\n--- child output ---\n${child.tail(40)}`);
  }
}

const infra = testInfra();

describe('MongoDB source survives kill -9 (child process) without losing a change', () => {
  const kafka = createKafkajsTransport({ brokers: [infra.kafka] });
  const admin = kafka.admin();
  const client = new MongoClient(infra.mongodb);
  const dbName = uniqueName('crashdb');
  const metaDb = uniqueName('crashmeta');
  const prefix = uniqueName('cfc');
  const topics = new TopicNames(prefix);
  const children: ChildService[] = [];

  const config = {
    kafka: { brokers: [infra.kafka], topicPrefix: prefix, partitions: 3 },
    mongodb: { uri: infra.mongodb, db: metaDb },
    http: { port: 0 },
    grpc: { port: 0 },
    sources: [{ name: 'crashy', uri: infra.mongodb, watch: { db: dbName, coll: 'items' }, snapshot: 'never', checkpointIntervalMs: 200 }],
  };

  beforeAll(async () => {
    await Promise.all([admin.connect(), client.connect()]);
  });

  afterAll(async () => {
    await Promise.all(children.map((c) => c.kill()));
    await client.db(dbName).dropDatabase().catch(() => undefined);
    await client.db(metaDb).dropDatabase().catch(() => undefined);
    await Promise.all([admin.disconnect(), client.close()]);
  });

  it('restarts from the checkpoint: every change is in Kafka (repeats counted, none missing)', async () => {
    const topic = topics.change(dbName, 'items');
    await admin.ensureTopics([{ topic, partitions: 3 }]);
    const reader = await new TopicReader(kafka, [topic]).start();
    const coll: WriterCollection = client.db(dbName).collection('items');

    const first = new ChildService(config).start();
    children.push(first);
    // The source fixes its start position when it becomes active; writes before that are not its business (snapshot: never).
    await waitFor(() => first.logs(/^streaming$/).length > 0, `first instance streaming`, first, 60_000);
    const writer = new Writer(coll).start();
    await eventually(() => reader.records.length >= 1500, 'some changes in Kafka before the crash', 60_000);
    await first.kill();
    const atKill = reader.records.length;
    // Writes go on while nothing reads the change stream.
    await eventually(() => writer.total >= atKill + 1500, 'more writes while the source is down', 60_000);

    const second = new ChildService(config).start();
    children.push(second);
    await waitFor(() => second.logs(/^streaming$/).length > 0, `second instance streaming`, second, 60_000);
    await eventually(() => writer.total >= atKill + 4000, 'writes after the restart', 60_000);
    await writer.stop();
    const expectedTotal = writer.total;

    const tally = (): number => tallyChanges(reader.records).distinct;
    await eventually(() => tally() >= expectedTotal, `all ${expectedTotal} changes in Kafka`, 120_000, 500);

    const { distinct, seen } = tallyChanges(reader.records);
    const missing = [...writer.expected].filter(([key, count]) => (seen.get(key)?.size ?? 0) < count).map(([key]) => key);
    const repeats = reader.records.length - distinct;
    console.log(`kill -9 test: ${expectedTotal} changes written, ${reader.records.length} records in Kafka, ${distinct} distinct ids, ${repeats} repeats, ${missing.length} missing; killed after ${atKill} records`);
    expect(missing).toEqual([]);
    expect(distinct).toBe(expectedTotal);
    // The restart resumed from a stored position rather than from "now".
    const resumed = second.logs(/^source starting$/)[0];
    expect(resumed?.['plan']).toBe('stream');
    await reader.stop();
    await second.stop();
  }, 300_000);
});
