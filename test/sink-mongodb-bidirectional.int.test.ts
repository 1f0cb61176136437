import { MongoClient, type ChangeStream, type Document } from 'mongodb';
import { createEchoFilter } from '../connectors/mongodb/echo-filter.js';
import { mongodbSinkKind, mongodbSinkSchema } from '../sinks/mongodb.js';
import type { Sink } from '../sinks/sink.js';
import { envelopeFromJavaServer, records, sinkTestContext, snapshotOf } from './support/sink.js';
import { eventually, testInfra, uniqueName } from './support/infra.js';

/**
 * A↔B at the sink / echo-filter level: each side's change stream goes through the echo filter of its
 * own cluster and into the other side's MongoDB sink (echoLedger on), as source → Kafka → processor
 * would do it. The end-to-end version through the real source and processor comes with those parts.
 */
interface Side {
  name: 'a' | 'b';
  db: string;
  stateDb: string;
  stream?: ChangeStream;
  published: number;
  dropped: number;
  loop?: Promise<void>;
}

describe('bidirectional MongoDB sync without echo', () => {
  const infra = testInfra();
  const client = new MongoClient(infra.mongodb);
  const a: Side = { name: 'a', db: uniqueName('bi-a'), stateDb: uniqueName('bi-state-a'), published: 0, dropped: 0 };
  const b: Side = { name: 'b', db: uniqueName('bi-b'), stateDb: uniqueName('bi-state-b'), published: 0, dropped: 0 };
  const meta = uniqueName('bi-meta');
  let stopped = false;

  beforeAll(() => client.connect());
  afterAll(async () => {
    for (const db of [a.db, b.db, a.stateDb, b.stateDb, meta])
      await client
        .db(db)
        .dropDatabase()
        .catch(() => undefined);
    await client.close();
  });

  it('converges with writes on both sides and publishes each change exactly once', async () => {
    const contexts = await Promise.all([sinkTestContext('a-to-b', { metadataDb: meta }), sinkTestContext('b-to-a', { metadataDb: meta })]);
    const sinkConfig = (to: Side, name: string) =>
      mongodbSinkSchema.parse({ name, kind: 'mongodb', uri: infra.mongodb, db: to.db, stateDb: to.stateDb, echoLedger: true, updateMode: 'document' });
    const toB: Sink = mongodbSinkKind.create(sinkConfig(b, 'to-b'), contexts[0].dependencies);
    const toA: Sink = mongodbSinkKind.create(sinkConfig(a, 'to-a'), contexts[1].dependencies);
    await Promise.all([toA.start(), toB.start()]);

    const pump = async (side: Side, sink: Sink): Promise<void> => {
      const filter = createEchoFilter(client, { sourceName: side.name, stateDb: side.stateDb });
      const stream = side.stream as ChangeStream;
      const buffer: Document[] = [];
      while (!stopped) {
        const change = await stream.tryNext().catch((error: unknown) => {
          if (stopped) return null;
          throw error;
        });
        if (change) {
          buffer.push(change as unknown as Document);
          if (buffer.length < 200) continue;
        }
        if (buffer.length === 0) continue;
        const events = buffer.splice(0).map((raw) => envelopeFromJavaServer(raw, { db: side.db, coll: 'people' }, side.name));
        const kept = await filter.drop(events);
        side.published += kept.length;
        side.dropped += events.length - kept.length;
        await sink.write(records(kept));
      }
    };
    for (const side of [a, b]) {
      side.stream = client.db(side.db).collection('people').watch([], { maxAwaitTimeMS: 50 });
      await side.stream.tryNext(); // opens the cursor before anything is written
    }
    a.loop = pump(a, toB);
    b.loop = pump(b, toA);

    const people = (side: Side) => client.db(side.db).collection<{ _id: string } & Document>('people');
    const person = (id: string, owner: string, v: number, extra: Document = {}): { _id: string } & Document => ({ _id: id, owner, v, ...extra });
    let localWrites = 0;
    const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);
    try {
      // Both sides insert at the same time.
      await Promise.all([
        (async () => {
          await people(a).insertMany(range(0, 150).map((i) => person(`a-${i}`, 'a', 0)));
        })(),
        (async () => {
          await people(b).insertMany(range(0, 150).map((i) => person(`b-${i}`, 'b', 0)));
        })(),
      ]);
      localWrites += 300;
      await eventually(
        async () => (await people(a).countDocuments()) === 300 && (await people(b).countDocuments()) === 300,
        'both sides have all 300 documents',
      );

      // Both sides edit and delete documents that came from the other side, and their own.
      await Promise.all([
        (async () => {
          await people(a).bulkWrite(
            range(0, 50).map((i) => ({ replaceOne: { filter: { _id: `b-${i}` }, replacement: person(`b-${i}`, 'b', 1, { editedBy: 'a' }) } })),
          );
          await people(a).bulkWrite(range(100, 120).map((i) => ({ deleteOne: { filter: { _id: `b-${i}` } } })));
          await people(a).bulkWrite(range(50, 100).map((i) => ({ replaceOne: { filter: { _id: `a-${i}` }, replacement: person(`a-${i}`, 'a', 2) } })));
        })(),
        (async () => {
          await people(b).bulkWrite(
            range(0, 50).map((i) => ({ replaceOne: { filter: { _id: `a-${i}` }, replacement: person(`a-${i}`, 'a', 1, { editedBy: 'b' }) } })),
          );
          await people(b).bulkWrite(range(100, 120).map((i) => ({ deleteOne: { filter: { _id: `a-${i}` } } })));
          await people(b).bulkWrite(range(50, 100).map((i) => ({ replaceOne: { filter: { _id: `b-${i}` }, replacement: person(`b-${i}`, 'b', 2) } })));
        })(),
      ]);
      localWrites += 2 * (50 + 20 + 50);

      await eventually(
        async () => {
          const [sa, sb] = await Promise.all([snapshotOf(client, a.db, 'people'), snapshotOf(client, b.db, 'people')]);
          return sa.length === 260 && JSON.stringify(sa) === JSON.stringify(sb);
        },
        'A and B to converge',
        240_000,
      );
      const converged = await people(a).find({}).toArray();
      expect(converged.filter((d) => d['editedBy'] === 'a')).toHaveLength(50);
      expect(converged.filter((d) => d['editedBy'] === 'b')).toHaveLength(50);
      expect(converged.filter((d) => d['v'] === 2)).toHaveLength(100);

      // A marker on each side: once its echo has been dropped, everything written before it has passed too.
      await people(a).insertOne(person('marker-a', 'a', 0));
      await people(b).insertOne(person('marker-b', 'b', 0));
      localWrites += 2;
      await eventually(
        () => a.published + b.published >= localWrites && a.dropped + b.dropped >= localWrites,
        `all ${localWrites} changes published and their echoes dropped`,
        240_000,
      );
      // Every local write is published once; every write the sinks made came back once as an echo and stopped there.
      expect(a.published + b.published).toBe(localWrites);
      expect(a.dropped + b.dropped).toBe(localWrites);
      const leftover = await Promise.all(
        [a, b].map((side) =>
          client
            .db(side.stateDb)
            .collection('echoes')
            .countDocuments({ n: { $gt: 0 } }),
        ),
      );
      expect(leftover).toEqual([0, 0]);
      expect(await snapshotOf(client, a.db, 'people')).toEqual(await snapshotOf(client, b.db, 'people'));
    } finally {
      stopped = true;
      await Promise.all([a.stream?.close(), b.stream?.close()]);
      await Promise.allSettled([a.loop, b.loop]);
      await Promise.all([toA.stop(), toB.stop()]);
      await Promise.all(contexts.map((c) => c.close()));
    }
    console.log(`bidirectional: ${localWrites} local writes, published ${a.published + b.published}, echoes dropped ${a.dropped + b.dropped}`);
  }, 300_000); // the shared mongo-java-server slows down as its oplog grows; this is a bound, not an expectation
});
