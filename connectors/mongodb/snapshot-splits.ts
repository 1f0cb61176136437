import type { Collection, Document } from 'mongodb';
import { canonicalText } from '../../schemas/ejson.js';
import { bracketOf } from './snapshot-range.js';
import type { SnapshotRange } from './source-position.js';

/**
 * An `_id` this code can order exactly within its bracket, as a sort key: numbers (not Decimal128,
 * not NaN, not a Long beyond 2^53), strings (by UTF-8 bytes, as the server compares them without a
 * collation), ObjectIds, booleans and dates. Only such `_id`s become split points; any other value
 * (a compound `_id`, binary, …) is skipped, which leaves a range larger but never wrong.
 */
function orderKey(value: unknown): number | string | Buffer | undefined {
  if (typeof value === 'number') return Number.isNaN(value) ? undefined : value;
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.getTime();
  const typed = value as { _bsontype?: unknown; value?: unknown; toHexString?: () => string; toNumber?: () => number } | null;
  switch (typed?._bsontype) {
    case 'Int32':
    case 'Double':
      return typeof typed.value === 'number' && !Number.isNaN(typed.value) ? typed.value : undefined;
    case 'Long': {
      const n = typed.toNumber?.();
      return n !== undefined && Number.isSafeInteger(n) ? n : undefined;
    }
    case 'ObjectId':
    case 'ObjectID':
      return typed.toHexString?.();
    default:
      return undefined;
  }
}

export function isSplitPoint(value: unknown): boolean {
  return orderKey(value) !== undefined;
}

/** BSON order of two split points (both `isSplitPoint`): bracket first, then value. */
export function compareSplitPoints(a: unknown, b: unknown): number {
  const bracket = bracketOf(a) - bracketOf(b);
  if (bracket !== 0) return bracket;
  const x = orderKey(a);
  const y = orderKey(b);
  if (Buffer.isBuffer(x) && Buffer.isBuffer(y)) return Buffer.compare(x, y);
  if (typeof x === 'number' && typeof y === 'number') return x - y;
  if (typeof x === 'string' && typeof y === 'string') return x < y ? -1 : x > y ? 1 : 0;
  throw new TypeError('compareSplitPoints: not split points of one bracket');
}

/** The usable split points among `candidates`, in BSON order, each once. */
export function orderedSplitPoints(candidates: readonly unknown[]): unknown[] {
  const sorted = candidates.filter(isSplitPoint).sort(compareSplitPoints);
  return sorted.filter((value, i) => i === 0 || compareSplitPoints(sorted[i - 1], value) !== 0);
}

/**
 * The ranges of one collection cut at `splits` (ordered, distinct): `[lowest, s1)`, `[s1, s2)`, …,
 * `[sk, highest]`. Together they cover every `_id`, whatever its type, exactly once. `span` (the
 * collection's lowest and highest `_id` when planned) only spares the first and last range queries
 * for types the collection did not hold.
 */
export function rangesOf(ns: string, splits: readonly unknown[], span: { lowest?: unknown; highest?: unknown } = {}): SnapshotRange[] {
  const bounds = splits.map((id) => canonicalText({ _id: id }));
  const last = bounds.length;
  return Array.from({ length: last + 1 }, (_, i) => ({
    ns,
    ...(i > 0 ? { from: bounds[i - 1] as string } : {}),
    ...(i < last ? { until: bounds[i] as string } : {}),
    ...(i === 0 && last > 0 && 'lowest' in span ? { lowestId: canonicalText({ _id: span.lowest }) } : {}),
    ...(i === last && last > 0 && 'highest' in span ? { highestId: canonicalText({ _id: span.highest }) } : {}),
    copied: 0,
  }));
}

/** How many ranges a collection of `count` documents is cut into: at most `parallelism`, each at least a batch. */
export function rangeCount(count: number, parallelism: number, batchSize: number): number {
  return Math.max(1, Math.min(parallelism, Math.floor(count / batchSize)));
}

/**
 * Split points for `ranges` ranges of about equal size: the `_id` at every `count / ranges`-th
 * position of a sorted `find` with `skip`. Chosen because it needs nothing but `find` (no
 * `splitVector`, which only a mongod answers and needs privileges, nor `$bucketAuto` or `$sample`,
 * which mongo-java-server lacks or answers by reading everything) and gives exact sizes; on MongoDB
 * each is a covered walk of the `_id` index (keys only, no documents read), on mongo-java-server one
 * sort per split point. Done once, when the snapshot is planned, and stored with it.
 */
export async function findSplitPoints(collection: Collection<Document>, count: number, ranges: number): Promise<unknown[]> {
  // The same query for every point: the server sorts by `_id` exactly as the ranges' queries compare.
  const candidates: unknown[] = [];
  for (let i = 1; i < ranges; i++) {
    const at = Math.floor((i * count) / ranges);
    const doc = await collection.find({}, { projection: { _id: 1 }, sort: { _id: 1 }, skip: at, limit: 1 }).next();
    if (doc) candidates.push(doc['_id']);
  }
  return orderedSplitPoints(candidates);
}

/** The collection's lowest and highest `_id` now (each one step of the `_id` index); none when it is empty. */
export async function findIdSpan(collection: Collection<Document>): Promise<{ lowest?: unknown; highest?: unknown }> {
  const end = async (direction: 1 | -1): Promise<Document | null> => collection.find({}, { projection: { _id: 1 }, sort: { _id: direction }, limit: 1 }).next();
  const [lowest, highest] = await Promise.all([end(1), end(-1)]);
  return lowest && highest ? { lowest: lowest['_id'], highest: highest['_id'] } : {};
}
