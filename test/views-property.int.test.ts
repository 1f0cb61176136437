import fc from 'fast-check';
import { MongoClient, type Document } from 'mongodb';
import { parseChangeEvent } from '../schemas/envelope.js';
import { fromEJson } from '../schemas/ejson.js';
import { compilePipeline } from '../processors/views/pipeline.js';
import { ViewEngine } from '../processors/views/view-engine.js';
import { feedRecord } from '../processors/views/view-feed.js';
import { testInfra, uniqueName } from './support/infra.js';

/**
 * Issue 22's property: after any sequence of inserts, updates, replaces and deletes on the source
 * collection, the view kept incrementally equals `aggregate()` of the same pipeline on the server
 * (row set and contents), and the feed read as a changelog (last record per key) equals the view.
 */
const infra = testInfra();
const client = new MongoClient(infra.mongodb);
const db = uniqueName('views-prop').replaceAll('-', '_');

const chats = ['a', 'b', 'c'];
const tags = ['x', 'y', 'z'];
const docArb = fc.record(
  {
    chat: fc.constantFrom(...chats),
    at: fc.integer({ min: 0, max: 20 }),
    deleted: fc.boolean(),
    tags: fc.uniqueArray(fc.constantFrom(...tags), { maxLength: 3 }),
    text: fc.constantFrom('hi', 'yo', 'hey'),
  },
  { requiredKeys: ['chat', 'at'] },
);
const opArb = fc.oneof(
  fc.record({ kind: fc.constant('insert' as const), id: fc.integer({ min: 0, max: 7 }), doc: docArb }),
  fc.record({ kind: fc.constant('replace' as const), id: fc.integer({ min: 0, max: 7 }), doc: docArb }),
  fc.record({ kind: fc.constant('update' as const), id: fc.integer({ min: 0, max: 7 }), at: fc.integer({ min: 0, max: 20 }), chat: fc.constantFrom(...chats) }),
  fc.record({ kind: fc.constant('unsetChat' as const), id: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('delete' as const), id: fc.integer({ min: 0, max: 7 }) }),
);

const pipelines: Record<string, Document[]> = {
  'messages per chat': [
    { $match: { deleted: { $ne: true } } },
    {
      $group: {
        _id: '$chat',
        n: { $sum: 1 },
        count: { $count: {} },
        total: { $sum: '$at' },
        last: { $max: '$at' },
        first: { $min: '$at' },
        avg: { $avg: '$at' },
      },
    },
  ],
  'per tag, then filtered': [
    { $unwind: '$tags' },
    { $group: { _id: '$tags', n: { $sum: 1 }, chats: { $addToSet: '$chat' } } },
    { $match: { n: { $gte: 2 } } },
    { $project: { n: 1, chats: 1, twice: { $multiply: ['$n', 2] } } },
  ],
  'ordered first/last/push': [
    { $match: { at: { $gte: 3 } } },
    { $sort: { at: 1, _id: 1 } },
    { $group: { _id: '$chat', first: { $first: '$_id' }, last: { $last: '$at' }, ids: { $push: '$_id' } } },
  ],
  'reshaped documents': [
    { $match: { at: { $gte: 5 } } },
    // Not 'meta.chat': mongo-java-server's $addFields does not create embedded fields from dotted paths (docs/views.md).
    { $addFields: { double: { $multiply: ['$at', 2] }, meta: { chat: '$chat' } } },
    { $unset: 'tags' },
    { $project: { chat: 1, double: 1, meta: 1, label: { $concat: ['$chat', '-', '$text'] }, big: { $gt: ['$at', 10] } } },
  ],
  'replaced root': [{ $replaceRoot: { newRoot: { _id: '$_id', c: '$chat', inner: { at: '$at', cond: { $cond: ['$deleted', 'gone', 'here'] } } } } }],
};

/** What the server runs instead, where mongo-java-server lacks what MongoDB has: `$count` in `$group` (MongoDB 5.0) is `$sum: 1`. */
const onServer = (pipeline: Document[]): Document[] => JSON.parse(JSON.stringify(pipeline).replaceAll('{"$count":{}}', '{"$sum":1}')) as Document[];

/** Order-free comparison: keys sorted, and the `$addToSet` fields (a set has no order) sorted. */
function normalized(rows: Document[], sets: readonly string[]): string[] {
  const canonical = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(canonical);
    if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
      return Object.fromEntries(
        Object.keys(value)
          .sort()
          .map((k) => {
            const v = (value as Record<string, unknown>)[k];
            return [k, sets.includes(k) && Array.isArray(v) ? [...v].map((e) => JSON.stringify(e)).sort() : canonical(v)];
          }),
      );
    }
    return value;
  };
  return rows.map((r) => JSON.stringify(canonical(r))).sort();
}

beforeAll(() => client.connect());
afterAll(async () => {
  await client
    .db(db)
    .dropDatabase()
    .catch(() => undefined);
  await client.close();
});

describe.each(Object.entries(pipelines))('view "%s" kept incrementally', (label, pipeline) => {
  it('equals aggregate() of its pipeline after any change sequence, and its feed rebuilds it', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 40 }), async (ops) => {
        const coll = client.db(db).collection(`${label.replaceAll(' ', '_').replaceAll('/', '_')}_${run++}`);
        const view = new ViewEngine(compilePipeline(pipeline));
        const feed = new Map<string, Document | null>();
        for (const [step, op] of ops.entries()) {
          if (op.kind === 'insert') await coll.insertOne({ _id: op.id, ...op.doc } as Document).catch(() => undefined);
          else if (op.kind === 'replace') await coll.replaceOne({ _id: op.id } as Document, op.doc);
          else if (op.kind === 'update') await coll.updateOne({ _id: op.id } as Document, { $set: { at: op.at, chat: op.chat } });
          else if (op.kind === 'unsetChat') await coll.updateOne({ _id: op.id } as Document, { $unset: { chat: '' } });
          else await coll.deleteOne({ _id: op.id } as Document);
          // What the source publishes: the document after the change (fullDocument: updateLookup), or its delete.
          const after = await coll.findOne({ _id: op.id } as Document);
          view.applyDocument(JSON.stringify(op.id), after);
          for (const change of view.takeChanges()) {
            const event = parseChangeEvent(feedRecord(change, { view: 'v', topic: 't', target: { db, coll: 'out' }, cause: `t:0:${step}` }).value as string);
            feed.set(JSON.stringify(event.documentKey), event.op === 'delete' ? null : fromEJson<Document>(event.fullDocument));
          }
        }
        const sets = label === 'per tag, then filtered' ? ['chats'] : [];
        const expected = normalized(await coll.aggregate(onServer(pipeline)).toArray(), sets);
        expect(normalized(view.allRows(), sets)).toEqual(expected);
        expect(
          normalized(
            [...feed.values()].filter((r): r is Document => r !== null),
            sets,
          ),
        ).toEqual(expected);
        expect(view.problems).toEqual([]);
      }),
      { numRuns: 25 },
    );
  });
});

describe.each([
  [
    'messages with sender names',
    [{ $lookup: { from: 'users', localField: 'sender', foreignField: '_id', as: 'from' } }, { $project: { text: 1, senders: '$from.name' } }],
  ],
  [
    'messages per team',
    [
      { $match: { deleted: { $ne: true } } },
      { $lookup: { from: 'users', localField: 'sender', foreignField: 'handle', as: 'u' } },
      { $unwind: '$u' },
      { $group: { _id: '$u.team', n: { $sum: 1 }, senders: { $addToSet: '$sender' } } },
    ],
  ],
] as [string, Document[]][])('view "%s" with $lookup kept incrementally', (label, pipeline) => {
  const userArb = fc.record({ name: fc.constantFrom('Ann', 'Bob', 'Cy'), team: fc.constantFrom('red', 'blue'), handle: fc.constantFrom('h0', 'h1', 'h2') });
  const messageArb = fc.record({ sender: fc.constantFrom('u0', 'u1', 'u2', 'u3', 'h0', 'h1', 'h2'), text: fc.constantFrom('hi', 'yo'), deleted: fc.boolean() });
  const stepArb = fc.oneof(
    fc.record({ side: fc.constant('users' as const), id: fc.constantFrom('u0', 'u1', 'u2', 'u3'), doc: fc.option(userArb) }),
    fc.record({ side: fc.constant('messages' as const), id: fc.integer({ min: 0, max: 7 }), doc: fc.option(messageArb) }),
  );

  it('equals aggregate() after any change sequence on both sides, and its feed rebuilds it', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 40 }), async (steps) => {
        const database = client.db(`${db}_l${run++}_${label.length}`);
        const view = new ViewEngine(compilePipeline(pipeline));
        const feed = new Map<string, Document | null>();
        for (const [i, step] of steps.entries()) {
          const coll = database.collection(step.side);
          if (step.doc) await coll.replaceOne({ _id: step.id } as Document, step.doc, { upsert: true });
          else await coll.deleteOne({ _id: step.id } as Document);
          const after = await coll.findOne({ _id: step.id } as Document);
          if (step.side === 'users') view.applyForeign(JSON.stringify(step.id), after);
          else view.applyDocument(JSON.stringify(step.id), after);
          for (const change of view.takeChanges()) {
            const event = parseChangeEvent(feedRecord(change, { view: 'v', topic: 't', target: { db, coll: 'out' }, cause: `t:0:${i}` }).value as string);
            feed.set(JSON.stringify(event.documentKey), event.op === 'delete' ? null : fromEJson<Document>(event.fullDocument));
          }
        }
        const sets = ['senders'];
        const expected = normalized(await database.collection('messages').aggregate(pipeline).toArray(), sets);
        await database.dropDatabase();
        expect(normalized(view.allRows(), sets)).toEqual(expected);
        expect(
          normalized(
            [...feed.values()].filter((r): r is Document => r !== null),
            sets,
          ),
        ).toEqual(expected);
        expect(view.problems).toEqual([]);
      }),
      { numRuns: 25 },
    );
  });
});
