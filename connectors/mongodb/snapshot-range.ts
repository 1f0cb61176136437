import type { Document } from 'mongodb';
import { parseCanonicalText } from '../../schemas/ejson.js';
import type { SnapshotRange } from './source-position.js';

/** BSON's cross-type sort order, as `$type` aliases per bracket (an `_id` is never an array). */
const typeBrackets: readonly (readonly string[])[] = [
  ['minKey'],
  ['null'],
  ['int', 'long', 'double', 'decimal'],
  // 'symbol' (deprecated) is left out: mongo-java-server rejects the alias.
  ['string'],
  ['object'],
  ['binData'],
  ['objectId'],
  ['bool'],
  ['date'],
  ['timestamp'],
  ['regex'],
  ['maxKey'],
];

/**
 * Brackets holding a single value. A comparison with MinKey or MaxKey is not bracketed (`$gt: MinKey`
 * matches every `_id`, on MongoDB and on mongo-java-server), so "later in the same bracket" is
 * written as nothing for these.
 */
const singleValued = new Set([0, 1, typeBrackets.length - 1]);

/** By `_bsontype`, not instanceof: the driver's BSON classes come from another build of the bson package. */
const bracketByType: Record<string, number> = {
  MinKey: 0,
  Int32: 2,
  Long: 2,
  Double: 2,
  Decimal128: 2,
  BSONSymbol: 3,
  Symbol: 3,
  Binary: 5,
  ObjectId: 6,
  ObjectID: 6,
  Timestamp: 9,
  BSONRegExp: 10,
  MaxKey: 11,
};

/** The type bracket of an `_id`: its place in BSON's cross-type order. */
export function bracketOf(value: unknown): number {
  if (value === null || value === undefined) return 1;
  if (typeof value === 'number' || typeof value === 'bigint') return 2;
  if (typeof value === 'string') return 3;
  if (typeof value === 'boolean') return 7;
  if (value instanceof Date) return 8;
  if (value instanceof RegExp) return 10;
  const type = (value as { _bsontype?: unknown })._bsontype;
  if (typeof type === 'string') return bracketByType[type] ?? 4;
  return 4;
}

/** The `$type` aliases of the brackets in `[first, end)`. */
export function bracketAliases(first: number, end: number): string[] {
  return typeBrackets.slice(Math.max(0, first), Math.min(end, typeBrackets.length)).flat();
}

/** Where a range starts: after an `_id` already copied (`exclusive`), or at a split point. */
export interface LowerBound {
  id: unknown;
  exclusive: boolean;
}

/** The `_id`s a collection held when its snapshot was planned: the lowest and the highest (either may be unknown). */
export interface IdSpan {
  lowest?: unknown;
  highest?: unknown;
}

/**
 * The queries for "documents with `lower` ≤ (or <) `_id` < `upper`" in `_id` order, to run one after
 * the other; no bound = that end of the collection. A comparison (`$gt`, `$lt`) matches only its own
 * type bracket, so a range spanning brackets is the rest of the lower bound's bracket, then whole
 * brackets by `$type`, then the start of the upper bound's bracket. Plain queries rather than one
 * `$or`: each can walk the `_id` index (mongo-java-server scans and sorts everything for an `$or`).
 * A `$type` query reads the whole collection on mongo-java-server even when it matches nothing, so
 * brackets outside `span` (none of the collection's `_id`s when the copy was planned, after the
 * stream's start was fixed: a later one arrives as a change event) are not asked for.
 */
export function rangeFilters(lower: LowerBound | undefined, upper?: unknown, span: IdSpan = {}): Document[] {
  if (lower === undefined && upper === undefined) return [{}];
  const low = lower === undefined ? -1 : bracketOf(lower.id);
  const high = upper === undefined ? typeBrackets.length : bracketOf(upper);
  const op = lower?.exclusive ? '$gt' : '$gte';
  if (lower !== undefined && low === high) return [{ _id: { [op]: lower.id, $lt: upper } }];
  const filters: Document[] = [];
  if (lower !== undefined && !(singleValued.has(low) && lower.exclusive)) filters.push({ _id: { [op]: lower.id } });
  const first = Math.max(low + 1, 'lowest' in span ? bracketOf(span.lowest) : 0);
  const end = Math.min(high, 'highest' in span ? bracketOf(span.highest) + 1 : typeBrackets.length);
  const between = bracketAliases(first, end);
  if (between.length > 0) filters.push({ _id: { $type: between } });
  if (upper !== undefined) filters.push({ _id: { $lt: upper } });
  return filters;
}

/** The queries for "documents after `lastId` in `_id` order" (to the end of the collection). */
export function afterIdFilters(lastId: unknown): Document[] {
  return rangeFilters({ id: lastId, exclusive: true });
}

function idOf(key: string): unknown {
  return parseCanonicalText<Document>(key)['_id'];
}

/** The queries that copy what is left of `range`: after its last acknowledged `_id`, else from its first, up to where the next range starts. */
export function rangeQueries(range: SnapshotRange): Document[] {
  const lower: LowerBound | undefined =
    range.lastKey !== undefined
      ? { id: idOf(range.lastKey), exclusive: true }
      : range.from !== undefined
        ? { id: idOf(range.from), exclusive: false }
        : undefined;
  const span: IdSpan = {
    ...(range.lowestId === undefined ? {} : { lowest: idOf(range.lowestId) }),
    ...(range.highestId === undefined ? {} : { highest: idOf(range.highestId) }),
  };
  return rangeFilters(lower, range.until === undefined ? undefined : idOf(range.until), span);
}
