import { Int32, MongoClient, type Collection } from 'mongodb';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveJars } from '../core/infra/maven.js';
import { startMongo } from '../core/infra/mongo-server.js';
import { stopProcess } from '../core/infra/process.js';
import { createKafkajsTransport } from '../core/kafka/kafkajs.js';
import { TopicNames } from '../core/topics.js';
import { ChildService } from '../testing/mongodb/child-service.js';
import { TopicReader } from '../testing/mongodb/topic-reader.js';
import { parseChangeEvent, type ChangeEvent } from '../schemas/envelope.js';
import { eventually, testInfra, uniqueName } from './support/infra.js';

/** eventually(), with the child's last log lines in the failure message. */
async function waitFor(check: () => boolean, what: string, child: ChildService, timeoutMs: number, intervalMs = 100): Promise<void> {
  try {
    await eventually(check, what, timeoutMs, intervalMs);
  } catch (error) {
    throw new Error(`${(error as Error).message}\n--- child output ---\n${child.tail(40)}`, { cause: error });
  }
}

const infra = testInfra();
const N = 100_000;

interface Item {
  _id: Int32;
  name: string;
  n: Int32;
  touched?: boolean;
}

interface StoredPosition {
  phase: 'snapshot' | 'stream';
  copied?: number;
  lastKey?: string;
}

describe('initial snapshot interrupted by kill -9 resumes by _id range', () => {
  const kafka = createKafkajsTransport({ brokers: [infra.kafka] });
  const admin = kafka.admin();
  const dbName = uniqueName('snapdb');
  const metaDb = uniqueName('snapmeta');
  const prefix = uniqueName('cfsn');
  const topics = new TopicNames(prefix);
  const children: ChildService[] = [];
  let mongoUri = infra.mongodb;
  let privatePid: number | null = null;
  let client: MongoClient;

  const config = () => ({
    kafka: { brokers: [infra.kafka], topicPrefix: prefix, partitions: 3 },
    mongodb: { uri: mongoUri, db: metaDb },
    http: { port: 0 },
    grpc: { port: 0 },
    sources: [{ name: 'snappy', uri: mongoUri, watch: { db: dbName, coll: 'items' }, snapshot: 'initial', snapshotBatchSize: 500, checkpointIntervalMs: 200 }],
  });
  const child = (): ChildService => {
    const c = new ChildService(config(), { MONGODB_URI: mongoUri });
    children.push(c);
    return c.start();
  };

  beforeAll(async () => {
    await admin.connect();
    // mongo-java-server keeps every oplog entry in memory for good: 100,000 documents (and their
    // oplog copies) would crowd the shared server's heap, so this test brings its own unless the
    // given server is a real replica set.
    const probe = new MongoClient(infra.mongodb, { serverSelectionTimeoutMS: 5_000 });
    const hello = await probe
      .db('admin')
      .command({ isMaster: 1 })
      .catch(() => ({}) as Record<string, unknown>);
    await probe.close();
    if (typeof hello['setName'] !== 'string') {
      const server = await startMongo({ jars: await resolveJars(), workDir: mkdtempSync(join(tmpdir(), 'changeflow-snapshot-mongo-')) });
      mongoUri = server.uri;
      privatePid = server.pid;
    }
    client = new MongoClient(mongoUri);
    await client.connect();
  }, 120_000);

  afterAll(async () => {
    await Promise.all(children.map((c) => c.kill()));
    await client
      .db(dbName)
      .dropDatabase()
      .catch(() => undefined);
    await client
      .db(metaDb)
      .dropDatabase()
      .catch(() => undefined);
    await Promise.all([admin.disconnect(), client.close()]);
    if (privatePid !== null) await stopProcess(privatePid, 5_000);
  });

  it(`copies ${N} documents, resumes after a crash from the stored _id, loses nothing, then streams`, async () => {
    const coll: Collection<Item> = client.db(dbName).collection<Item>('items');
    const started = Date.now();
    for (let i = 0; i < N; i += 5_000) {
      await coll.insertMany(Array.from({ length: 5_000 }, (_, j) => ({ _id: new Int32(i + j), name: `item ${i + j} ${'x'.repeat(40)}`, n: new Int32(i + j) })));
    }
    const insertMs = Date.now() - started;

    const topic = topics.change(dbName, 'items');
    await admin.ensureTopics([
      { topic, partitions: 3 },
      { topic: topics.offsets(), partitions: 1, config: { 'cleanup.policy': 'compact' } },
    ]);
    const reader = await new TopicReader(kafka, [topic, topics.offsets()]).start();
    const positions = (): StoredPosition[] =>
      reader.records
        .filter((r) => r.topic === topics.offsets() && r.key?.toString() === 'snappy')
        .map((r) => JSON.parse(r.value?.toString() ?? '{}') as StoredPosition);
    const latest = (): StoredPosition | undefined => positions().at(-1);

    const first = child();
    const snapStarted = Date.now();
    await waitFor(() => (latest()?.copied ?? 0) > 0, `snapshot under way`, first, 120_000, 50);

    // Writes during the snapshot (and on through the crash): the stream, opened at a cluster time taken
    // before the copy, must carry them.
    const extra = Array.from({ length: 100 }, (_, j) => N + j);
    const writes = (async () => {
      await coll.insertMany(extra.map((i) => ({ _id: new Int32(i), name: `late ${i}`, n: new Int32(i) })));
      for (let i = 0; i < 100; i++) await coll.updateOne({ _id: new Int32(N - 1 - i) }, { $set: { touched: true } });
      await coll.deleteMany({ _id: { $in: extra.slice(0, 10).map((i) => new Int32(i)) } });
    })();

    await waitFor(() => (latest()?.copied ?? 0) >= N * 0.4, `snapshot 40% done`, first, 180_000, 20);
    await first.kill();
    const killedAt = latest();
    const copiedAtKill = killedAt?.copied ?? 0;
    const firstRate = copiedAtKill / ((Date.now() - snapStarted) / 1000);
    expect(killedAt?.phase).toBe('snapshot');
    expect(copiedAtKill).toBeLessThan(N);
    await writes;

    const second = child();
    await waitFor(() => latest()?.phase === 'stream' && positions().length > 0, `snapshot finished after restart`, second, 240_000, 250);

    // The second instance resumed from the stored _id, not from zero.
    const resumedLine = second.logs(/snapshot resuming from its stored progress/)[0];
    const resumedFrom = Number(/after _id \{"_id":\{"\$numberInt":"(\d+)"\}\}/.exec(String(resumedLine?.['position']))?.[1] ?? '0');
    expect(resumedFrom).toBeGreaterThan(0);

    const events = (): ChangeEvent[] => reader.records.filter((r) => r.topic === topic).map((r) => parseChangeEvent(r.value ?? ''));
    const idOf = (e: ChangeEvent): number => Number((e.documentKey?.['_id'] as { $numberInt?: string } | undefined)?.$numberInt);
    await eventually(
      () => {
        const all = events();
        return all.filter((e) => e.op === 'update').length >= 100 && all.filter((e) => e.op === 'delete').length >= 10;
      },
      'the concurrent updates and deletes streamed after the snapshot',
      120_000,
      250,
    );

    const all = events();
    const snapshotRecords = all.filter((e) => e.op === 'snapshot');
    const snapshotIds = new Set(snapshotRecords.map(idOf));
    for (let i = 0; i < N; i++) if (!snapshotIds.has(i)) throw new Error(`document ${i} missing from the snapshot`);
    // Starting over would repeat everything copied before the crash; resuming repeats at most the unacknowledged tail.
    const repeats = snapshotRecords.length - snapshotIds.size;
    expect(repeats).toBeLessThan(copiedAtKill / 2);
    // Every late insert is in Kafka (copied by the snapshot, or as an insert event); updates and deletes arrive as events.
    const inserted = new Set(all.filter((e) => e.op === 'insert' || e.op === 'snapshot').map(idOf));
    expect(extra.filter((i) => !inserted.has(i))).toEqual([]);
    expect(new Set(all.filter((e) => e.op === 'update').map(idOf)).size).toBe(100);
    expect(new Set(all.filter((e) => e.op === 'delete').map(idOf))).toEqual(new Set(extra.slice(0, 10)));
    expect(snapshotRecords[0]?.id).toMatch(/^snapshot:snappy:\{"_id":/);

    console.log(
      `snapshot test: inserted ${N} docs in ${insertMs} ms; first run copied ${copiedAtKill} (~${Math.round(firstRate)} docs/s) before kill -9; ` +
        `second run resumed after _id ${resumedFrom}; ${snapshotRecords.length} snapshot records, ${snapshotIds.size} distinct, ${repeats} repeats`,
    );
    await reader.stop();
    await second.stop();
  }, 600_000);
});
