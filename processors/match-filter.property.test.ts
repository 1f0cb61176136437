import { Binary, BSONRegExp, Code, Decimal128, Int32, Long, MaxKey, MinKey, ObjectId, Timestamp } from '../schemas/bson.js';
import fc from 'fast-check';
import { matchesFilter } from './match-evaluate.js';
import { MatchFilterError, compileMatch } from './match-filter.js';

const SEED = Number(process.env['FC_SEED'] ?? 1_612_2026);
const RUNS = Number(process.env['FC_RUNS'] ?? 300);
const params = { seed: SEED, numRuns: RUNS };

const FIELDS = ['a', 'b', 'c', 'a.b', 'a.0', 'b.c.d', 'constructor', 'toString.valueOf'];
const TYPES = [
  'double',
  'string',
  'object',
  'array',
  'binData',
  'objectId',
  'bool',
  'date',
  'null',
  'regex',
  'int',
  'timestamp',
  'long',
  'decimal',
  'number',
  'minKey',
  'maxKey',
];

/** Decoded BSON values of every kind a change event can carry. */
const bsonValue = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.integer({ min: -5, max: 5 }),
    fc.double(),
    fc.string({ maxLength: 4 }),
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    fc.date({ noInvalidDate: false }),
    fc.integer({ min: 0, max: 255 }).map((n) => new ObjectId(n.toString(16).padStart(24, '0'))),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((n) => Long.fromBigInt(n)),
    fc.integer({ min: -5, max: 5 }).map((n) => new Int32(n)),
    fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => Decimal128.fromString(String(n).replace('e+', 'E+').replace('e-', 'E-'))),
    fc.uint8Array({ maxLength: 4 }).map((b) => new Binary(b)),
    fc.constantFrom(new BSONRegExp('a+', 'i'), new Timestamp({ t: 1, i: 2 }), new MinKey(), new MaxKey(), new Code('x')),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom('a', 'b', 'c', 'd', '0', 'constructor', 'valueOf'), tie('value'), { maxKeys: 3 }),
  ),
})).value;

const documentArb = fc.dictionary(fc.constantFrom('a', 'b', 'c', '_id'), bsonValue, { maxKeys: 4 });

/** Literals as JSON carries them: scalars and Extended JSON wrappers. */
const literal = fc.oneof(
  fc.integer({ min: -5, max: 5 }),
  fc.string({ maxLength: 3 }),
  fc.boolean(),
  fc.constant(null),
  fc.integer({ min: 0, max: 2_000_000_000_000 }).map((ms) => ({ $date: new Date(ms).toISOString() })),
  fc.integer({ min: 0, max: 255 }).map((n) => ({ $oid: n.toString(16).padStart(24, '0') })),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((n) => ({ $numberLong: String(n) })),
  fc.constantFrom({ $regularExpression: { pattern: '^a', options: 'i' } }, { $numberDecimal: '1.5' }, { $minKey: 1 }),
);

type Json = Record<string, unknown>;

const filters = fc.letrec<{ filter: Json; fieldValue: unknown; ops: Json }>((tie) => ({
  filter: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.dictionary(fc.constantFrom(...FIELDS), tie('fieldValue'), { minKeys: 1, maxKeys: 3 }),
    fc.record({ $and: fc.array(tie('filter'), { minLength: 1, maxLength: 3 }) }),
    fc.constantFrom('$or', '$nor').chain((op) => fc.array(tie('filter'), { minLength: 1, maxLength: 3 }).map((items) => ({ [op]: items }))),
  ),
  fieldValue: fc.oneof({ depthSize: 'small' }, literal, tie('ops')),
  ops: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.record({ $eq: literal }),
    fc.record({ $ne: literal }),
    fc.constantFrom('$gt', '$gte', '$lt', '$lte').chain((op) => literal.map((v) => ({ [op]: v }))),
    fc.record({ $in: fc.array(literal, { maxLength: 4 }) }),
    fc.record({ $nin: fc.array(literal, { maxLength: 4 }) }),
    fc.record({ $exists: fc.boolean() }),
    fc.record({ $type: fc.constantFrom(...TYPES) }),
    fc.record({ $size: fc.nat(3) }),
    fc.record({ $all: fc.array(literal, { minLength: 1, maxLength: 3 }) }),
    fc.record({ $elemMatch: fc.oneof(tie('filter'), tie('ops')) }),
    fc.record({ $regex: fc.stringMatching(/^\^?[a-c.]{0,4}\$?$/), $options: fc.constantFrom('', 'i', 'ms') }),
    fc.record({ $not: tie('ops') }),
    fc.record({ $mod: fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 3 })) }),
    fc.record({ $gt: literal, $lt: literal }),
  ),
}));

function objectsIn(value: unknown, out: Json[] = []): Json[] {
  if (Array.isArray(value)) value.forEach((v) => objectsIn(v, out));
  else if (typeof value === 'object' && value !== null) {
    out.push(value as Json);
    Object.values(value).forEach((v) => objectsIn(v, out));
  }
  return out;
}

describe('match filters, property-based', () => {
  it('never throws while evaluating a filter that compiled, on any document', () => {
    fc.assert(
      fc.property(filters.filter, fc.array(documentArb, { minLength: 1, maxLength: 5 }), (filter, docs) => {
        const node = compileMatch(filter);
        for (const doc of docs) expect(typeof matchesFilter(node, doc)).toBe('boolean');
      }),
      params,
    );
  });

  it('refuses a filter with a forbidden or unknown operator anywhere in it, naming an operator', () => {
    const forbidden = fc.constantFrom('$where', '$function', '$accumulator', '$expr', '$foo', '$text', '$comment', '$jsonSchema');
    fc.assert(
      fc.property(filters.filter, forbidden, fc.nat(), (filter, op, pick) => {
        const poisoned = structuredClone(filter);
        const targets = objectsIn(poisoned);
        const target = targets[pick % targets.length] as Json;
        target[op] = op === '$where' ? 'process.exit(1)' : { body: 'function () { return true; }' };
        let refused: unknown;
        try {
          compileMatch(poisoned);
        } catch (error) {
          refused = error;
        }
        expect(refused).toBeInstanceOf(MatchFilterError);
        expect((refused as Error).message).toMatch(/operator \$\w+ is not allowed/);
      }),
      params,
    );
  });

  it('on any JSON at all, either compiles or refuses with a MatchFilterError (never another error)', () => {
    const key = fc.oneof(
      fc.string({ maxLength: 6 }),
      fc.constantFrom('$where', '$in', '$regex', '$oid', '$date', '$and', '$not', '$elemMatch', '__proto__', 'constructor', '$numberLong', 'a.b'),
    );
    const json = fc.letrec<{ value: unknown }>((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        fc.jsonValue({ maxDepth: 1 }),
        fc.array(tie('value'), { maxLength: 3 }),
        fc.dictionary(key, tie('value'), { maxKeys: 3 }),
      ),
    })).value;
    fc.assert(
      fc.property(fc.dictionary(key, json, { maxKeys: 4 }), documentArb, (filter, doc) => {
        let node;
        try {
          node = compileMatch(JSON.parse(JSON.stringify(filter)) as unknown);
        } catch (error) {
          expect(error).toBeInstanceOf(MatchFilterError);
          return;
        }
        expect(typeof matchesFilter(node, doc)).toBe('boolean');
      }),
      { ...params, numRuns: RUNS * 3 },
    );
  });

  it('agrees with a reference evaluator on flat documents of scalars', () => {
    const scalar = fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constantFrom('x', 'y', 'z'), fc.boolean(), fc.constant(null));
    const flatDoc = fc.dictionary(fc.constantFrom('a', 'b', 'c'), scalar, { maxKeys: 3 });
    const op = fc.constantFrom('$eq', '$ne', '$gt', '$gte', '$lt', '$lte', '$in', '$nin', '$exists');
    const clause = fc.tuple(fc.constantFrom('a', 'b', 'c'), op, scalar, fc.array(scalar, { maxLength: 3 }));
    const rank = (v: unknown): number => (v === null ? 2 : typeof v === 'number' ? 3 : typeof v === 'string' ? 4 : 9);
    const eq = (c: unknown, v: unknown, has: boolean): boolean => (v === null ? !has || c === null : has && c === v);
    const reference = (doc: Json, [field, o, v, list]: [string, string, unknown, unknown[]]): boolean => {
      const has = Object.hasOwn(doc, field);
      const c = doc[field];
      switch (o) {
        case '$eq':
          return eq(c, v, has);
        case '$ne':
          return !eq(c, v, has);
        case '$in':
          return list.some((x) => eq(c, x, has));
        case '$nin':
          return !list.some((x) => eq(c, x, has));
        case '$exists':
          return has === Boolean(v);
        default: {
          if (v === null) return (o === '$gte' || o === '$lte') && (!has || c === null);
          if (!has || rank(c) !== rank(v)) return false;
          const [x, y] = [c as number, v as number];
          return o === '$gt' ? x > y : o === '$gte' ? x >= y : o === '$lt' ? x < y : x <= y;
        }
      }
    };
    fc.assert(
      fc.property(flatDoc, fc.array(clause, { minLength: 1, maxLength: 3 }), (doc, clauses) => {
        const filter = {
          $and: clauses.map(([field, o, v, list]) => ({ [field]: { [o]: o === '$in' || o === '$nin' ? list : o === '$exists' ? Boolean(v) : v } })),
        };
        expect(matchesFilter(compileMatch(filter), doc)).toBe(clauses.every((c) => reference(doc, c)));
      }),
      params,
    );
  });
});
