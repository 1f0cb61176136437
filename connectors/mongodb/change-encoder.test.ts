import { Binary, Decimal128, Double, Int32, Long, ObjectId, Timestamp, UUID } from 'mongodb';
import { TopicNames } from '../../core/topics.js';
import { fromEJson, parseCanonicalText, toEJsonDocument } from '../../schemas/ejson.js';
import { parseChangeEvent } from '../../schemas/envelope.js';
import { encodeChange, encodeSnapshotDocument, UnplacedChangeError, type EncoderContext } from './change-encoder.js';
import { changeRecords } from './change-records.js';
import { fromEncoded } from './source-change.js';

const context: EncoderContext = { sourceName: 'shop', cluster: 'rs0', watch: { db: 'shop', coll: 'orders' }, mode: 'canonical' };

const typed = {
  _id: new ObjectId('65a1b2c3d4e5f60718293a4b'),
  at: new Date('2026-11-22T10:00:00.000Z'),
  price: Decimal128.fromString('12.340'),
  big: Long.fromString('9007199254740993'),
  small: Long.fromNumber(7),
  n: new Int32(5),
  d: new Double(5),
  bin: new Binary(Buffer.from([1, 2, 3]), 0),
  uuid: new UUID('8c5e5a52-9f8a-4c6e-b3c1-1f6d2e0a9b11'),
  nested: { deep: { list: [new Int32(1), Long.fromNumber(2), 'x'], when: new Date(0) } },
};

const toEJsonDoc = (doc: Record<string, unknown>) => toEJsonDocument(doc, 'canonical');

describe('encodeChange', () => {
  it('builds the record envelope (docs/sources.md) from a full replica-set event', () => {
    const raw = {
      _id: { _data: '8263A1B2C3000000012B' },
      operationType: 'update',
      ns: { db: 'shop', coll: 'orders' },
      documentKey: { _id: typed._id },
      fullDocument: typed,
      updateDescription: { updatedFields: { n: new Int32(5) }, removedFields: ['old'], truncatedArrays: [] },
      clusterTime: new Timestamp({ t: 1700000000, i: 3 }),
      wallTime: new Date('2026-11-22T10:00:00.000Z'),
      lsid: { id: new UUID('8c5e5a52-9f8a-4c6e-b3c1-1f6d2e0a9b11') },
      txnNumber: Long.fromNumber(7),
    };
    const { event, key } = encodeChange(raw, context);
    expect(event).toMatchObject({
      v: 1,
      id: '8263A1B2C3000000012B',
      op: 'update',
      ns: { db: 'shop', coll: 'orders' },
      documentKey: { _id: { $oid: '65a1b2c3d4e5f60718293a4b' } },
      updateDescription: { updatedFields: { n: { $numberInt: '5' } }, removedFields: ['old'], truncatedArrays: [] },
      clusterTime: { t: 1700000000, i: 3 },
      wallTime: '2026-11-22T10:00:00.000Z',
      txn: { txnNumber: { $numberLong: '7' } },
      source: { name: 'shop', cluster: 'rs0' },
    });
    expect(key).toBe('{"_id":{"$oid":"65a1b2c3d4e5f60718293a4b"}}');
    // The value is valid per the shared schema.
    expect(parseChangeEvent(JSON.stringify(event)).op).toBe('update');
  });

  it('round-trips ObjectId, Date, Decimal128, Long (stays Long), Int32, Double, Binary and nested documents', () => {
    const { event } = encodeChange({ _id: { _data: 'a1' }, operationType: 'insert', documentKey: { _id: typed._id }, fullDocument: typed }, context);
    const back = fromEJson<typeof typed>(JSON.parse(JSON.stringify(event.fullDocument)));
    expect(back._id).toBeInstanceOf(ObjectId);
    expect(back._id.equals(typed._id)).toBe(true);
    expect(back.at).toEqual(typed.at);
    expect(back.price).toBeInstanceOf(Decimal128);
    expect(back.price.toString()).toBe('12.340');
    expect(back.big).toBeInstanceOf(Long);
    expect(back.big.toString()).toBe('9007199254740993');
    expect(back.small).toBeInstanceOf(Long);
    expect(back.n).toBeInstanceOf(Int32);
    expect(back.d).toBeInstanceOf(Double);
    expect(back.bin).toBeInstanceOf(Binary);
    expect(Buffer.from(back.bin.buffer)).toEqual(Buffer.from([1, 2, 3]));
    expect(back.uuid.toString()).toBe(typed.uuid.toString());
    expect(back.nested.deep.list[0]).toBeInstanceOf(Int32);
    expect(back.nested.deep.list[1]).toBeInstanceOf(Long);
    expect(back.nested.deep.when).toEqual(new Date(0));
  });

  it('writes relaxed EJSON when the source asks, but keeps the record key canonical', () => {
    const { event, key } = encodeChange(
      { _id: { _data: 'a1' }, operationType: 'insert', documentKey: { _id: new Int32(4) }, fullDocument: { _id: new Int32(4), big: Long.fromNumber(3) } },
      { ...context, mode: 'relaxed' },
    );
    expect(event.fullDocument).toEqual({ _id: 4, big: 3 });
    expect(key).toBe('{"_id":{"$numberInt":"4"}}');
  });

  it('fills ns from what is watched when the server leaves it out', () => {
    const { event } = encodeChange({ _id: { _data: 'a1' }, operationType: 'delete', documentKey: { _id: 1 } }, context);
    expect(event.ns).toEqual({ db: 'shop', coll: 'orders' });
  });

  it('publishes a mongo-java-server update with the looked-up document and no invented delta', () => {
    const { event, key } = encodeChange(
      {
        _id: { _data: 'a2' },
        operationType: 'update',
        documentKey: { $set: { x: new Int32(3) }, $unset: { y: '' } },
        fullDocument: { _id: new Int32(2), x: new Int32(3) },
      },
      context,
    );
    expect(event.op).toBe('update');
    expect(event.documentKey).toEqual({ _id: { $numberInt: '2' } });
    expect(key).toBe('{"_id":{"$numberInt":"2"}}');
    expect(event.updateDescription).toBeUndefined();
    expect(event.fullDocument).toEqual({ _id: { $numberInt: '2' }, x: { $numberInt: '3' } });
  });

  it.each([
    ['$inc beside $set', { $set: { n: new Int32(100000) }, $inc: { v: new Int32(1) } }],
    ['$push', { $push: { tags: 'a' } }],
    ['$rename', { $rename: { a: 'b' } }],
    ['a pipeline update', [{ $set: { v: { $add: ['$v', 1] } } }]],
  ])('never derives a partial delta from %s (the post-image carries the whole effect)', (_name, spec) => {
    const looked = { _id: new Int32(7), n: new Int32(100000), v: new Int32(1), tags: ['a'], b: 1 };
    const { event } = encodeChange({ _id: { _data: 'inc' }, operationType: 'update', documentKey: spec, fullDocument: looked }, context);
    expect(event.op).toBe('update');
    expect(event.updateDescription).toBeUndefined();
    expect(event.documentKey).toEqual({ _id: { $numberInt: '7' } });
    expect(fromEJson(event.fullDocument)).toEqual(fromEJson(toEJsonDoc(looked)));
  });

  it('publishes a DDL event without ns nowhere rather than under the watched namespace (no false drop)', () => {
    expect(() => encodeChange({ _id: { _data: 'd1' }, operationType: 'drop' }, context)).toThrow(UnplacedChangeError);
    expect(() => encodeChange({ _id: { _data: 'd2' }, operationType: 'rename', to: { db: 'shop', coll: 'x' } }, context)).toThrow(/without ns/);
  });

  it('leaves out document events without ns when a database or cluster is watched', () => {
    const dbWatch: EncoderContext = { ...context, watch: { db: 'shop' } };
    expect(() => encodeChange({ _id: { _data: 'd3' }, operationType: 'delete', documentKey: { _id: 1 } }, dbWatch)).toThrow(UnplacedChangeError);
    expect(() =>
      encodeChange({ _id: { _data: 'd4' }, operationType: 'insert', documentKey: { _id: 1 }, fullDocument: { _id: 1 } }, { ...context, watch: {} }),
    ).toThrow(UnplacedChangeError);
  });

  it('places an invalidate without ns on the watch itself, as real servers send it', () => {
    const { event } = encodeChange({ _id: { _data: 'i1' }, operationType: 'invalidate' }, context);
    expect(event.ns).toEqual({ db: 'shop', coll: 'orders' });
  });

  it('does not pass a mongo-java-server delta off as a full document', () => {
    const { event, key } = encodeChange({ _id: { _data: 'a3' }, operationType: 'update', documentKey: { $set: { x: 3 } }, fullDocument: { x: 3 } }, context);
    expect(event.fullDocument).toBeNull();
    expect(event.documentKey).toBeUndefined();
    expect(key).toBeNull();
  });

  it('turns a mongo-java-server replacement (reported as update) into replace', () => {
    const { event } = encodeChange(
      { _id: { _data: 'a4' }, operationType: 'update', documentKey: { x: new Int32(4), _id: new Int32(2) }, fullDocument: {} },
      context,
    );
    expect(event.op).toBe('replace');
    expect(event.documentKey).toEqual({ _id: { $numberInt: '2' } });
    expect(event.fullDocument).toEqual({ x: { $numberInt: '4' }, _id: { $numberInt: '2' } });
  });

  it('rejects operation types it does not know', () => {
    expect(() => encodeChange({ _id: { _data: 'a5' }, operationType: 'shardCollection' }, context)).toThrow(/shardCollection.*"shop"/);
  });

  it('marks snapshot copies with a stable id', () => {
    const { event, key } = encodeSnapshotDocument({ _id: new Int32(9), a: 'b' }, { db: 'shop', coll: 'orders' }, { ...context, multiNamespace: false });
    expect(event.op).toBe('snapshot');
    expect(event.id).toBe('snapshot:shop:{"_id":{"$numberInt":"9"}}');
    expect(parseCanonicalText(key ?? '')).toEqual({ _id: new Int32(9) });
  });
});

describe('changeRecords', () => {
  const topics = new TopicNames('cf');

  it('keys by canonical documentKey and sets op/ns/id headers on <prefix>.<db>.<coll>', () => {
    const change = encodeChange({ _id: { _data: 'z1' }, operationType: 'insert', documentKey: { _id: 1 }, fullDocument: { _id: 1 } }, context);
    const records = changeRecords(fromEncoded(change), topics);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ topic: 'cf.shop.orders', key: '{"_id":{"$numberInt":"1"}}', headers: { op: 'insert', ns: 'shop.orders', id: 'z1' } });
  });

  it('also sends DDL to <prefix>.<db>.__ddl, and honours the topic template', () => {
    const drop = encodeChange({ _id: { _data: 'z2' }, operationType: 'drop', ns: { db: 'shop', coll: 'orders' } }, context);
    expect(changeRecords(fromEncoded(drop), topics, 'x.{db}.{coll}').map((r) => r.topic)).toEqual(['x.shop.orders', 'cf.shop.__ddl']);
    const dropDb = encodeChange({ _id: { _data: 'z3' }, operationType: 'dropDatabase', ns: { db: 'shop' } }, context);
    expect(changeRecords(fromEncoded(dropDb), topics).map((r) => r.topic)).toEqual(['cf.shop.__ddl']);
  });
});
