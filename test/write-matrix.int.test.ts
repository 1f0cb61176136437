import { EJSON } from '../schemas/bson.js';
import {
  Binary,
  BSONRegExp,
  Code,
  DBRef,
  Decimal128,
  Double,
  Int32,
  Long,
  MaxKey,
  MinKey,
  MongoClient,
  ObjectId,
  Timestamp,
  UUID,
  type Document,
} from 'mongodb';
import { componentFactories } from '../app/components.js';
import { startApp, type RunningApp } from '../core/app.js';
import { compileConfig } from '../app/config.js';
import { silentLogger } from '../core/logger.js';
import { TopicNames } from '../core/topics.js';
import { startTestSchemaRegistry, type TestSchemaRegistry } from '../testing/schema-registry.js';
import { eventually, testInfra, uniqueName } from './support/infra.js';

/**
 * Issue 17: the copy equals the source for every write MongoDB accepts. Each write of the matrix
 * touches its own documents (ids `<write>:<n>`), runs against A while a source streams A into Kafka
 * as JSON and as Avro, and a pass-through trigger per sink `updateMode` applies it to its own B.
 * A write the server refuses is skipped (and named); every accepted one must end up exactly in every B.
 */
const infra = testInfra();
const mongo = new MongoClient(infra.mongodb);

const sorted = (value: unknown): unknown =>
  value && typeof value === 'object' && !Array.isArray(value)
    ? Object.fromEntries(
        Object.entries(value as Record<string, unknown>)
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([k, v]) => [k, sorted(v)]),
      )
    : Array.isArray(value)
      ? value.map(sorted)
      : value;

/** Canonical EJSON, keys sorted, per `_id`: equal means equal values and BSON types. */
async function contents(db: string): Promise<Map<string, string>> {
  const docs: Document[] = await mongo.db(db).collection('items').find({}, { bsonRegExp: true }).toArray();
  return new Map(docs.map((d) => [String(d['_id']), JSON.stringify(sorted(EJSON.serialize(d, { relaxed: false })))]));
}

function differences(a: Map<string, string>, b: Map<string, string>): string[] {
  const ids = new Set([...a.keys(), ...b.keys()]);
  return [...ids].filter((id) => a.get(id) !== b.get(id)).sort();
}

/** The writes the matrix makes, typed loosely: the update operators are data here, not the driver's schema types. */
interface Items {
  insertOne(doc: Document): Promise<unknown>;
  insertMany(docs: Document[]): Promise<unknown>;
  updateOne(filter: Document, update: Document | Document[], options?: Document): Promise<unknown>;
  updateMany(filter: Document, update: Document): Promise<unknown>;
  replaceOne(filter: Document, replacement: Document): Promise<unknown>;
  findOneAndUpdate(filter: Document, update: Document): Promise<unknown>;
  findOneAndReplace(filter: Document, replacement: Document): Promise<unknown>;
  findOneAndDelete(filter: Document): Promise<unknown>;
  deleteOne(filter: Document): Promise<unknown>;
  deleteMany(filter: Document): Promise<unknown>;
  bulkWrite(operations: Document[], options: Document): Promise<unknown>;
}
/** Documents of the matrix are keyed by strings naming the write (typed as the driver's default _id). */
type Write = (items: Items, id: (n: number) => ObjectId) => Promise<unknown>;
const stringId = (text: string): ObjectId => text as unknown as ObjectId;

const seed = (n: number, extra: Document = {}): Document => ({
  n: new Int32(n),
  v: new Int32(1),
  arr: [new Int32(1), new Int32(2), new Int32(3)],
  tags: ['a', 'b'],
  sub: { x: new Int32(1), y: 'y' },
  ...extra,
});
const insertSeed = (items: Items, id: (n: number) => ObjectId, count = 1, extra: Document = {}): Promise<unknown> =>
  items.insertMany(Array.from({ length: count }, (_, n) => ({ _id: id(n), ...seed(n, extra) })));

/** One value of each BSON type (and the edge values of the numeric ones). */
const bsonValues: Record<string, unknown> = {
  'Int64 above 2^53': Long.fromString('9007199254740993'),
  'Int64 minimum': Long.fromString('-9223372036854775808'),
  Decimal128: Decimal128.fromString('1234567890.123456789012345678901234'),
  'Double -0.0': new Double(-0),
  'Double NaN': new Double(Number.NaN),
  'Double +Infinity': new Double(Number.POSITIVE_INFINITY),
  'Double -Infinity': new Double(Number.NEGATIVE_INFINITY),
  Int32: new Int32(-7),
  'Binary subtype 0': new Binary(Buffer.from([0, 1, 255]), 0),
  'Binary subtype 5 (MD5)': new Binary(Buffer.from('md5md5md5md5md5m'), 5),
  'Binary subtype 128': new Binary(Buffer.from([9, 9]), 128),
  'Binary UUID': new UUID('8c5e5a52-9f8a-4c6e-b3c1-1f6d2e0a9b11'),
  Regex: new BSONRegExp('^a.*b$', 'im'),
  Timestamp: new Timestamp({ t: 1_700_000_000, i: 7 }),
  MinKey: new MinKey(),
  MaxKey: new MaxKey(),
  DBRef: new DBRef('other', new ObjectId('65a1b2c3d4e5f60718293a4b'), 'db2'),
  Code: new Code('function () { return 1; }'),
  'Date before 1970': new Date(-62_135_596_800_000),
  ObjectId: new ObjectId('65a1b2c3d4e5f60718293a4c'),
  'nested document and array': { arr: [null, true, 'x', { deep: [new Int32(1)] }] },
};

/** Inserts the document(s) it needs, then performs the write under test. */
const matrix: Record<string, Write> = {
  'issue 17: $set beside $inc': async (items, id) => {
    await insertSeed(items, id);
    await items.updateOne({ _id: id(0) }, { $set: { n: new Int32(100000) }, $inc: { v: new Int32(1) } });
  },
  $inc: async (items, id) => (
    await insertSeed(items, id),
    items.updateOne({ _id: id(0) }, { $inc: { v: new Int32(5), 'sub.x': Long.fromNumber(2), fresh: 1.5 } })
  ),
  $mul: async (items, id) => (await insertSeed(items, id), items.updateOne({ _id: id(0) }, { $mul: { v: new Int32(3), missing: new Int32(2) } })),
  '$min and $max': async (items, id) => (
    await insertSeed(items, id),
    items.updateOne({ _id: id(0) }, { $min: { v: new Int32(-4) }, $max: { n: new Int32(99) } })
  ),
  $rename: async (items, id) => (await insertSeed(items, id), items.updateOne({ _id: id(0) }, { $rename: { tags: 'labels', 'sub.y': 'sub.z' } })),
  $unset: async (items, id) => (await insertSeed(items, id), items.updateOne({ _id: id(0) }, { $unset: { tags: '', 'sub.x': '' } })),
  $currentDate: async (items, id) => (await insertSeed(items, id), items.updateOne({ _id: id(0) }, { $currentDate: { at: true, ts: { $type: 'timestamp' } } })),
  $push: async (items, id) => (await insertSeed(items, id), items.updateOne({ _id: id(0) }, { $push: { tags: 'c' } })),
  '$push $each $position $slice $sort': async (items, id) => (
    await insertSeed(items, id),
    items.updateOne({ _id: id(0) }, { $push: { arr: { $each: [new Int32(9), new Int32(0)], $position: 1, $slice: 4, $sort: 1 } } })
  ),
  $pull: async (items, id) => (await insertSeed(items, id), items.updateOne({ _id: id(0) }, { $pull: { arr: { $gte: 2 } } })),
  $pullAll: async (items, id) => (await insertSeed(items, id), items.updateOne({ _id: id(0) }, { $pullAll: { tags: ['a'] } })),
  '$addToSet $each': async (items, id) => (await insertSeed(items, id), items.updateOne({ _id: id(0) }, { $addToSet: { tags: { $each: ['a', 'z'] } } })),
  $pop: async (items, id) => (await insertSeed(items, id), items.updateOne({ _id: id(0) }, { $pop: { arr: -1, tags: 1 } })),
  'positional $': async (items, id) => (await insertSeed(items, id), items.updateOne({ _id: id(0), arr: 2 }, { $set: { 'arr.$': new Int32(20) } })),
  '$[]': async (items, id) => (await insertSeed(items, id), items.updateOne({ _id: id(0) }, { $inc: { 'arr.$[]': new Int32(10) } })),
  '$[<id>] with arrayFilters': async (items, id) => (
    await insertSeed(items, id),
    items.updateOne({ _id: id(0) }, { $set: { 'arr.$[big]': new Int32(0) } }, { arrayFilters: [{ big: { $gt: 1 } }] })
  ),
  'nested arrays': async (items, id) => {
    await items.insertOne({ _id: id(0), grid: [[new Int32(1), new Int32(2)], [new Int32(3)]], docs: [{ k: 'a', list: [1, 2] }] });
    await items.updateOne({ _id: id(0) }, { $push: { 'grid.1': new Int32(4), 'docs.0.list': 3 }, $set: { 'docs.0.k': 'b' } });
  },
  'pipeline update': async (items, id) => (
    await insertSeed(items, id),
    items.updateOne({ _id: id(0) }, [{ $set: { v: { $add: ['$v', 1] }, copy: '$sub' } }, { $unset: 'tags' }])
  ),
  replaceOne: async (items, id) => (await insertSeed(items, id), items.replaceOne({ _id: id(0) }, { replaced: true, list: [1, 'x'] })),
  findOneAndUpdate: async (items, id) => (
    await insertSeed(items, id),
    items.findOneAndUpdate({ _id: id(0) }, { $inc: { v: new Int32(2) }, $push: { tags: 'f' } })
  ),
  findOneAndReplace: async (items, id) => (await insertSeed(items, id), items.findOneAndReplace({ _id: id(0) }, { whole: 'new' })),
  findOneAndDelete: async (items, id) => (await insertSeed(items, id, 2), items.findOneAndDelete({ _id: id(0) })),
  'bulkWrite ordered': async (items, id) =>
    items.bulkWrite(
      [
        { insertOne: { document: { _id: id(0), ...seed(0) } } },
        { updateOne: { filter: { _id: id(0) }, update: { $inc: { v: new Int32(1) } } } },
        { insertOne: { document: { _id: id(1), ...seed(1) } } },
        { replaceOne: { filter: { _id: id(1) }, replacement: { r: 1 } } },
        { insertOne: { document: { _id: id(2), ...seed(2) } } },
        { deleteOne: { filter: { _id: id(2) } } },
      ],
      { ordered: true },
    ),
  'bulkWrite unordered': async (items, id) => {
    await insertSeed(items, id, 3);
    await items.bulkWrite(
      [
        { updateOne: { filter: { _id: id(0) }, update: { $push: { tags: 'u' } } } },
        { updateMany: { filter: { _id: { $in: [id(1), id(2)] } }, update: { $inc: { n: new Int32(7) } } } },
        { deleteOne: { filter: { _id: id(2) } } },
      ],
      { ordered: false },
    );
  },
  updateMany: async (items, id) => (
    await insertSeed(items, id, 4),
    items.updateMany({ _id: { $in: [id(0), id(1), id(2)] } }, { $inc: { v: new Int32(1) }, $set: { many: true } })
  ),
  deleteMany: async (items, id) => (await insertSeed(items, id, 4), items.deleteMany({ _id: { $in: [id(1), id(2)] } })),
  'upsert with $setOnInsert': async (items, id) => {
    await items.updateOne({ _id: id(0) }, { $set: { a: 1 }, $setOnInsert: { created: true } }, { upsert: true });
    await items.updateOne({ _id: id(0) }, { $set: { a: 2 }, $setOnInsert: { created: false } }, { upsert: true });
  },
  're-insert of a deleted _id': async (items, id) => {
    await insertSeed(items, id);
    await items.deleteOne({ _id: id(0) });
    await items.insertOne({ _id: id(0), again: true });
  },
  ...Object.fromEntries(
    Object.entries(bsonValues).map(([type, value]) => [
      `BSON ${type}`,
      (items: Items, id: (n: number) => ObjectId) => items.insertOne({ _id: id(0), value, inArray: [value] }),
    ]),
  ),
  'update to every BSON type': async (items, id) => (
    await insertSeed(items, id),
    items.updateOne(
      { _id: id(0) },
      {
        $set: {
          int64: Long.fromString('-9007199254740993'),
          decimal: Decimal128.fromString('-0.00'),
          negZero: new Double(-0),
          uuid: new UUID(),
          regex: new BSONRegExp('x', 's'),
        },
      },
    )
  ),
};

/** Whether this server's change stream reports findAndModify writes (mongo-java-server's does not). */
async function findAndModifyIsStreamed(db: string): Promise<boolean> {
  const probe = mongo.db(db).collection<Document>('probe');
  await probe.insertOne({ _id: stringId('p'), n: 0 });
  const stream = probe.watch();
  try {
    const next = stream.tryNext();
    await new Promise((r) => setTimeout(r, 200));
    await probe.findOneAndUpdate({ _id: stringId('p') }, { $inc: { n: 1 } });
    const deadline = Date.now() + 3_000;
    let event = await next;
    while (!event && Date.now() < deadline) event = await stream.tryNext();
    return event !== null;
  } finally {
    await stream.close();
  }
}

const findAndModifyWrites = ['findOneAndUpdate', 'findOneAndReplace', 'findOneAndDelete'];

describe('the write matrix: every accepted write reaches B exactly (both updateModes, JSON and Avro)', () => {
  const prefix = uniqueName('cfmatrix');
  const [dbA, metaDb, stateDb] = ['mxa', 'mxmeta', 'mxstate'].map((n) => uniqueName(n)) as [string, string, string];
  const targets = {
    'json/delta': uniqueName('mxjd'),
    'json/document': uniqueName('mxjdoc'),
    'avro/delta': uniqueName('mxad'),
    'avro/document': uniqueName('mxadoc'),
  };
  let registry: TestSchemaRegistry;
  let app: RunningApp | undefined;

  beforeAll(async () => {
    registry = await startTestSchemaRegistry();
    await mongo.connect();
    await mongo.db(dbA).createCollection('items');
    const avroTopic = `${prefix}.avro.{db}.{coll}`;
    const trigger = (name: string, source: Record<string, unknown>, db: string, updateMode: 'delta' | 'document'): Record<string, unknown> => ({
      name,
      source,
      sinks: [{ name: 'b', kind: 'mongodb', uri: infra.mongodb, db, updateMode, stateDb }],
      batch: { maxSize: 100, maxWaitMs: 20 },
    });
    const config = compileConfig(
      {
        kafka: { brokers: [infra.kafka], topicPrefix: prefix, partitions: 2, schemaRegistry: { url: registry.url } },
        mongodb: { uri: infra.mongodb, db: metaDb },
        http: { port: 0 },
        grpc: { port: 0 },
        sources: [
          { name: 'json', uri: infra.mongodb, watch: { db: dbA, coll: 'items' }, checkpointIntervalMs: 200 },
          { name: 'avro', uri: infra.mongodb, watch: { db: dbA, coll: 'items' }, format: 'avro', topic: avroTopic, checkpointIntervalMs: 200 },
        ],
        triggers: [
          trigger('json-delta', { db: dbA, coll: 'items' }, targets['json/delta'], 'delta'),
          trigger('json-document', { db: dbA, coll: 'items' }, targets['json/document'], 'document'),
          trigger('avro-delta', { topic: `${prefix}.avro.${dbA}.items` }, targets['avro/delta'], 'delta'),
          trigger('avro-document', { topic: `${prefix}.avro.${dbA}.items` }, targets['avro/document'], 'document'),
        ],
      },
      {},
    );
    app = await startApp(config, componentFactories(), { logger: silentLogger });
    await eventually(
      () =>
        app?.context.health.report().components['source:json']?.detail === 'streaming' &&
        app.context.health.report().components['source:avro']?.detail === 'streaming',
      'both sources streaming',
      90_000,
      200,
    );
  }, 180_000);

  afterAll(async () => {
    await app?.stop();
    for (const db of [dbA, metaDb, stateDb, ...Object.values(targets)])
      await mongo
        .db(db)
        .dropDatabase()
        .catch(() => undefined);
    await mongo.close();
    await registry?.close();
  });

  it('applies every write the server accepts, on all four combinations', async () => {
    const items = mongo.db(dbA).collection<Document>('items') as unknown as Items;
    const accepted: string[] = [];
    const refused: string[] = [];
    const streamGaps = (await findAndModifyIsStreamed(stateDb)) ? [] : findAndModifyWrites;
    for (const [name, write] of Object.entries(matrix)) {
      if (streamGaps.includes(name)) {
        refused.push(`${name} (this server's change stream does not report findAndModify)`);
        continue;
      }
      try {
        await write(items, (n) => stringId(`${name}:${n}`));
        accepted.push(name);
      } catch (error) {
        refused.push(`${name} (${error instanceof Error ? error.message.slice(0, 80) : String(error)})`);
      }
    }
    const writeOf = (id: string): string => id.slice(0, id.lastIndexOf(':'));
    let documentsInA = 0;
    let lastDiff: string[] = [];
    const report = async (): Promise<Record<string, string[]>> => {
      const a = await contents(dbA);
      documentsInA = a.size;
      const out: Record<string, string[]> = {};
      for (const [combo, db] of Object.entries(targets)) {
        const b = await contents(db);
        const differing = differences(a, b);
        lastDiff = differing.slice(0, 3).map((id) => `${id}: A ${a.get(id) ?? '(none)'} / B ${b.get(id) ?? '(none)'}`);
        const wrong = [...new Set(differing.map(writeOf))];
        if (wrong.length > 0) out[combo] = wrong;
      }
      return out;
    };
    let wrong: Record<string, string[]> = {};
    await eventually(
      async () => {
        wrong = await report().catch((error: unknown) => ({ 'reading the collections': [String(error)] }));
        return Object.keys(wrong).length === 0;
      },
      'every B equal to A',
      60_000,
      500,
    ).catch(() => undefined);
    console.log(
      `write matrix: ${documentsInA} documents in A; ${accepted.length} writes accepted by the server, ${refused.length} refused: ${refused.join('; ') || 'none'}`,
    );
    if (Object.keys(wrong).length > 0) console.log(`first differences: ${lastDiff.join('\n')}`);
    expect(wrong).toEqual({});
    expect(documentsInA).toBeGreaterThanOrEqual(accepted.length);
    expect(accepted).toContain('issue 17: $set beside $inc');
    expect(accepted.length).toBeGreaterThanOrEqual(20);
    // The case, spelled out: v reached every copy.
    for (const db of Object.values(targets)) {
      const copy = await mongo
        .db(db)
        .collection<Document>('items')
        .findOne({ _id: stringId('issue 17: $set beside $inc:0') });
      expect(copy).toMatchObject({ n: 100000, v: 2 });
    }
  }, 180_000);

  it('publishes no drop of the watched collection when another collection of its database is dropped', async () => {
    const other = mongo.db(dbA).collection<Document>('other');
    await other.insertOne({ _id: stringId('o') });
    await other.drop();
    // A marker written after the drop: once it is in B the source has read past the drop.
    await mongo
      .db(dbA)
      .collection<Document>('items')
      .insertOne({ _id: stringId('after the drop') });
    await eventually(
      async () =>
        (await mongo
          .db(targets['json/delta'])
          .collection('items')
          .countDocuments({ _id: 'after the drop' } as Document)) === 1,
      'the marker in B',
      60_000,
      250,
    );
    const topics = new TopicNames(prefix);
    const watched = [topics.change(dbA, 'items'), topics.ddl(dbA)];
    const admin = app!.context.kafka.admin();
    await admin.connect();
    const existing = new Set(await admin.listTopics());
    await admin.disconnect();
    const present = watched.filter((t) => existing.has(t));
    const consumer = app!.context.kafka.consumer({ groupId: uniqueName('matrix-ddl-reader'), fromBeginning: true });
    const ops: string[] = [];
    let sawMarker = false;
    await consumer.connect();
    await consumer.subscribe(present);
    await consumer.run(async (batch) => {
      for (const r of batch.records) {
        const value = JSON.parse(r.value?.toString() ?? '{}') as { op?: string; ns?: { coll?: string }; documentKey?: { _id?: unknown } };
        ops.push(`${value.op}:${value.ns?.coll ?? ''}`);
        if (value.documentKey?._id === 'after the drop') sawMarker = true;
      }
    });
    await eventually(() => sawMarker, 'the topic read back to the marker', 60_000);
    await consumer.disconnect();
    expect(ops.filter((op) => op.startsWith('drop'))).toEqual([]);
    // This server sends the other collection's drop to the watch, without ns: health says it was left out.
    expect(app!.context.health.report().components['source:json']?.detail ?? '').toMatch(/without a namespace not published/);
  }, 120_000);
});
