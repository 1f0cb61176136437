import { BSON } from 'mongodb';

/**
 * Random BSON documents of every type raw-ejson reproduces, for tests that compare a bytes path with
 * the driver's object path. Keys avoid what the object path treats specially (integer-like keys,
 * `__proto__`, `$ref`, `_bsontype`), so every generated document has one exact encoding.
 */

const { Binary, Decimal128, Double, Int32, Long, MaxKey, MinKey, ObjectId, Timestamp } = BSON;

/** Deterministic (mulberry32). */
export function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const STRING_PIECES = [
  'a',
  'Zq',
  ' ',
  '"',
  '\\',
  '/',
  '\b',
  '\f',
  '\n',
  '\r',
  '\t',
  '\x00',
  '\x01',
  '\x1f',
  '\x7f',
  'é',
  'ß',
  '中文',
  '😀',
  '\u2028',
  '\u2029',
  '\ufffd',
  '\u0080',
  '\u07ff',
  '\uffff',
  '$',
  '.',
  'x'.repeat(40),
];
const DOUBLES = [
  0,
  -0,
  NaN,
  Infinity,
  -Infinity,
  1e21,
  1e20,
  1.2345678901234568e20,
  5e-324,
  -5e-324,
  2 ** 53,
  2 ** 53 + 2,
  -(2 ** 53),
  2 ** 31,
  -(2 ** 31) - 1,
  2147483647,
  -2147483648,
  0.1,
  1 / 3,
  1.5,
  -1.5,
  1e-7,
  1e-6,
  Number.MAX_VALUE,
  -Number.MAX_VALUE,
  Number.EPSILON,
  2 ** 64,
  1e308,
];
const INT32S = [0, -1, 1, 2147483647, -2147483648];
const LONGS = [
  Long.MAX_VALUE,
  Long.MIN_VALUE,
  Long.ZERO,
  Long.NEG_ONE,
  Long.fromNumber(2 ** 53),
  Long.fromNumber(2 ** 53).add(1),
  Long.fromNumber(-(2 ** 53)).subtract(1),
  Long.fromNumber(2 ** 32),
  Long.fromNumber(-(2 ** 32)),
  Long.fromNumber(2 ** 31),
];
const DECIMALS = [
  '0',
  '-0',
  '1.23',
  '-1.23E+10',
  'NaN',
  'Infinity',
  '-Infinity',
  '12.340',
  '1E-6176',
  '9.999999999999999999999999999999999E+6144',
  '0.000001',
  '1E+3',
];
const DATES = [0, -1, 1, 8.64e15, -8.64e15, 253402300800000, 1700000000123, -62135596800000];
const BINARY_SUBTYPES = [0, 1, 3, 4, 5, 6, 7, 8, 0x80, 0xff];

export class DocumentGenerator {
  constructor(private readonly next: () => number) {}

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }

  bytes(n: number): Buffer {
    return Buffer.from(Array.from({ length: n }, () => this.int(256)));
  }

  text(maxPieces: number): string {
    let s = '';
    for (let n = this.int(maxPieces + 1); n > 0; n--) s += this.pick(STRING_PIECES);
    return s;
  }

  /** Not integer-like (JS would enumerate it first), not a key the object path treats specially, no NUL. */
  key(): string {
    for (;;) {
      const key = this.text(4).replaceAll('\x00', '');
      if (!/^\d+$/.test(key) && key !== '__proto__' && key !== '$ref' && key !== '_bsontype') return key;
    }
  }

  double(): number {
    switch (this.int(3)) {
      case 0:
        return this.pick(DOUBLES);
      case 1:
        return (this.next() - 0.5) * 10 ** (this.int(60) - 30);
      default:
        return this.bytes(8).readDoubleLE(0);
    }
  }

  value(depth: number): unknown {
    switch (this.int(depth < 4 ? 19 : 17)) {
      case 0:
        return this.text(8);
      case 1:
        return new Int32(this.next() < 0.3 ? this.pick(INT32S) : this.bytes(4).readInt32LE(0));
      case 2:
        return this.next() < 0.3
          ? this.pick(LONGS)
          : Long.fromBits(this.bytes(4).readInt32LE(0), this.next() < 0.5 ? this.int(64) - 32 : this.bytes(4).readInt32LE(0));
      case 3:
        return new Double(this.double());
      case 4: {
        const digits = String(this.int(1e9)) + String(this.int(1e9));
        return Decimal128.fromString(this.next() < 0.4 ? this.pick(DECIMALS) : `${this.next() < 0.5 ? '-' : ''}${digits}E${this.int(200) - 100}`);
      }
      case 5: {
        const subType = this.pick(BINARY_SUBTYPES);
        const length = subType === 4 && this.next() < 0.5 ? 16 : this.int(41);
        return new Binary(this.bytes(length), subType);
      }
      case 6:
        return new ObjectId(this.bytes(12));
      case 7:
        return new Date(this.next() < 0.3 ? this.pick(DATES) : Math.round((this.next() - 0.5) * 2e13));
      case 8:
        return new Timestamp({
          t: this.next() < 0.2 ? 0xffffffff : this.bytes(4).readUInt32LE(0),
          i: this.next() < 0.2 ? 0xffffffff : this.bytes(4).readUInt32LE(0),
        });
      case 9:
        return this.next() < 0.5;
      case 10:
        return null;
      case 11:
        return new MinKey();
      case 12:
        return new MaxKey();
      case 13:
      case 14:
      case 15:
      case 16:
        return this.text(3);
      case 17:
        return this.document(depth + 1);
      default:
        return Array.from({ length: this.int(6) }, () => this.value(depth + 1));
    }
  }

  document(depth = 0): Record<string, unknown> {
    const doc: Record<string, unknown> = {};
    // Now and then a wide one, for the duplicate-key check.
    const keys = this.next() < 0.05 ? 20 + this.int(60) : this.int(7);
    for (let n = 0; n < keys; n++) doc[this.key()] = this.value(depth);
    return doc;
  }
}
