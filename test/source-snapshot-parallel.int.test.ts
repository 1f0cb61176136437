import { Binary, Decimal128, Double, Int32, Long, MaxKey, MinKey, MongoClient, ObjectId, type Document } from 'mongodb';
import { Health } from '../core/health.js';
import { createKafkajsTransport } from '../core/kafka/kafkajs.js';
import { createLogger, silentLogger } from '../core/logger.js';
import { createMetricsRegistry } from '../core/metrics.js';
import { TopicNames } from '../core/topics.js';
import { MongoSource } from '../connectors/mongodb/mongo-source.js';
import { OffsetStore } from '../connectors/mongodb/offset-store.js';
import { sourceConfigSchema } from '../connectors/mongodb/source-config.js';
import { sourceMetrics } from '../connectors/mongodb/source-metrics.js';
import type { SourcePosition } from '../connectors/mongodb/source-position.js';
import { TopicReader } from '../testing/mongodb/topic-reader.js';
import { canonicalText } from '../schemas/ejson.js';
import { eventually, testInfra, uniqueName } from './support/infra.js';

const infra = testInfra();

/**
 * `_id`s of every BSON type bracket, most of them numbers and strings: the split points (a third and two
 * thirds into `_id` order) then fall on types the planner can cut at (a number and a string), and the
 * ranges run across the other types.
 */
function mixedIds(n: number): unknown[] {
  const ids: unknown[] = [new MinKey(), new MaxKey(), false, true];
  for (let i = 0; i < n; i++) {
    ids.push(new Int32(i), `s${String(i).padStart(5, '0')}`);
    if (i % 4 === 0)
      ids.push(
        Long.fromNumber(1_000_000 + i),
        new Double(i + 0.5),
        `é${i}`,
        { k: i },
        new Binary(Buffer.from(`b${i}`)),
        new ObjectId(),
        new Date(1_700_000_000_000 + i),
      );
    if (i % 10 === 0) ids.push(Decimal128.fromString(`${2_000_000 + i}.25`));
  }
  return ids;
}

describe('parallel initial snapshot (real Kafka + mongo-java-server)', () => {
  const kafka = createKafkajsTransport({ brokers: [infra.kafka] });
  const admin = kafka.admin();
  const client = new MongoClient(infra.mongodb);
  const dbName = uniqueName('psnap');
  const metaDbName = uniqueName('psnapmeta');
  const prefix = uniqueName('cfps');
  const topics = new TopicNames(prefix);
  const registry = createMetricsRegistry({ defaultMetrics: false });
  const metrics = sourceMetrics(registry);
  const offsets = new OffsetStore(kafka, topics.offsets(), silentLogger);
  const sources: MongoSource[] = [];
  let reader: TopicReader;

  function startSource(input: Record<string, unknown>): MongoSource {
    const config = sourceConfigSchema.parse({ uri: infra.mongodb, snapshot: 'initial', checkpointIntervalMs: 100, ...input });
    const source = new MongoSource(config, {
      kafka,
      topics,
      logger: process.env['SOURCE_TEST_LOG'] ? createLogger({ level: 'debug' }) : silentLogger,
      health: new Health(),
      metrics,
      metadataDb: client.db(metaDbName),
      partitions: 3,
    });
    source.start();
    sources.push(source);
    return source;
  }

  async function copiedBy(name: string): Promise<number> {
    const values = (await registry.getSingleMetric('changeflow_source_snapshot_documents')?.get())?.values ?? [];
    return values.find((v) => v.labels['source'] === name)?.value ?? 0;
  }

  /** Snapshot record keys (canonical `{ _id }`) of one collection, as many times as each arrived. */
  function snapshotKeys(coll: string): string[] {
    const topic = topics.change(dbName, coll);
    return reader.records
      .filter((r) => r.topic === topic && (JSON.parse(r.value?.toString() ?? '{}') as { op?: string }).op === 'snapshot')
      .map((r) => r.key?.toString() ?? '');
  }

  /** The positions `name` stored so far, as read back from the offsets topic, oldest first. */
  function storedPositions(name: string): { phase: string; copied?: number; ranges?: { ns: string; copied: number; from?: string }[] }[] {
    return reader.records
      .filter((r) => r.topic === topics.offsets() && r.key?.toString() === name)
      .map((r) => JSON.parse(r.value?.toString() ?? '{}') as { phase: string; copied?: number; ranges?: { ns: string; copied: number; from?: string }[] });
  }

  const finished = (name: string) => (): boolean => storedPositions(name).at(-1)?.phase === 'stream';

  async function keysIn(coll: string): Promise<string[]> {
    const docs = await client
      .db(dbName)
      .collection(coll)
      .find({}, { projection: { _id: 1 }, promoteValues: false })
      .toArray();
    return docs.map((d: Document) => canonicalText({ _id: d['_id'] }));
  }

  beforeAll(async () => {
    await Promise.all([admin.connect(), client.connect()]);
    await offsets.ensureTopic(admin);
    // Created first: the reader reads from the beginning the topics that exist when it subscribes.
    const changeTopics = ['mixed', 'small', 'stopped'].map((coll) => topics.change(dbName, coll));
    await admin.ensureTopics(changeTopics.map((topic) => ({ topic, partitions: 3 })));
    reader = await new TopicReader(kafka, [...changeTopics, topics.offsets()]).start();
  });

  afterAll(async () => {
    await Promise.all(sources.map((s) => s.stop()));
    await reader.stop();
    for (const db of [dbName, metaDbName])
      await client
        .db(db)
        .dropDatabase()
        .catch(() => undefined);
    await Promise.all([admin.disconnect(), client.close()]);
  });

  it('copies a collection with _ids of every type in 3 ranges, beside a second collection, every document exactly once', async () => {
    const ids = mixedIds(1_500);
    await client
      .db(dbName)
      .collection('mixed')
      .insertMany(ids.map((_id, i) => ({ _id, i }) as Document));
    await client
      .db(dbName)
      .collection('small')
      .insertMany(Array.from({ length: 300 }, (_, i) => ({ _id: new Int32(i), i }) as Document));
    const expected = { mixed: await keysIn('mixed'), small: await keysIn('small') };
    expect(expected.mixed).toHaveLength(ids.length);

    startSource({ name: 'mixed', watch: { db: dbName }, snapshotParallelism: 3, snapshotBatchSize: 200 });
    await eventually(finished('mixed'), 'the snapshot to finish', 120_000, 250);
    await eventually(() => snapshotKeys('mixed').length >= ids.length && snapshotKeys('small').length >= 300, 'every snapshot record read back', 60_000, 100);

    for (const coll of ['mixed', 'small'] as const) {
      const keys = snapshotKeys(coll);
      expect(keys.filter((k, i) => keys.indexOf(k) !== i)).toEqual([]);
      expect(new Set(keys)).toEqual(new Set(expected[coll]));
    }
    // The plan the source stored first: the large collection in 3 ranges, the small one whole.
    const plan = storedPositions('mixed')[0];
    const mixedRanges = plan?.ranges?.filter((r) => r.ns === `${dbName}.mixed`) ?? [];
    expect(mixedRanges).toHaveLength(3);
    expect(mixedRanges[1]?.from).toMatch(/^\{"_id":\{"\$number/);
    expect(mixedRanges[2]?.from).toMatch(/^\{"_id":"/);
    expect(plan?.ranges?.filter((r) => r.ns === `${dbName}.small`)).toEqual([{ ns: `${dbName}.small`, copied: 0 }]);
  }, 240_000);

  it('stopped mid-copy, resumes every range after its own last acknowledged _id: nothing lost, nothing copied twice', async () => {
    const N = 40_000;
    const pad = 'x'.repeat(300);
    const coll = client.db(dbName).collection('stopped');
    // Numbers then strings: the two ranges meet inside one type and the second runs across a bracket.
    for (let i = 0; i < N; i += 5_000) {
      await coll.insertMany(
        Array.from({ length: 5_000 }, (_, j) => ({ _id: (i + j) % 2 === 0 ? new Int32(i + j) : `k${String(i + j).padStart(6, '0')}`, pad }) as Document),
      );
    }
    const name = 'stopped';
    const input = { name, watch: { db: dbName, coll: 'stopped' }, snapshotParallelism: 2, snapshotBatchSize: 250 };
    const first = startSource(input);
    await eventually(async () => (await copiedBy(name)) >= N * 0.2, 'a fifth of the copy', 120_000, 5);
    await first.stop();
    const stopped = (await offsets.load(admin, name)) as SourcePosition;
    const ranges = stopped.snapshot?.ranges ?? [];
    expect(ranges).toHaveLength(2);
    // Both ranges had made progress of their own, and neither was finished.
    for (const range of ranges) {
      expect(range.lastKey).toBeDefined();
      expect(range.done).toBeUndefined();
      expect(range.copied).toBeGreaterThan(0);
    }
    const copiedAtStop = stopped.snapshot?.copied ?? 0;
    expect(copiedAtStop).toBeLessThan(N);

    startSource(input);
    await eventually(finished(name), 'the resumed snapshot to finish', 180_000, 250);
    await eventually(() => snapshotKeys('stopped').length >= N, 'every snapshot record read back', 60_000, 100);
    const keys = snapshotKeys('stopped');
    expect(new Set(keys)).toEqual(new Set(await keysIn('stopped')));
    // A clean stop stores what Kafka acknowledged: a copy started over (even one range) would repeat it.
    expect(keys.length - new Set(keys).size).toBe(0);
    // The second run's first stored progress continues each range's own count.
    const afterStop = storedPositions(name).filter((p) => p.phase === 'snapshot' && (p.copied ?? 0) > copiedAtStop)[0];
    expect(afterStop?.ranges?.map((r) => r.copied).every((c, i) => c >= (ranges[i]?.copied ?? 0))).toBe(true);
  }, 300_000);
});
