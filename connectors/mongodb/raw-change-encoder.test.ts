import { describe, expect, it } from '@jest/globals';
import { BSON } from 'mongodb';
import { encodeChange, UnplacedChangeError, type EncoderContext } from './change-encoder.js';
import { encodeRawChange, type RawEncodedChange } from './raw-change-encoder.js';

const { Binary, Decimal128, Double, Int32, Long, ObjectId, Timestamp, UUID } = BSON;

const context: EncoderContext = { sourceName: 'shop', cluster: 'rs0', watch: { db: 'shop', coll: 'orders' }, mode: 'canonical' };

/** The object path: what encodeRawChange must reproduce. */
function objectPath(bytes: Uint8Array, ctx: EncoderContext): { value: Buffer; key: string | null; event: ReturnType<typeof encodeChange>['event'] } {
  const { event, key } = encodeChange(BSON.deserialize(bytes, { promoteValues: false, promoteLongs: false, promoteBuffers: false }), ctx);
  return { value: Buffer.from(JSON.stringify(event)), key, event };
}

function expectObjectPath(bytes: Uint8Array, ctx: EncoderContext = context): RawEncodedChange {
  const expected = objectPath(bytes, ctx);
  const raw = encodeRawChange(bytes, ctx);
  expect(raw).not.toBeNull();
  const change = raw as RawEncodedChange;
  // latin1 maps bytes to characters one to one: byte equality, readable when it fails.
  expect(change.value.toString('latin1')).toBe(expected.value.toString('latin1'));
  expect(change.key).toBe(expected.key);
  expect(change.id).toBe(expected.event.id);
  expect(change.op).toBe(expected.event.op);
  expect(change.ns).toEqual(expected.event.ns);
  expect(change.hasDocumentKey).toBe(expected.event.documentKey !== undefined);
  expect(change.clusterTime).toEqual(expected.event.clusterTime);
  return change;
}

const serialize = (event: Record<string, unknown> | Map<string, unknown>): Buffer => Buffer.from(BSON.serialize(event));

const token = { _data: '8263A1B2C3000000012B022C0100296E5A1004D0A0E1B2C3D4E5F6A7B8C9D0E1F2A3B4463C5F6964003C64313233000004' };
const oid = new ObjectId('65a1b2c3d4e5f60718293a4b');
const order = {
  _id: oid,
  seq: new Int32(7),
  total: new Double(12.5),
  price: Decimal128.fromString('12.340'),
  big: Long.fromString('9007199254740993'),
  at: new Date('2026-11-22T10:00:00.000Z'),
  note: 'naïve "quote" \\ \n\u2028 😀',
  tags: ['a', new Int32(2), { deep: [new Binary(Buffer.from([1, 2, 3]), 0)] }],
  uuid: new UUID('8c5e5a52-9f8a-4c6e-b3c1-1f6d2e0a9b11'),
};
const txn = { lsid: { id: new UUID('8c5e5a52-9f8a-4c6e-b3c1-1f6d2e0a9b11'), uid: new Binary(Buffer.alloc(32, 9), 0) }, txnNumber: Long.fromNumber(7) };
const times = { clusterTime: new Timestamp({ t: 1700000000, i: 3 }), wallTime: new Date('2026-11-22T10:00:00.123Z') };
const ns = { db: 'shop', coll: 'orders' };
/** An update event of the document `oid`, with the given fields. */
const update = (rest: Record<string, unknown>): Buffer => serialize({ _id: token, operationType: 'update', ns, documentKey: { _id: oid }, ...rest });

describe('encodeRawChange', () => {
  it('encodes an insert as the object path does', () => {
    const change = expectObjectPath(serialize({ _id: token, operationType: 'insert', ...times, fullDocument: order, ns, documentKey: { _id: oid } }));
    expect(change).toMatchObject({
      id: token._data,
      op: 'insert',
      ns,
      key: '{"_id":{"$oid":"65a1b2c3d4e5f60718293a4b"}}',
      hasDocumentKey: true,
      clusterTime: { t: 1700000000, i: 3 },
    });
  });

  it('encodes updates with updatedFields, removedFields and truncatedArrays', () => {
    const updateDescription = {
      updatedFields: { 'tags.2.deep': [], seq: new Int32(8), 'a.b': { c: null } },
      removedFields: ['old', 'x.y', 'q"uote'],
      truncatedArrays: [{ field: 'tags', newSize: new Int32(2) }],
    };
    expectObjectPath(serialize({ _id: token, operationType: 'update', ...times, ns, documentKey: { _id: oid }, updateDescription }));
    expectObjectPath(update({ updateDescription: { updatedFields: {}, removedFields: [] }, fullDocument: order }));
    expectObjectPath(update({ updateDescription: { updatedFields: {}, removedFields: [] }, fullDocument: null }));
    // Malformed parts read as encodeChange reads them: {} and [] for non-documents and non-arrays.
    expectObjectPath(update({ updateDescription: { updatedFields: 'x', removedFields: new Int32(1), truncatedArrays: 'no' } }));
    expectObjectPath(update({ updateDescription: {} }));
  });

  it('encodes replace and delete events, with and without images', () => {
    expectObjectPath(
      serialize({
        _id: token,
        operationType: 'replace',
        ...times,
        ns,
        documentKey: { _id: oid },
        fullDocument: order,
        fullDocumentBeforeChange: { ...order, seq: new Int32(6) },
      }),
    );
    expectObjectPath(serialize({ _id: token, operationType: 'delete', ...times, ns, documentKey: { _id: oid } }));
    expectObjectPath(serialize({ _id: token, operationType: 'delete', ns, documentKey: { _id: oid }, fullDocumentBeforeChange: null }));
    expectObjectPath(serialize({ _id: token, operationType: 'delete', ns, documentKey: { _id: oid }, fullDocumentBeforeChange: order }));
  });

  it('writes the envelope’s key order whatever the BSON order', () => {
    const fields: [string, unknown][] = [
      ['txnNumber', txn.txnNumber],
      ['wallTime', times.wallTime],
      ['fullDocumentBeforeChange', order],
      ['documentKey', { _id: oid, shard: 'eu' }],
      ['updateDescription', { truncatedArrays: [], removedFields: ['r'], updatedFields: { a: new Int32(1) } }],
      ['ns', { coll: 'orders', db: 'shop' }],
      ['clusterTime', times.clusterTime],
      ['operationType', 'update'],
      ['lsid', txn.lsid],
      ['fullDocument', order],
      ['_id', token],
    ];
    expectObjectPath(serialize(new Map(fields)));
  });

  it('encodes every combination of the optional fields', () => {
    const variants = {
      fullDocument: [undefined, order, null, 'not a document', []],
      fullDocumentBeforeChange: [undefined, order, null],
      txn: [undefined, txn, { lsid: txn.lsid }, { txnNumber: txn.txnNumber }, { lsid: null, txnNumber: new Int32(1) }],
      clusterTime: [undefined, times.clusterTime, 'not a timestamp'],
      wallTime: [undefined, times.wallTime, new Date(-1), 'not a date'],
      documentKey: [undefined, { _id: oid }, { _id: 'd1', shard: new Int32(3) }, 'not a document'],
    };
    let n = 0;
    for (const op of ['insert', 'update', 'replace', 'delete']) {
      for (const fullDocument of variants.fullDocument) {
        for (const before of variants.fullDocumentBeforeChange) {
          for (const t of variants.txn) {
            for (const clusterTime of variants.clusterTime) {
              // The last two in turn, not in every combination: the test would take seconds.
              const wallTime = variants.wallTime[n % variants.wallTime.length];
              const documentKey = variants.documentKey[Math.floor(n / variants.wallTime.length) % variants.documentKey.length];
              const event: Record<string, unknown> = {
                _id: token,
                operationType: op,
                ns,
                documentKey,
                fullDocument,
                fullDocumentBeforeChange: before,
                clusterTime,
                wallTime,
                ...t,
              };
              if (op === 'update') event['updateDescription'] = { updatedFields: { seq: new Int32(n) }, removedFields: [] };
              expectObjectPath(serialize(event));
              n++;
            }
          }
        }
      }
    }
    expect(n).toBe(4 * 5 * 3 * 5 * 3);
  });

  it('writes wallTime as toISOString does, across the Date range', () => {
    const edges = [
      0, -1, 1, 951782400000, 951868800000, -2203891200000, 4107456000000, 253402300799999, 253402300800000, -62167219200000, -62167219200001, 8.64e15,
      -8.64e15,
    ];
    let seed = 3;
    const next = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const random = Array.from({ length: 1500 }, (_, i) => Math.round((next() - 0.5) * (i % 3 === 0 ? 2 * 8.64e15 : 2 * 253402300800000)));
    for (const ms of [...edges, ...random]) {
      const change = expectObjectPath(serialize({ _id: token, operationType: 'delete', ns, documentKey: { _id: oid }, wallTime: new Date(ms) }));
      expect(change.value.toString()).toContain(`"wallTime":"${new Date(ms).toISOString()}"`);
    }
  });

  it('falls back on what is watched when the event has no usable ns', () => {
    const event = { _id: token, operationType: 'insert', documentKey: { _id: oid }, fullDocument: { _id: oid } };
    expect(expectObjectPath(serialize(event)).ns).toEqual({ db: 'shop', coll: 'orders' });
    expectObjectPath(serialize({ ...event, ns: { db: new Int32(1), coll: 'c' } }));
    expectObjectPath(serialize({ ...event, ns: 'shop.orders' }));
    // A database or cluster watch cannot say which collection: neither path publishes such an event.
    for (const watch of [{ db: 'shop' }, {}]) {
      expect(encodeRawChange(serialize(event), { ...context, watch })).toBeNull();
      expect(() => objectPath(serialize(event), { ...context, watch })).toThrow(UnplacedChangeError);
    }
    expect(expectObjectPath(serialize({ ...event, ns: { db: 'shop' } })).ns).toEqual({ db: 'shop' });
    expect(expectObjectPath(serialize({ ...event, ns: { db: 'shöp', coll: new Int32(1) } })).ns).toEqual({ db: 'shöp' });
  });

  it('escapes the source, the resume token and the namespace as JSON.stringify does', () => {
    const event = {
      _id: { _data: 'a"b\\c', other: new Int32(1) },
      operationType: 'delete',
      ns: { db: 'd"b', coll: 'c\u0001ö', extra: [true] },
      documentKey: { _id: 'k\n' },
    };
    expectObjectPath(serialize(event), { ...context, sourceName: 'sh"op\u2028', cluster: 'rs\\0' });
    expectObjectPath(serialize(event), { ...context, sourceName: 'other' });
  });

  it('skips the fields encodeChange ignores, checking them as the driver decodes them', () => {
    expectObjectPath(
      serialize({
        _id: token,
        operationType: 'update',
        collectionUUID: new UUID('8c5e5a52-9f8a-4c6e-b3c1-1f6d2e0a9b11'),
        ns,
        documentKey: { _id: oid },
        updateDescription: { updatedFields: { a: new Int32(1) }, removedFields: [], disambiguatedPaths: { 'a.0': ['a', new Int32(0)] } },
        operationDescription: { indexes: [{ v: new Int32(2), key: { 'a.b': new Int32(-1) }, name: 'a_b' }] },
      }),
    );
    // A fragment of a split event is joined as objects by the source, never written from its bytes.
    expect(
      encodeRawChange(
        serialize({ _id: token, operationType: 'insert', ns, documentKey: { _id: oid }, splitEvent: { fragment: new Int32(1), of: new Int32(2) } }),
        context,
      ),
    ).toBeNull();
    // The object path decodes ignored fields too: invalid UTF-8 there makes it throw.
    const bytes = serialize({ _id: token, operationType: 'insert', ns, documentKey: { _id: oid }, ignored: 'abcd' });
    bytes[bytes.indexOf('abcd') + 1] = 0xff;
    expect(() => objectPath(bytes, context)).toThrow();
    expect(encodeRawChange(bytes, context)).toBeNull();
  });

  it('returns null or the object path’s bytes, never anything else, for 5000 randomly corrupted events', () => {
    const event = serialize({
      _id: token,
      operationType: 'update',
      ...times,
      ns,
      documentKey: { _id: oid },
      fullDocument: order,
      updateDescription: { updatedFields: { seq: new Int32(8) }, removedFields: ['old'] },
      ...txn,
    });
    let seed = 1;
    const next = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    let exact = 0;
    for (let n = 0; n < 5000; n++) {
      const bytes = Buffer.from(event);
      for (let flips = 1 + next(2); flips > 0; flips--) bytes[next(bytes.length)] = next(256);
      let expected: Buffer | null;
      try {
        expected = objectPath(bytes, context).value;
      } catch {
        expected = null;
      }
      const actual = encodeRawChange(bytes, context);
      if (actual === null) continue;
      expect(actual.value.toString('latin1')).toBe(expected?.toString('latin1'));
      exact++;
    }
    expect(exact).toBeGreaterThan(1000);
  });

  it('returns values that later calls leave intact', () => {
    const events = Array.from({ length: 300 }, (_, n) =>
      serialize({ _id: token, operationType: 'insert', ns, documentKey: { _id: n }, fullDocument: { _id: n, pad: 'p'.repeat(n % 40 === 3 ? 70_000 : n * 7) } }),
    );
    const changes = events.map((bytes) => encodeRawChange(bytes, context));
    // A fallback in between drops only its own partial output.
    expect(encodeRawChange(serialize({ _id: token, operationType: 'insert', ns, documentKey: { _id: 1 }, fullDocument: { r: /x/ } }), context)).toBeNull();
    events.forEach((bytes, n) => expect(changes[n]?.value.toString('latin1')).toBe(objectPath(bytes, context).value.toString('latin1')));
  });

  describe('returns null where only the object path is exact', () => {
    const insert = { _id: token, operationType: 'insert', ns, documentKey: { _id: oid }, fullDocument: { _id: oid } };
    const nullFor = (bytes: Uint8Array, ctx: EncoderContext = context): void => expect(encodeRawChange(bytes, ctx)).toBeNull();

    it('in relaxed mode', () => {
      nullFor(serialize(insert), { ...context, mode: 'relaxed' });
    });

    it('for the other operations, known or not', () => {
      nullFor(serialize({ _id: token, operationType: 'drop', ns }));
      nullFor(serialize({ _id: token, operationType: 'rename', ns, to: { db: 'shop', coll: 'archive' } }));
      nullFor(serialize({ _id: token, operationType: 'dropDatabase', ns: { db: 'shop' } }));
      nullFor(serialize({ _id: token, operationType: 'invalidate' }));
      nullFor(serialize({ ...insert, operationType: 'snapshot' }));
      nullFor(serialize({ ...insert, operationType: 'createIndexes' }));
      nullFor(serialize({ ...insert, operationType: new Int32(1) }));
      nullFor(serialize({ ...insert, operationType: undefined }));
    });

    it('for an update without updateDescription (mongo-java-server, which encodeChange repairs)', () => {
      const bytes = serialize({ _id: token, operationType: 'update', ns, documentKey: { _id: oid, name: 'new' } });
      expect(objectPath(bytes, context).event.op).toBe('replace');
      nullFor(bytes);
      nullFor(update({ updateDescription: null }));
    });

    it('for resume tokens other than { _data: string }', () => {
      nullFor(serialize({ ...insert, _id: 'token' }));
      nullFor(serialize({ ...insert, _id: { _data: new Binary(Buffer.from([1]), 0) } }));
      nullFor(serialize({ ...insert, _id: { other: 'x' } }));
      nullFor(serialize({ ...insert, _id: undefined }));
    });

    it('for removedFields that are not all strings', () => {
      nullFor(update({ updateDescription: { updatedFields: {}, removedFields: ['a', new Int32(1)] } }));
    });

    it('for a wallTime outside the Date range (the object path throws)', () => {
      const bytes = serialize({ ...insert, wallTime: new Date(0) });
      const at = bytes.indexOf('wallTime') + 'wallTime'.length + 1;
      bytes.writeBigInt64LE(8_640_000_000_000_001n, at);
      expect(() => objectPath(bytes, context)).toThrow(RangeError);
      nullFor(bytes);
    });

    it('for a `to` field, an undefined value, a repeated field or a top-level $ref', () => {
      nullFor(serialize({ ...insert, to: { db: 'a', coll: 'b' } }));
      const undefinedValue = serialize({ ...insert, fullDocument: null });
      undefinedValue[undefinedValue.indexOf('fullDocument') - 1] = 0x06;
      nullFor(undefinedValue);
      const repeated = serialize(new Map<string, unknown>([...Object.entries(insert), ['fullDocumenX', { _id: 2 }]]));
      repeated.write('fullDocument', repeated.indexOf('fullDocumenX'), 'latin1');
      nullFor(repeated);
      nullFor(serialize({ ...insert, $ref: 'x', $id: new Int32(1) }));
    });

    it('for what the EJSON writer leaves to the object path', () => {
      nullFor(serialize({ ...insert, fullDocument: { _id: oid, '0': 'integer-like key' } }));
      nullFor(serialize({ ...insert, fullDocument: { _id: oid, r: /x/ } }));
      nullFor(serialize({ ...insert, documentKey: { _id: { $ref: 'c', $id: oid } } }));
      nullFor(
        serialize({
          ...insert,
          ns: new Map([
            ['db', 'shop'],
            ['coll', 'orders'],
            ['_bsontype', 'x'],
          ]),
        }),
      );
      nullFor(serialize({ ...insert, fullDocument: new Map([['_bsontype', 'x']]) }));
      nullFor(update({ updateDescription: { updatedFields: {}, removedFields: [], $ref: 'x', $id: 1 } }));
      const duplicate = serialize({ ...insert, documentKey: { _id: oid, xid: new Int32(1) } });
      duplicate.write('_id', duplicate.indexOf('xid'), 'latin1');
      nullFor(duplicate);
      const invalid = serialize({ ...insert, fullDocument: { _id: oid, s: 'abcd' } });
      invalid[invalid.indexOf('abcd')] = 0xc3;
      expect(() => objectPath(invalid, context)).toThrow();
      nullFor(invalid);
    });

    it('for corrupt BSON', () => {
      const bytes = serialize(insert);
      nullFor(bytes.subarray(0, bytes.length - 1));
      nullFor(Buffer.concat([bytes, Buffer.from([0])]));
      const shortened = Buffer.from(bytes);
      shortened.writeInt32LE(bytes.length - 1, 0);
      nullFor(shortened);
    });
  });
});
