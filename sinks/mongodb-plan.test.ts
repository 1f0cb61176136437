import { Int32, Long, ObjectId } from '../schemas/bson.js';
import type { ChangeEvent } from '../schemas/envelope.js';
import { applyDelta, mergeDeltas } from './doc-paths.js';
import { compareVersions, dropStale, intentFromRecord, planWaves, type Intent, type Version } from './mongodb-plan.js';
import type { SinkRecord } from './sink.js';
import { contentHash, renderTemplate } from '../schemas/values.js';

const origin = { topic: 't', partition: 0, offset: '0' };
let seq = 0;
function rec(partial: Partial<ChangeEvent> & Pick<ChangeEvent, 'op'>): SinkRecord {
  seq++;
  return {
    event: {
      v: 1,
      id: `id${String(seq).padStart(4, '0')}`,
      ns: { db: 'a', coll: 'c' },
      source: { name: 's', cluster: 'x' },
      clusterTime: { t: 100, i: seq },
      ...partial,
    },
    origin,
  };
}
const options = { targetColl: (e: ChangeEvent) => e.ns.coll, updateMode: 'delta' as const };
function intents(records: SinkRecord[]): Intent[] {
  return records.map((r, i) => {
    const result = intentFromRecord(r, i, options);
    if (!('intent' in result)) throw new Error(JSON.stringify(result));
    return result.intent;
  });
}

describe('mongodb sink planning', () => {
  it('keeps BSON types from canonical Extended JSON', () => {
    const [intent] = intents([
      rec({
        op: 'insert',
        documentKey: { _id: { $oid: '65a000000000000000000001' } },
        fullDocument: { _id: { $oid: '65a000000000000000000001' }, n: { $numberInt: '5' }, l: { $numberLong: '7' } },
      }),
    ]);
    expect(intent?.change.kind).toBe('replace');
    const doc = intent?.change.kind === 'replace' ? intent.change.doc : {};
    expect(doc['_id']).toBeInstanceOf(ObjectId);
    expect(doc['n']).toBeInstanceOf(Int32);
    expect(doc['l']).toBeInstanceOf(Long);
  });

  it('refuses events it cannot place and skips DDL', () => {
    expect(intentFromRecord(rec({ op: 'insert', documentKey: { _id: 1 } }), 0, options)).toEqual({ reject: expect.stringContaining('no fullDocument') });
    expect(
      intentFromRecord(rec({ op: 'update', documentKey: { $set: { a: 1 } }, updateDescription: { updatedFields: { a: 1 }, removedFields: [] } }), 0, options),
    ).toEqual({ reject: expect.stringContaining('documentKey') });
    expect(intentFromRecord(rec({ op: 'drop' }), 0, options)).toEqual({ skip: expect.any(String) });
  });

  it("folds a document's changes into one write and keeps other documents apart", () => {
    const records = [
      rec({ op: 'insert', documentKey: { _id: 1 }, fullDocument: { _id: 1, a: 1, b: { c: 1 } } }),
      rec({ op: 'update', documentKey: { _id: 2 }, updateDescription: { updatedFields: { x: 1 }, removedFields: [] } }),
      rec({ op: 'update', documentKey: { _id: 1 }, updateDescription: { updatedFields: { 'b.c': 2, d: [1, 2] }, removedFields: ['a'] } }),
      rec({ op: 'update', documentKey: { _id: 2 }, updateDescription: { updatedFields: { y: 2 }, removedFields: [] } }),
      rec({ op: 'update', documentKey: { _id: 2 }, updateDescription: { updatedFields: { 'x.z': 3 }, removedFields: [] } }),
      rec({ op: 'delete', documentKey: { _id: 3 } }),
      rec({ op: 'insert', documentKey: { _id: 3 }, fullDocument: { _id: 3, back: true } }),
    ];
    const waves = planWaves(intents(records));
    expect(waves).toHaveLength(2);
    const first = waves[0] ?? [];
    const id = (n: number): string => JSON.stringify({ $numberInt: String(n) });
    expect(first.map((w) => [w.idText, w.change.kind, w.indexes])).toEqual([
      [id(1), 'replace', [0, 2]],
      [id(2), 'delta', [1, 3]],
      [id(3), 'replace', [5, 6]],
    ]);
    expect(contentHash(first[0]?.change.kind === 'replace' ? first[0].change.doc : {})).toBe(contentHash({ _id: 1, b: { c: 2 }, d: [1, 2] }));
    // x.z conflicts with x: it goes in a second wave, after the first write of document 2.
    expect(waves[1]?.map((w) => [w.idText, w.indexes])).toEqual([[id(2), [4]]]);
  });

  it('drops events older than or equal to what was applied, per document', () => {
    const id = (n: number): string => JSON.stringify({ $numberInt: String(n) });
    const stored = new Map<string, Version>([[id(1), { t: 100, i: 5, id: 'x' }]]);
    const newer = rec({ op: 'insert', documentKey: { _id: 1 }, fullDocument: { _id: 1 }, clusterTime: { t: 100, i: 6 } });
    const list = intents([
      rec({ op: 'insert', documentKey: { _id: 1 }, fullDocument: { _id: 1 }, clusterTime: { t: 100, i: 4 } }),
      newer,
      newer, // redelivered
      rec({ op: 'snapshot', documentKey: { _id: 2 }, fullDocument: { _id: 2 } }),
    ]);
    delete list[3]?.version;
    stored.set(id(2), { t: 1, i: 1, id: 'y' });
    const { fresh, stale } = dropStale(list, stored, (i) => i.idText);
    expect(fresh.map((i) => i.index)).toEqual([1]);
    expect(stale.map((i) => i.index)).toEqual([0, 2, 3]);
    expect(compareVersions({ t: 2, i: 0, id: 'a' }, { t: 1, i: 9, id: 'b' })).toBe(1);
  });
});

describe('document paths and values', () => {
  it('applies dotted $set/$unset with array indexes', () => {
    expect(applyDelta({ a: [{ b: 1 }, { b: 2 }], c: 1 }, { set: { 'a.1.b': 5, 'n.m': 1 }, unset: ['c'] })).toEqual({ a: [{ b: 1 }, { b: 5 }], n: { m: 1 } });
    expect(applyDelta({ a: [1, 2, 3] }, { set: {}, unset: [], truncated: [{ field: 'a', newSize: 1 }] })).toEqual({ a: [1] });
    expect(() => applyDelta({ a: 1 }, { set: { 'a.b': 1 }, unset: [] })).toThrow(/non-object/);
    expect(mergeDeltas({ set: { a: 1 }, unset: ['b'] }, { set: { b: 2 }, unset: ['a'] })).toEqual({ set: { b: 2 }, unset: ['a'] });
  });

  it('hashes content regardless of key order and number width', () => {
    expect(contentHash({ a: 1, b: new Int32(2) })).toBe(contentHash({ b: 2, a: 1 }));
    expect(contentHash({ a: 1 })).not.toBe(contentHash({ a: 2 }));
  });

  it('renders key templates from event fields', () => {
    expect(renderTemplate('user:{documentKey._id}', { documentKey: { _id: { $oid: '65a000000000000000000001' } } })).toBe('user:65a000000000000000000001');
    expect(renderTemplate('{ns.coll}:{documentKey._id}', { ns: { coll: 'c' }, documentKey: { _id: { $numberInt: '7' } } })).toBe('c:7');
    expect(() => renderTemplate('x:{nope}', {})).toThrow(/no field "nope"/);
  });
});
