import fc from 'fast-check';
import { Binary, BSONRegExp, Double, Int32, Long, MaxKey, MinKey, ObjectId, Timestamp, type Document } from 'mongodb';
import { canonicalText } from '../../schemas/ejson.js';
import { afterIdFilters, bracketAliases, bracketOf, rangeQueries } from './snapshot-range.js';
import { compareSplitPoints, isSplitPoint, orderedSplitPoints, rangeCount, rangesOf } from './snapshot-splits.js';
import { progressLine, rangeLine } from './snapshot-progress.js';

describe('afterIdFilters', () => {
  it('continues the same type bracket with $gt, then takes every later-typed _id', () => {
    const [same, later] = afterIdFilters(new Int32(5));
    expect(same).toEqual({ _id: { $gt: new Int32(5) } });
    const types = (later as { _id: { $type: string[] } })._id.$type;
    expect(types).toEqual(expect.arrayContaining(['string', 'objectId', 'date']));
    expect(types).not.toContain('int');
  });

  it('after an ObjectId only later brackets (bool, date, …) follow; after MaxKey nothing', () => {
    expect((afterIdFilters(new ObjectId())[1] as { _id: { $type: string[] } })._id.$type).toEqual(['bool', 'date', 'timestamp', 'regex', 'maxKey']);
    expect(afterIdFilters(new MaxKey())).toEqual([]);
  });

  it('after MinKey or null no comparison is asked ($gt: MinKey matches every _id)', () => {
    expect(afterIdFilters(new MinKey())).toEqual([{ _id: { $type: bracketAliases(1, 99) } }]);
    expect(afterIdFilters(null)).toEqual([{ _id: { $type: bracketAliases(2, 99) } }]);
  });
});

/**
 * The server's side of the queries, as MongoDB documents it: `$type` by bracket; a comparison matches
 * only its own bracket, except against MinKey / MaxKey, which compare below / above everything.
 */
function matches(filter: Document, id: unknown): boolean {
  const condition = filter['_id'] as Record<string, unknown> | undefined;
  if (condition === undefined) return true;
  return Object.entries(condition).every(([op, bound]) => {
    if (op === '$type') return bracketAliases(bracketOf(id), bracketOf(id) + 1).some((alias) => (bound as string[]).includes(alias));
    const boundBracket = bracketOf(bound);
    let order: number;
    if (boundBracket === 0 || boundBracket === 11) order = bracketOf(id) - boundBracket;
    else if (bracketOf(id) !== boundBracket) return false;
    else order = compareSplitPoints(id, bound);
    if (op === '$gt') return order > 0;
    if (op === '$gte') return order >= 0;
    if (op === '$lt') return order < 0;
    throw new Error(`unexpected operator ${op}`);
  });
}

/** `_id`s of every bracket. Decimal128 is left out: the model above cannot compare it with other numbers. */
const orderable = fc.oneof(
  fc.integer({ min: -1_000, max: 1_000 }),
  fc.integer({ min: -1_000, max: 1_000 }).map((n) => new Int32(n)),
  fc.integer({ min: -1_000, max: 1_000 }).map((n) => Long.fromNumber(n)),
  fc.double({ min: -1_000, max: 1_000, noNaN: true }).map((n) => new Double(n)),
  fc.string({ unit: 'grapheme', maxLength: 4 }),
  fc.uint8Array({ minLength: 12, maxLength: 12 }).map((b) => new ObjectId(Buffer.from(b))),
  fc.boolean(),
  fc.integer({ min: -1e12, max: 1e12 }).map((t) => new Date(t)),
);
const unorderable = fc.oneof(
  fc.constant(new MinKey()),
  fc.constant(null),
  fc.constant(new MaxKey()),
  fc.integer().map((a) => ({ a })),
  fc.uint8Array({ maxLength: 4 }).map((b) => new Binary(Buffer.from(b))),
  fc.integer({ min: 0, max: 1_000 }).map((t) => new Timestamp({ t, i: 1 })),
  fc.constantFrom(new BSONRegExp('a', 'i'), new BSONRegExp('b', '')),
);

/** Distinct as `_id`s: 5, Int32(5), Long(5) and 5.0 are one key. */
function distinct(ids: readonly unknown[]): unknown[] {
  const seen = new Set<string>();
  const out: unknown[] = [];
  for (const id of ids) {
    const same = isSplitPoint(id) ? out.find((o) => isSplitPoint(o) && bracketOf(o) === bracketOf(id) && compareSplitPoints(o, id) === 0) : undefined;
    const key = isSplitPoint(id) ? undefined : canonicalText({ _id: id });
    if (same !== undefined || (key !== undefined && seen.has(key))) continue;
    if (key !== undefined) seen.add(key);
    out.push(id);
  }
  return out;
}

describe('ranges of a collection', () => {
  it('every _id, of any type, falls in exactly one range, in order; the ranges are ordered and disjoint', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(orderable, unorderable), { minLength: 1, maxLength: 60 }),
        fc.array(fc.oneof(orderable, unorderable), { maxLength: 6 }),
        fc.boolean(),
        (generated, extraCandidates, withSpan) => {
          const ids = distinct(generated);
          const splits = orderedSplitPoints([...ids.slice(0, 5), ...extraCandidates]);
          // As planned: the collection's lowest and highest _id (only their brackets count).
          const byBracket = [...ids].sort((a, b) => bracketOf(a) - bracketOf(b));
          const ranges = rangesOf('d.c', splits, withSpan ? { lowest: byBracket[0], highest: byBracket.at(-1) } : {});
          expect(ranges).toHaveLength(splits.length + 1);
          for (let i = 1; i < ranges.length; i++) {
            expect(ranges[i]?.from).toBe(ranges[i - 1]?.until);
            if (i > 1) expect(compareSplitPoints(splits[i - 2], splits[i - 1])).toBeLessThan(0);
          }
          const found = new Map<unknown, number>();
          ranges.forEach((range, r) => {
            let previous: unknown;
            for (const filter of rangeQueries(range)) {
              const inFilter = ids.filter((id) => matches(filter, id));
              // Queries of a range run one after the other: each must start after the previous one's last.
              if (previous !== undefined && inFilter.length > 0) expect(bracketOf(inFilter[0]) >= bracketOf(previous)).toBe(true);
              if (inFilter.length > 0) previous = inFilter[inFilter.length - 1];
              for (const id of inFilter) {
                if (found.has(id)) throw new Error(`${canonicalText({ _id: id })} is in range ${found.get(id)} and range ${r}`);
                found.set(id, r);
              }
            }
          });
          for (const id of ids) if (!found.has(id)) throw new Error(`${canonicalText({ _id: id })} is in no range of ${JSON.stringify(ranges)}`);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('a range resumed after a copied _id takes exactly the rest of the range', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(orderable, unorderable), { minLength: 2, maxLength: 40 }), fc.nat(), (generated, pick) => {
        const ids = distinct(generated);
        const splits = orderedSplitPoints(ids.slice(0, 3));
        const ranges = rangesOf('d.c', splits);
        const inRange = (range: (typeof ranges)[number]) => ids.filter((id) => rangeQueries(range).some((f) => matches(f, id)));
        const range = ranges[pick % ranges.length] as (typeof ranges)[number];
        const members = inRange(range);
        // A resumable mark of the model's order: any member the model can place (not a compound or binary _id).
        const marks = members.filter((id) => isSplitPoint(id) || [0, 1, 11].includes(bracketOf(id)));
        fc.pre(marks.length > 0);
        const last = marks[pick % marks.length];
        const resumed = { ...range, lastKey: canonicalText({ _id: last }) };
        const rest = inRange(resumed);
        const after = (id: unknown): boolean =>
          bracketOf(id) > bracketOf(last) || (bracketOf(id) === bracketOf(last) && isSplitPoint(id) && isSplitPoint(last) && compareSplitPoints(id, last) > 0);
        expect(new Set(rest)).toEqual(new Set(members.filter(after)));
      }),
      { numRuns: 500 },
    );
  });

  it('orders split points by BSON type bracket then value, once each, leaving out what it cannot order', () => {
    const points = orderedSplitPoints([
      'b',
      5,
      new Int32(5),
      new ObjectId('000000000000000000000001'),
      'a',
      { x: 1 },
      new Date(3),
      false,
      2.5,
      new Long(7),
      'é',
      'z',
    ]);
    expect(points.map((p) => canonicalText({ _id: p }))).toEqual(
      [2.5, 5, new Long(7), 'a', 'b', 'z', 'é', new ObjectId('000000000000000000000001'), false, new Date(3)].map((p) => canonicalText({ _id: p })),
    );
  });

  it('cuts a collection into at most `parallelism` ranges of at least one batch', () => {
    expect(rangeCount(100_000, 2, 1_000)).toBe(2);
    expect(rangeCount(100_000, 1, 1_000)).toBe(1);
    expect(rangeCount(2_500, 4, 1_000)).toBe(2);
    expect(rangeCount(999, 4, 1_000)).toBe(1);
    expect(rangeCount(0, 4, 1_000)).toBe(1);
    expect(rangesOf('d.c', [], { lowest: 1, highest: 9 })).toEqual([{ ns: 'd.c', copied: 0 }]);
  });

  it('asks for no type the collection did not hold when planned: one query per range of a one-type collection', () => {
    const ranges = rangesOf('d.c', [new Int32(500)], { lowest: new Int32(0), highest: new Int32(999) });
    expect(ranges.map(rangeQueries)).toEqual([[{ _id: { $lt: new Int32(500) } }], [{ _id: { $gte: new Int32(500) } }]]);
    expect(rangeQueries({ ...(ranges[1] as (typeof ranges)[number]), lastKey: '{"_id":{"$numberInt":"700"}}' })).toEqual([{ _id: { $gt: new Int32(700) } }]);
  });
});

describe('progressLine', () => {
  it('shows docs, docs/s and ETA', () => {
    expect(progressLine('s', 500, 1000, 0, 1000)).toMatch(/50\.0% 500\/1000 docs 500 docs\/s ETA 1s/);
  });

  it('names a range with its share', () => {
    expect(rangeLine({ name: 'd.c[lowest, {"_id":5})', copied: 25, total: 100 })).toBe('d.c[lowest, {"_id":5}) 25/100 (25%)');
  });
});
