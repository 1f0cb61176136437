import type { Document } from 'mongodb';

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

function bracketOf(value: unknown): number {
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

/**
 * The queries for "documents after `lastId` in `_id` order", to run one after the other. `$gt`
 * alone compares within one type bracket, so a collection with mixed `_id` types would lose every
 * later-typed document on resume; the `$type` query takes those. Two plain queries rather than one
 * `$or`: each can walk the `_id` index (mongo-java-server scans and sorts everything for an `$or`).
 */
export function afterIdFilters(lastId: unknown): Document[] {
  const later = typeBrackets.slice(bracketOf(lastId) + 1).flat();
  const filters: Document[] = [{ _id: { $gt: lastId } }];
  if (later.length > 0) filters.push({ _id: { $type: later } });
  return filters;
}
