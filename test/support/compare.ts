import { EJSON, type Document } from '../../schemas/bson.js';
import type { MongoClient } from 'mongodb';

/** JSON text with object keys sorted, so two documents compare equal whatever their field order. */
export function sortedJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/**
 * The collection (or the documents `filter` picks) as canonical Extended JSON lines, field order
 * ignored, ordered by text. Read with `promoteValues: false` so a Double 1.0 and an Int32 1 differ.
 */
export async function contents(client: MongoClient, db: string, coll = 'items', filter: Document = {}): Promise<string[]> {
  const docs: Document[] = await client.db(db).collection(coll).find(filter, { promoteValues: false, bsonRegExp: true }).toArray();
  return docs.map((d) => sortedJson(EJSON.serialize(d, { relaxed: false }))).sort();
}

export interface Comparison {
  equal: boolean;
  left: string[];
  right: string[];
}

export async function sameContents(client: MongoClient, a: string, b: string, coll = 'items', filter: Document = {}): Promise<Comparison> {
  const [left, right] = await Promise.all([contents(client, a, coll, filter), contents(client, b, coll, filter)]);
  return { equal: left.length === right.length && left.every((line, i) => line === right[i]), left, right };
}

export function describeDiff(left: string[], right: string[], shown = 3): string {
  const r = new Set(right);
  const l = new Set(left);
  return `${left.length} vs ${right.length} docs; only left: ${left
    .filter((x) => !r.has(x))
    .slice(0, shown)
    .join(' ')}; only right: ${right
    .filter((x) => !l.has(x))
    .slice(0, shown)
    .join(' ')}`;
}
