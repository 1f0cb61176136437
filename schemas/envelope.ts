import { z } from 'zod';

/**
 * The change event: one JSON object per Kafka record (docs/sources.md "Records").
 * BSON values inside are MongoDB Extended JSON (canonical by default), so the envelope itself is
 * plain JSON and any consumer can read it; `sdk/` turns it back into BSON types.
 */
export const changeOperations = ['insert', 'update', 'replace', 'delete', 'drop', 'rename', 'dropDatabase', 'invalidate', 'snapshot'] as const;
export type ChangeOperation = (typeof changeOperations)[number];

/** Extended JSON value (already encoded): any JSON. */
export type EJsonValue = unknown;
export type EJsonDocument = Record<string, EJsonValue>;

export const changeEventSchema = z.looseObject({
  v: z.literal(1),
  id: z.string().min(1),
  op: z.enum(changeOperations),
  ns: z.strictObject({ db: z.string(), coll: z.string().optional() }),
  documentKey: z.record(z.string(), z.unknown()).optional(),
  fullDocument: z.record(z.string(), z.unknown()).nullable().optional(),
  fullDocumentBeforeChange: z.record(z.string(), z.unknown()).nullable().optional(),
  updateDescription: z
    .looseObject({
      updatedFields: z.record(z.string(), z.unknown()),
      removedFields: z.array(z.string()),
      truncatedArrays: z.array(z.unknown()).optional(),
      /** Path → its segments, for paths whose field names hold dots or look like numbers (strings are field names, numbers array indices). */
      disambiguatedPaths: z.record(z.string(), z.array(z.unknown())).optional(),
    })
    .optional(),
  /** For `rename`: the new namespace. */
  to: z.strictObject({ db: z.string(), coll: z.string() }).optional(),
  clusterTime: z.strictObject({ t: z.number(), i: z.number() }).optional(),
  wallTime: z.string().optional(),
  txn: z.looseObject({ lsid: z.unknown(), txnNumber: z.unknown() }).optional(),
  source: z.strictObject({ name: z.string(), cluster: z.string() }),
});

export interface ChangeEvent {
  v: 1;
  /** Resume token `_data` (unique per change; a dedupe key). Snapshot records use `snapshot:<source>:<key>`. */
  id: string;
  op: ChangeOperation;
  ns: { db: string; coll?: string };
  documentKey?: EJsonDocument;
  fullDocument?: EJsonDocument | null;
  fullDocumentBeforeChange?: EJsonDocument | null;
  updateDescription?: { updatedFields: EJsonDocument; removedFields: string[]; truncatedArrays?: unknown[]; disambiguatedPaths?: Record<string, unknown[]> };
  to?: { db: string; coll: string };
  clusterTime?: { t: number; i: number };
  wallTime?: string;
  txn?: { lsid: unknown; txnNumber: unknown };
  source: { name: string; cluster: string };
}

/** Kafka headers every change record carries. */
export interface ChangeHeaders {
  op: ChangeOperation;
  /** `db.coll` (or `db` for database-level events). */
  ns: string;
  id: string;
}

const OPERATIONS: ReadonlySet<unknown> = new Set(changeOperations);

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Exactly the keys `required` (all present) plus any of `optional`, each a string. */
function isStringFields(v: unknown, required: readonly string[], optional?: string): boolean {
  if (!isObject(v)) return false;
  let count = 0;
  for (const key in v) {
    if (!Object.hasOwn(v, key)) continue;
    count++;
    if ((!required.includes(key) && key !== optional) || typeof v[key] !== 'string') return false;
  }
  return count >= required.length && required.every((key) => Object.hasOwn(v, key));
}

function isDocumentOrAbsent(v: unknown, nullable: boolean): boolean {
  return v === undefined || (nullable && v === null) || isObject(v);
}

/**
 * The envelope check without zod, for the shape the source connector writes (the processor's hot path:
 * zod costs several µs per event). True only for values changeEventSchema accepts too; anything it is
 * unsure of returns false, and the caller falls back to the schema, which accepts or explains.
 */
export function isChangeEventShape(json: unknown): json is ChangeEvent {
  if (!isObject(json)) return false;
  const e = json;
  if (e['v'] !== 1 || typeof e['id'] !== 'string' || e['id'].length === 0 || !OPERATIONS.has(e['op'])) return false;
  if (!isStringFields(e['ns'], ['db'], 'coll') || !isStringFields(e['source'], ['name', 'cluster'])) return false;
  if (!isDocumentOrAbsent(e['documentKey'], false) || !isDocumentOrAbsent(e['fullDocument'], true) || !isDocumentOrAbsent(e['fullDocumentBeforeChange'], true))
    return false;
  if (e['wallTime'] !== undefined && typeof e['wallTime'] !== 'string') return false;
  if (e['to'] !== undefined && !isStringFields(e['to'], ['db', 'coll'])) return false;
  const clusterTime = e['clusterTime'];
  if (clusterTime !== undefined) {
    if (!isObject(clusterTime) || typeof clusterTime['t'] !== 'number' || typeof clusterTime['i'] !== 'number') return false;
    for (const key in clusterTime) if (key !== 't' && key !== 'i') return false;
  }
  const update = e['updateDescription'];
  if (update !== undefined) {
    if (!isObject(update) || !isObject(update['updatedFields']) || !Array.isArray(update['removedFields'])) return false;
    if (!update['removedFields'].every((f) => typeof f === 'string')) return false;
    if (update['truncatedArrays'] !== undefined && !Array.isArray(update['truncatedArrays'])) return false;
    const paths = update['disambiguatedPaths'];
    if (paths !== undefined && !(isObject(paths) && Object.values(paths).every((segments) => Array.isArray(segments)))) return false;
  }
  // Transactions are rarer: left to the schema.
  return e['txn'] === undefined;
}

/** Parses a record value into a ChangeEvent, or explains which field is wrong. */
export function parseChangeEvent(value: Buffer | string): ChangeEvent {
  const json: unknown = JSON.parse(typeof value === 'string' ? value : value.toString('utf8'));
  if (isChangeEventShape(json)) return json;
  return changeEventSchema.parse(json) as ChangeEvent;
}
