import { describe, expect, it } from '@jest/globals';
import { BSON } from 'mongodb';
import { documentToCanonicalEJson } from './raw-ejson.js';
import { DocumentGenerator, random } from '../testing/schemas/random-bson.js';

const { Binary, Code, BSONRegExp, BSONSymbol, Decimal128, Double, Int32, Long, MaxKey, MinKey, ObjectId, Timestamp } = BSON;

/** The object path this module must match byte for byte. */
function objectPath(bytes: Uint8Array): Buffer {
  const doc = BSON.deserialize(bytes, { promoteValues: false, promoteLongs: false, promoteBuffers: false });
  return Buffer.from(JSON.stringify(BSON.EJSON.serialize(doc, { relaxed: false })));
}

/** Byte equality, shown as text when it fails (latin1 maps bytes to characters one to one). */
function expectSameBytes(actual: Buffer | null, expected: Buffer): void {
  expect(actual?.toString('latin1')).toBe(expected.toString('latin1'));
}

function expectObjectPathBytes(bytes: Uint8Array): void {
  expectSameBytes(documentToCanonicalEJson(bytes), objectPath(bytes));
}

// Hand-made BSON, for what BSON.serialize will not write: duplicate keys, key order JS would change,
// invalid UTF-8, rare types.
const int32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32LE(n);
  return b;
};
const cString = (text: string | Buffer): Buffer => Buffer.concat([Buffer.from(text), Buffer.from([0])]);
const bsonString = (text: string | Buffer): Buffer => Buffer.concat([int32(Buffer.byteLength(text) + 1), cString(text)]);
const element = (type: number, key: string | Buffer, value: Buffer): Buffer => Buffer.concat([Buffer.from([type]), cString(key), value]);
const document = (...elements: Buffer[]): Buffer => {
  const body = Buffer.concat(elements);
  return Buffer.concat([int32(body.length + 5), body, Buffer.from([0])]);
};
const int32Element = (key: string, n: number): Buffer => element(0x10, key, int32(n));

describe('documentToCanonicalEJson', () => {
  it('writes the object path’s bytes for 3000 random documents of every supported type', () => {
    const generate = new DocumentGenerator(random(20261122));
    for (let n = 0; n < 3000; n++) {
      const bytes = BSON.serialize(generate.document());
      const expected = objectPath(bytes);
      const actual = documentToCanonicalEJson(bytes);
      if (actual === null || !actual.equals(expected)) {
        throw new Error(`document ${n}: ${actual?.toString('latin1') ?? 'null'}\n  expected ${expected.toString('latin1')}`);
      }
    }
  });

  it('returns null or the object path’s bytes, never anything else, for 3000 randomly corrupted documents', () => {
    const next = random(7);
    const generate = new DocumentGenerator(next);
    let exact = 0;
    for (let n = 0; n < 3000; n++) {
      const bytes = BSON.serialize(generate.document());
      for (let flips = 1 + generate.int(3); flips > 0; flips--) bytes[generate.int(bytes.length)] = generate.int(256);
      let expected: Buffer | null;
      try {
        expected = objectPath(bytes);
      } catch {
        expected = null;
      }
      const actual = documentToCanonicalEJson(bytes);
      if (actual === null) continue;
      if (expected === null || !actual.equals(expected)) {
        throw new Error(`document ${n}: ${actual.toString('latin1')}\n  expected ${expected?.toString('latin1') ?? 'a throw'}`);
      }
      exact++;
    }
    // Enough flips leave the document valid (in string contents, numbers, binary data) for both outcomes to be seen.
    expect(exact).toBeGreaterThan(300);
  });

  it('hands out outputs that later calls leave intact, across slabs and for outputs larger than one', () => {
    const generate = new DocumentGenerator(random(99));
    const documents = Array.from({ length: 400 }, (_, n) => BSON.serialize(n % 50 === 7 ? { big: 'b'.repeat(100_000 + n) } : generate.document()));
    const outputs = documents.map((bytes) => documentToCanonicalEJson(bytes));
    // A failed call in between drops only its own partial output.
    expect(documentToCanonicalEJson(document(int32Element('a', 1), element(0x06, 'u', Buffer.alloc(0))))).toBeNull();
    documents.forEach((bytes, n) => expectSameBytes(outputs[n] ?? null, objectPath(bytes)));
  });

  it('writes each type in its canonical form', () => {
    const doc = {
      s: 'a"b\\c\n\u0001\x7f\u2028é😀',
      i: new Int32(-5),
      l: Long.fromString('-9223372036854775808'),
      d: new Double(-0),
      whole: new Double(5),
      big: new Double(1e21),
      tiny: new Double(5e-324),
      nan: new Double(NaN),
      dec: Decimal128.fromString('12.340'),
      bin: new Binary(Buffer.from([0xff, 0xfe, 0xfd, 0x01]), 0x80),
      uuid: new BSON.UUID('8c5e5a52-9f8a-4c6e-b3c1-1f6d2e0a9b11'),
      oid: new ObjectId('65a1b2c3d4e5f60718293a4b'),
      at: new Date(-1),
      ts: new Timestamp({ t: 4294967295, i: 1 }),
      keys: [new MinKey(), new MaxKey(), null, true, false, [], {}],
    };
    const bytes = BSON.serialize(doc);
    expect(documentToCanonicalEJson(bytes)?.toString()).toBe(
      '{"s":"a\\"b\\\\c\\n\\u0001\x7f\u2028é😀","i":{"$numberInt":"-5"},"l":{"$numberLong":"-9223372036854775808"},' +
        '"d":{"$numberDouble":"-0.0"},"whole":{"$numberDouble":"5.0"},"big":{"$numberDouble":"1e+21"},"tiny":{"$numberDouble":"5e-324"},"nan":{"$numberDouble":"NaN"},' +
        '"dec":{"$numberDecimal":"12.340"},"bin":{"$binary":{"base64":"//79AQ==","subType":"80"}},"uuid":{"$binary":{"base64":"jF5aUp+KTG6zwR9tLgqbEQ==","subType":"04"}},' +
        '"oid":{"$oid":"65a1b2c3d4e5f60718293a4b"},"at":{"$date":{"$numberLong":"-1"}},"ts":{"$timestamp":{"t":4294967295,"i":1}},' +
        '"keys":[{"$minKey":1},{"$maxKey":1},null,true,false,[],{}]}',
    );
    expectObjectPathBytes(bytes);
  });

  it('escapes every control character, and copies DEL and everything above as is', () => {
    const all = Array.from({ length: 0x80 }, (_, c) => String.fromCharCode(c)).join('') + '\u2028\u2029é中😀';
    expectObjectPathBytes(BSON.serialize({ [all.slice(1)]: all }));
  });

  it('grows its buffer for values larger than it', () => {
    expectObjectPathBytes(
      BSON.serialize({ s: 'é"'.repeat(100_000), b: new Binary(Buffer.alloc(300_000, 7)), list: Array.from({ length: 5000 }, (_, i) => new Int32(i)) }),
    );
  });

  it('keeps keys that look numeric but are not array indexes', () => {
    expectObjectPathBytes(
      BSON.serialize(
        new Map<string, unknown>([
          ['b', 1],
          ['-1', 2],
          ['1.5', 3],
          ['1e3', 4],
          ['', 5],
        ]),
      ),
    );
  });

  it('accepts the same key in a document and in its sub-documents', () => {
    expectObjectPathBytes(BSON.serialize({ a: { a: { a: 1 }, b: 2 }, b: { a: 3 } }));
  });

  it('ignores the keys of array elements, as the driver does', () => {
    const bytes = document(element(0x04, 'list', document(int32Element('7', 1), int32Element('x', 2), int32Element('7', 3))));
    expectObjectPathBytes(bytes);
    expect(documentToCanonicalEJson(bytes)?.toString()).toBe('{"list":[{"$numberInt":"1"},{"$numberInt":"2"},{"$numberInt":"3"}]}');
  });

  describe('returns null where only the object path is exact', () => {
    const invalidUtf8 = Buffer.from([0x61, 0xff, 0xfe, 0x62]);

    it('for invalid UTF-8 in a string (the object path throws)', () => {
      const bytes = document(element(0x02, 's', bsonString(invalidUtf8)));
      expect(() => objectPath(bytes)).toThrow(/UTF-8/i);
      expect(documentToCanonicalEJson(bytes)).toBeNull();
      // A lone surrogate, encoded: not UTF-8 either.
      expect(documentToCanonicalEJson(document(element(0x02, 's', bsonString(Buffer.from([0xed, 0xa0, 0x80])))))).toBeNull();
    });

    it('for invalid UTF-8 in a key (the object path writes U+FFFD)', () => {
      expect(documentToCanonicalEJson(document(element(0x0a, invalidUtf8, Buffer.alloc(0))))).toBeNull();
    });

    it('for integer-like keys, which JS enumerates first', () => {
      const bytes = BSON.serialize(
        new Map([
          ['b', 1],
          ['10', 2],
          ['2', 3],
        ]),
      );
      expect(objectPath(bytes).toString()).toBe('{"2":{"$numberInt":"3"},"10":{"$numberInt":"2"},"b":{"$numberInt":"1"}}');
      expect(documentToCanonicalEJson(bytes)).toBeNull();
      // Conservative: any all-digit key.
      expect(documentToCanonicalEJson(BSON.serialize({ x: { '01': 1 } }))).toBeNull();
    });

    it('for duplicate keys, which the object collapses', () => {
      expect(documentToCanonicalEJson(document(int32Element('a', 1), int32Element('b', 2), int32Element('a', 3)))).toBeNull();
      expect(documentToCanonicalEJson(document(element(0x03, 'd', document(int32Element('é', 1), int32Element('é', 2)))))).toBeNull();
      // Wide enough for the key set to grow, with the same keys nested: not duplicates there.
      const wide = Array.from({ length: 1000 }, (_, i) => int32Element(`k${i}`, i));
      expect(documentToCanonicalEJson(document(...wide, int32Element('k557', 0)))).toBeNull();
      expect(
        documentToCanonicalEJson(document(...wide.slice(0, 500), element(0x03, 'sub', document(...wide)), ...wide.slice(500), int32Element('k7', 0))),
      ).toBeNull();
      expectObjectPathBytes(document(...wide.slice(0, 500), element(0x03, 'sub', document(...wide)), ...wide.slice(500)));
    });

    it('for __proto__, $ref (a DBRef) and _bsontype keys', () => {
      expect(documentToCanonicalEJson(BSON.serialize(new Map([['__proto__', 1]])))).toBeNull();
      expect(documentToCanonicalEJson(BSON.serialize({ ref: { $ref: 'users', $id: new Int32(1) } }))).toBeNull();
      const bsontype = document(element(0x03, 'd', document(element(0x02, '_bsontype', bsonString('Int32')))));
      expect(() => objectPath(bsontype)).toThrow();
      expect(documentToCanonicalEJson(bsontype)).toBeNull();
    });

    it('for regex, code, code with scope, symbol, DBPointer, undefined, and binary subtypes 2 and 9', () => {
      const rare = [
        { r: new BSONRegExp('a+', 'i') },
        { c: new Code('function () {}') },
        { c: new Code('function () {}', { a: 1 }) },
        { s: new BSONSymbol('s') },
        { b: new Binary(Buffer.from([1, 2, 3]), 2) },
        { v: Binary.fromFloat32Array(new Float32Array([1, 2])) },
      ];
      for (const doc of rare) expect(documentToCanonicalEJson(BSON.serialize(doc))).toBeNull();
      expect(documentToCanonicalEJson(document(element(0x06, 'u', Buffer.alloc(0))))).toBeNull();
      expect(documentToCanonicalEJson(document(element(0x0c, 'p', Buffer.concat([bsonString('db.c'), Buffer.alloc(12, 1)]))))).toBeNull();
      expect(documentToCanonicalEJson(document(element(0x7e, 'x', Buffer.alloc(0))))).toBeNull();
    });

    it('for dates outside the JS range', () => {
      const date = Buffer.alloc(8);
      date.writeBigInt64LE(8_640_000_000_000_001n);
      expect(documentToCanonicalEJson(document(element(0x09, 'd', date)))).toBeNull();
      date.writeBigInt64LE(-(2n ** 63n));
      expect(documentToCanonicalEJson(document(element(0x09, 'd', date)))).toBeNull();
    });

    it('for corrupt BSON (the object path throws)', () => {
      const good = BSON.serialize({ s: 'abc', n: new Int32(1), d: { x: true } });
      const corrupt = [
        good.subarray(0, good.length - 1),
        Buffer.concat([good, Buffer.from([0])]),
        document(element(0x02, 's', Buffer.concat([int32(100), cString('abc')]))),
        document(element(0x02, 's', Buffer.concat([int32(0), cString('')]))),
        document(element(0x02, 's', Buffer.concat([int32(3), Buffer.from('abc')]))),
        document(element(0x08, 'b', Buffer.from([2]))),
        document(element(0x03, 'd', int32(4))),
        document(element(0x05, 'b', Buffer.concat([int32(-1), Buffer.from([0])]))),
        document(element(0x10, 'n', Buffer.from([1, 2]))),
      ];
      for (const bytes of corrupt) {
        expect(() => objectPath(bytes)).toThrow();
        expect(documentToCanonicalEJson(bytes)).toBeNull();
      }
    });

    it('for documents nested deeper than 200 levels', () => {
      let doc: Record<string, unknown> = { leaf: true };
      for (let depth = 0; depth < 250; depth++) doc = { a: doc };
      expect(documentToCanonicalEJson(BSON.serialize(doc))).toBeNull();
    });
  });
});
