import { Decimal128, EJSON, Int32, Long, ObjectId } from '../schemas/bson.js';
import { matchesFilter } from './match-evaluate.js';
import { MAX_FILTER_DEPTH, compileMatch } from './match-filter.js';
import { foldCase } from './linear-regex.js';

const matches = (filter: Record<string, unknown>, doc: Record<string, unknown>): boolean => matchesFilter(compileMatch(filter), doc);

describe('compileMatch refuses what is not data', () => {
  it.each(['$where', '$function', '$accumulator', '$expr'])('refuses %s at the top level and under a field, naming the operator and the path', (op) => {
    expect(() => compileMatch({ [op]: 'true' })).toThrow(
      new RegExp(`^match: operator \\${op} is not allowed \\(filters are data, never code; allowed: \\$eq `),
    );
    expect(() => compileMatch({ 'fullDocument.x': { [op]: 'true' } })).toThrow(new RegExp(`^match\\.fullDocument\\.x: operator \\${op} is not allowed`));
    expect(() => compileMatch({ $or: [{ a: 1 }, { b: { $not: { [op]: 1 } } }] }, 'triggers[0].match')).toThrow(
      new RegExp(`^triggers\\[0\\]\\.match\\.\\$or\\[1\\]\\.b: operator \\${op}`),
    );
    expect(() => compileMatch({ a: { $elemMatch: { b: { [op]: 1 } } } })).toThrow(new RegExp(`^match\\.a\\.\\$elemMatch\\.b: operator \\${op}`));
    expect(() => compileMatch({ a: { $in: [{ [op]: 'x' }] } })).toThrow(/operator .* is not allowed/);
    expect(() => compileMatch({ a: { nested: { [op]: 'x' } } })).toThrow(/operator .* is not allowed/);
  });

  it('refuses unknown operators, naming them', () => {
    expect(() => compileMatch({ a: { $foo: 1 } })).toThrow(
      'match.a: operator $foo is not allowed (unknown operator; allowed: $eq $ne $gt $gte $lt $lte $in $nin $exists $type $size $all $elemMatch $regex $options $not $mod $and $or $nor)',
    );
    expect(() => compileMatch({ $text: { $search: 'x' } })).toThrow(/^match: operator \$text is not allowed/);
  });

  it('refuses malformed operator arguments with the fix', () => {
    expect(() => compileMatch({ a: { $in: 5 } })).toThrow('match.a: $in needs an array of values');
    expect(() => compileMatch({ $and: [] })).toThrow('match.$and: $and needs a non-empty array of filter documents');
    expect(() => compileMatch({ a: { $mod: [0, 1] } })).toThrow(/non-zero divisor/);
    expect(() => compileMatch({ a: { $size: -1 } })).toThrow(/non-negative integer/);
    expect(() => compileMatch({ a: { $type: 'nope' } })).toThrow(/is not a BSON type/);
    expect(() => compileMatch({ 'a.$b': 1 })).toThrow(/may not start with \$/);
    expect(() => compileMatch({ a: { $oid: 'zz' } })).toThrow(/not valid Extended JSON/);
  });

  it('caps depth and size', () => {
    let deep: Record<string, unknown> = { a: 1 };
    for (let i = 0; i < MAX_FILTER_DEPTH + 2; i++) deep = { $and: [deep] };
    expect(() => compileMatch(deep)).toThrow(/nested deeper than 20 levels/);
    expect(() => compileMatch({ a: { $in: Array.from({ length: 5_000 }, (_, i) => i) } })).toThrow(/more than 2000 values/);
    expect(() => compileMatch({ a: 'x'.repeat(70_000) })).toThrow(/characters .* limited in size/);
  });

  it('compiles $regex on the linear-time engine and refuses what it cannot run', () => {
    expect(() => compileMatch({ a: { $regex: '(a)\\1' } })).toThrow(/cannot run in linear time/);
    expect(() => compileMatch({ a: { $regex: '(?=x)' } })).toThrow(/cannot run in linear time/);
    expect(() => compileMatch({ a: { $regex: '(' } })).toThrow(/not a valid regular expression/);
    expect(() => compileMatch({ a: { $regex: 'x'.repeat(1_001) } })).toThrow(/at most 1000 characters/);
    expect(() => compileMatch({ a: { $regex: 'x', $options: 'x' } })).toThrow(/\$options "x" is not supported/);
    expect(() => compileMatch({ a: { $options: 'i' } })).toThrow(/needs a \$regex beside it/);
    // The classic catastrophic pattern: a backtracking engine takes minutes on this input.
    const started = process.hrtime.bigint();
    expect(matches({ a: { $regex: '^(a+)+$' } }, { a: `${'a'.repeat(5_000)}b` })).toBe(false);
    expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(1_000);
  });

  it('folds case by hand for $options i, leaving escapes, classes and group names intact', () => {
    expect(foldCase('ab')).toBe('[aA][bB]');
    expect(foldCase('[a-z]\\d(?<name>x){2}')).toBe('[a-zA-Z]\\d(?<name>[xX]){2}');
    expect(matches({ a: { $regex: '^h[a-c]llo\\s\\w+$', $options: 'i' } }, { a: 'HeLLo World' })).toBe(false);
    expect(matches({ a: { $regex: '^h[a-e]llo\\s\\w+$', $options: 'i' } }, { a: 'HeLLo World' })).toBe(true);
    expect(matches({ a: { $regex: '^[^a-z]+$', $options: 'i' } }, { a: 'ABC' })).toBe(false);
  });
});

describe('matchesFilter (MongoDB query semantics)', () => {
  const doc = {
    n: new Int32(5),
    big: Long.fromString('9007199254740993'),
    dec: Decimal128.fromString('5.5'),
    s: 'paid',
    at: new Date(1_700_000_000_000),
    id: new ObjectId('0000000000000000000000aa'),
    tags: ['a', 'b', 'c'],
    items: [
      { sku: 'x', qty: 1 },
      { sku: 'y', qty: 7 },
    ],
    grid: [[1, 2], [3]],
    nil: null,
  };

  it('compares numbers across BSON types and precision', () => {
    expect(matches({ n: 5 }, doc)).toBe(true);
    expect(matches({ n: { $gt: 4.5, $lt: 5.5 } }, doc)).toBe(true);
    expect(matches({ big: { $gt: Long.fromString('9007199254740992') } }, doc)).toBe(true);
    expect(matches({ big: { $numberLong: '9007199254740993' } }, doc)).toBe(true);
    expect(matches({ dec: { $gt: 5, $lt: 6 } }, doc)).toBe(true);
    expect(matches({ n: { $gt: '4' } }, doc)).toBe(false);
    expect(matches({ n: { $type: 'int' } }, doc)).toBe(true);
    expect(matches({ n: { $type: ['double', 'long'] } }, doc)).toBe(false);
    expect(matches({ n: { $type: 'number' } }, doc)).toBe(true);
    expect(matches({ n: { $mod: [2, 1] } }, doc)).toBe(true);
  });

  it('compares Dates and ObjectIds given as Extended JSON or typed values', () => {
    expect(matches({ at: { $gte: { $date: '2023-11-14T22:13:20Z' } } }, doc)).toBe(true);
    expect(matches({ at: { $gt: new Date(1_700_000_000_000) } }, doc)).toBe(false);
    expect(matches({ id: { $oid: '0000000000000000000000aa' } }, doc)).toBe(true);
    expect(matches({ id: { $in: [new ObjectId('0000000000000000000000ab')] } }, doc)).toBe(false);
  });

  it('traverses arrays: elements, indexes and documents inside', () => {
    expect(matches({ tags: 'b' }, doc)).toBe(true);
    expect(matches({ tags: ['a', 'b', 'c'] }, doc)).toBe(true);
    expect(matches({ 'tags.1': 'b' }, doc)).toBe(true);
    expect(matches({ 'items.sku': 'y' }, doc)).toBe(true);
    expect(matches({ 'items.1.qty': { $gt: 5 } }, doc)).toBe(true);
    expect(matches({ 'items.qty': { $gt: 5, $lt: 2 } }, doc)).toBe(true); // each test by some element
    expect(matches({ items: { $elemMatch: { qty: { $gt: 5 }, sku: 'x' } } }, doc)).toBe(false);
    expect(matches({ items: { $elemMatch: { qty: { $gt: 5 }, sku: 'y' } } }, doc)).toBe(true);
    expect(matches({ tags: { $all: ['c', 'a'] } }, doc)).toBe(true);
    expect(matches({ tags: { $all: ['c', 'z'] } }, doc)).toBe(false);
    expect(matches({ tags: { $size: 3 } }, doc)).toBe(true);
    expect(matches({ grid: [3] }, doc)).toBe(true);
    expect(matches({ grid: 3 }, doc)).toBe(false); // one level only
    expect(matches({ grid: { $elemMatch: { $elemMatch: { $eq: 2 } } } }, doc)).toBe(true);
  });

  it('treats null as null or missing, and negations as the negated positive test', () => {
    expect(matches({ nil: null }, doc)).toBe(true);
    expect(matches({ nope: null }, doc)).toBe(true);
    expect(matches({ nope: { $exists: false } }, doc)).toBe(true);
    expect(matches({ nil: { $exists: true } }, doc)).toBe(true);
    expect(matches({ 'items.sku': { $ne: 'x' } }, doc)).toBe(false);
    expect(matches({ tags: { $nin: ['z'] } }, doc)).toBe(true);
    expect(matches({ s: { $not: { $regex: '^p' } } }, doc)).toBe(false);
    expect(matches({ $nor: [{ s: 'paid' }] }, doc)).toBe(false);
    expect(matches({ $or: [{ s: 'x' }, { n: 5 }], $and: [{ tags: 'a' }] }, doc)).toBe(true);
  });

  it('matches regexes given as Extended JSON or in $in', () => {
    expect(matches({ s: { $regularExpression: { pattern: '^P', options: 'i' } } }, doc)).toBe(true);
    expect(matches({ s: { $in: [{ $regularExpression: { pattern: 'id$', options: '' } }] } }, doc)).toBe(true);
  });

  it('evaluates on change events decoded from canonical Extended JSON', () => {
    const event = EJSON.deserialize({ fullDocument: { qty: { $numberLong: '12' }, price: { $numberDouble: '2.5' } } }, { relaxed: false }) as Record<
      string,
      unknown
    >;
    expect(matches({ 'fullDocument.qty': { $gte: 12, $type: 'long' }, 'fullDocument.price': { $lt: 3 } }, event)).toBe(true);
  });
});

describe('string order', () => {
  it('compares by code point, as MongoDB compares UTF-8 bytes', () => {
    // U+FF5E (one UTF-16 unit) sorts before U+1F600 (a surrogate pair) by code point, though not by JS `<`.
    expect(matches({ s: { $lt: '😀' } }, { s: '～' })).toBe(true);
    expect(matches({ s: { $gt: 'b' } }, { s: 'ba' })).toBe(true);
    expect(matches({ s: { $lt: 'b' } }, { s: 'B' })).toBe(true);
  });
});

describe('"__proto__" in a filter', () => {
  it('is a field name like any other, never a prototype', () => {
    const filter = JSON.parse('{"a": {"__proto__": {"x": 1}}}') as Record<string, unknown>;
    expect(matches(filter, { a: {} })).toBe(false);
    expect(matches(filter, JSON.parse('{"a": {"__proto__": {"x": 1}}}') as Record<string, unknown>)).toBe(true);
  });

  it('treats keys named like Object.prototype members as plain keys', () => {
    expect(matches({ constructor: { constructor: 1 }, toString: { $exists: false } }, { constructor: { constructor: 1 } })).toBe(true);
    expect(matches({ a: { hasOwnProperty: 'x' } }, { a: { hasOwnProperty: 'x' } })).toBe(true);
  });
});
