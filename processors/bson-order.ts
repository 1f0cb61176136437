/**
 * MongoDB's comparison of decoded BSON values (the order `$gt`, `$lt` and equality use): values of
 * different type brackets never compare equal, numbers compare by value whatever their BSON type
 * (Int32, Int64, Double, Decimal128), and NaN equals NaN and sorts below every other number.
 * https://www.mongodb.com/docs/manual/reference/bson-type-comparison-order/
 */

/** The field is absent (distinct from `null`, though `{ $eq: null }` matches both). */
export const MISSING: unique symbol = Symbol('missing');

type Bsonish = { _bsontype?: unknown };

function bsonType(value: object): string | undefined {
  const type = (value as Bsonish)._bsontype;
  return typeof type === 'string' ? type : undefined;
}

export function isPlainDocument(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || bsonType(value) !== undefined) return false;
  // Any realm's Object.prototype (objects from structuredClone or a vm context have another one).
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === null || Object.getPrototypeOf(proto) === null;
}

export function isDate(value: unknown): value is Date {
  return Object.prototype.toString.call(value) === '[object Date]';
}

export function isRegExp(value: unknown): value is RegExp {
  return Object.prototype.toString.call(value) === '[object RegExp]';
}

const NUMERIC = new Set(['Int32', 'Double', 'Long', 'Decimal128']);

export function isNumeric(value: unknown): boolean {
  if (typeof value === 'number' || typeof value === 'bigint') return true;
  return typeof value === 'object' && value !== null && NUMERIC.has(bsonType(value) ?? '');
}

/** Bracket ranks from the comparison order page; Code sorts after RegEx (the page does not list it). */
export function bracketOf(value: unknown): number {
  if (value === MISSING || value === null || value === undefined) return 2;
  if (typeof value === 'number' || typeof value === 'bigint') return 3;
  if (typeof value === 'string') return 4;
  if (typeof value === 'boolean') return 9;
  if (isDate(value)) return 10;
  if (isRegExp(value)) return 12;
  if (Array.isArray(value)) return 6;
  if (typeof value !== 'object') return 5;
  switch (bsonType(value)) {
    case 'MinKey':
      return 1;
    case 'Int32':
    case 'Double':
    case 'Long':
    case 'Decimal128':
      return 3;
    case 'BSONSymbol':
      return 4;
    case 'Binary':
      return 7;
    case 'ObjectId':
      return 8;
    case 'Timestamp':
      return 11;
    case 'BSONRegExp':
      return 12;
    case 'Code':
      return 13;
    case 'MaxKey':
      return 14;
    default:
      return 5;
  }
}

type Numeric = { int: bigint } | { float: number };

function toNumeric(value: unknown): Numeric {
  if (typeof value === 'bigint') return { int: value };
  let n: number;
  if (typeof value === 'number') n = value;
  else if (bsonType(value as object) === 'Long') return { int: BigInt(String(value)) };
  else if (bsonType(value as object) === 'Decimal128') {
    const text = String(value);
    if (/^-?\d+$/.test(text)) return { int: BigInt(text) };
    n = Number(text);
  } else n = Number((value as { valueOf(): unknown }).valueOf());
  return Number.isInteger(n) ? { int: BigInt(n) } : { float: n };
}

/** As a JS number (for `$mod`, `$size` arguments and `$type` checks). */
export function numberOf(value: unknown): number {
  const n = toNumeric(value);
  return 'int' in n ? Number(n.int) : n.float;
}

function compareIntFloat(i: bigint, f: number): number {
  if (f === Infinity) return -1;
  if (f === -Infinity) return 1;
  // f is not an integer here, so i can never equal it.
  return i <= BigInt(Math.floor(f)) ? -1 : 1;
}

export function compareNumbers(a: unknown, b: unknown): number {
  const x = toNumeric(a);
  const y = toNumeric(b);
  if ('float' in x && Number.isNaN(x.float)) return 'float' in y && Number.isNaN(y.float) ? 0 : -1;
  if ('float' in y && Number.isNaN(y.float)) return 1;
  if ('int' in x && 'int' in y) return x.int < y.int ? -1 : x.int > y.int ? 1 : 0;
  if ('int' in x && 'float' in y) return compareIntFloat(x.int, y.float);
  if ('float' in x && 'int' in y) return -compareIntFloat(y.int, x.float);
  const [p, q] = [(x as { float: number }).float, (y as { float: number }).float];
  return p < q ? -1 : p > q ? 1 : 0;
}

/** By code point, as MongoDB compares UTF-8 bytes (JS `<` compares UTF-16 units, which differs above U+FFFF). */
function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (U+D800–DFFF, code points above U+FFFF) sort after U+E000–FFFF in code point order.
    const fx = x >= 0xe000 ? x - 0x800 : x >= 0xd800 ? x + 0x2000 : x;
    const fy = y >= 0xe000 ? y - 0x800 : y >= 0xd800 ? y + 0x2000 : y;
    return fx < fy ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

type BinaryLike = { buffer: Uint8Array; sub_type: number; position?: number };

/** A Binary's buffer may be longer than its content; `position` is the content's length. */
function binaryBytes(value: unknown): Uint8Array {
  const binary = value as BinaryLike;
  return binary.buffer.subarray(0, binary.position ?? binary.buffer.byteLength);
}

function sign(n: number): number {
  return n < 0 ? -1 : n > 0 ? 1 : 0;
}

function documentEntries(value: object): [string, unknown][] {
  if (bsonType(value) === 'DBRef') {
    const ref = value as { collection: string; oid: unknown; db?: string };
    return [['$ref', ref.collection], ['$id', ref.oid], ...(ref.db ? ([['$db', ref.db]] as [string, unknown][]) : [])];
  }
  return Object.entries(value);
}

function compareDocuments(a: object, b: object): number {
  const left = documentEntries(a);
  const right = documentEntries(b);
  const n = Math.min(left.length, right.length);
  for (let i = 0; i < n; i++) {
    const [ka, va] = left[i] as [string, unknown];
    const [kb, vb] = right[i] as [string, unknown];
    const byType = bracketOf(va) - bracketOf(vb);
    if (byType !== 0) return sign(byType);
    const byName = compareStrings(ka, kb);
    if (byName !== 0) return byName;
    const byValue = compareValues(va, vb);
    if (byValue !== 0) return byValue;
  }
  return sign(left.length - right.length);
}

function compareArrays(a: readonly unknown[], b: readonly unknown[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = compareValues(a[i], b[i]);
    if (d !== 0) return d;
  }
  return sign(a.length - b.length);
}

function regexParts(value: object): [string, string] {
  if (isRegExp(value)) return [value.source, value.flags];
  const r = value as { pattern: string; options: string };
  return [r.pattern, r.options];
}

/** Total order over decoded BSON values: negative, zero or positive. */
export function compareValues(a: unknown, b: unknown): number {
  const byBracket = bracketOf(a) - bracketOf(b);
  if (byBracket !== 0) return sign(byBracket);
  switch (bracketOf(a)) {
    case 1:
    case 2:
    case 14:
      return 0;
    case 3:
      return compareNumbers(a, b);
    case 4:
      return compareStrings(String(a), String(b));
    case 5:
      return compareDocuments(a as object, b as object);
    case 6:
      return compareArrays(a as unknown[], b as unknown[]);
    case 7: {
      const [x, y] = [binaryBytes(a), binaryBytes(b)];
      return sign(x.byteLength - y.byteLength) || sign((a as BinaryLike).sub_type - (b as BinaryLike).sub_type) || compareBytes(x, y);
    }
    case 8:
      return compareBytes((a as { id: Uint8Array }).id, (b as { id: Uint8Array }).id);
    case 9:
      return sign(Number(a) - Number(b));
    case 10: {
      const [x, y] = [(a as Date).getTime(), (b as Date).getTime()];
      return Number.isNaN(x) || Number.isNaN(y) ? sign(Number(Number.isNaN(y)) - Number(Number.isNaN(x))) : sign(x - y);
    }
    case 11: {
      const [x, y] = [a as { t: number; i: number }, b as { t: number; i: number }];
      return sign(x.t - y.t) || sign(x.i - y.i);
    }
    case 12: {
      const [[pa, fa], [pb, fb]] = [regexParts(a as object), regexParts(b as object)];
      return compareStrings(pa, pb) || compareStrings(fa, fb);
    }
    case 13:
      return compareStrings(String((a as { code: unknown }).code), String((b as { code: unknown }).code));
    default:
      return 0;
  }
}

export function valuesEqual(a: unknown, b: unknown): boolean {
  return compareValues(a, b) === 0;
}

/** `$type` names (and their numeric codes) a decoded value has. */
export function bsonTypeNames(value: unknown): readonly string[] {
  if (value === null) return ['null', '10'];
  if (value === undefined) return ['undefined', '6'];
  if (typeof value === 'string') return ['string', '2'];
  if (typeof value === 'boolean') return ['bool', '8'];
  if (typeof value === 'number')
    return Number.isInteger(value) && value >= -(2 ** 31) && value < 2 ** 31 && !Object.is(value, -0) ? ['int', '16', 'number'] : ['double', '1', 'number'];
  if (typeof value === 'bigint') return ['long', '18', 'number'];
  if (isDate(value)) return ['date', '9'];
  if (isRegExp(value)) return ['regex', '11'];
  if (Array.isArray(value)) return ['array', '4'];
  if (typeof value !== 'object') return [];
  switch (bsonType(value)) {
    case 'Int32':
      return ['int', '16', 'number'];
    case 'Double':
      return ['double', '1', 'number'];
    case 'Long':
      return ['long', '18', 'number'];
    case 'Decimal128':
      return ['decimal', '19', 'number'];
    case 'BSONSymbol':
      return ['symbol', '14'];
    case 'Binary':
      return ['binData', '5'];
    case 'ObjectId':
      return ['objectId', '7'];
    case 'Timestamp':
      return ['timestamp', '17'];
    case 'BSONRegExp':
      return ['regex', '11'];
    case 'Code':
      return (value as { scope?: unknown }).scope ? ['javascriptWithScope', '15'] : ['javascript', '13'];
    case 'MinKey':
      return ['minKey', '-1'];
    case 'MaxKey':
      return ['maxKey', '127'];
    case 'DBRef':
    default:
      return ['object', '3'];
  }
}

export const BSON_TYPE_ALIASES: readonly string[] = [
  'double',
  'string',
  'object',
  'array',
  'binData',
  'undefined',
  'objectId',
  'bool',
  'date',
  'null',
  'regex',
  'dbPointer',
  'javascript',
  'symbol',
  'javascriptWithScope',
  'int',
  'timestamp',
  'long',
  'decimal',
  'minKey',
  'maxKey',
  'number',
];
