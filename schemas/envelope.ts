import { z } from 'zod';

/**
 * The change event: one JSON object per Kafka record (DESIGN.md "The change event").
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
  updateDescription?: { updatedFields: EJsonDocument; removedFields: string[]; truncatedArrays?: unknown[] };
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

/** Parses a record value into a ChangeEvent, or explains which field is wrong. */
export function parseChangeEvent(value: Buffer | string): ChangeEvent {
  const json: unknown = JSON.parse(typeof value === 'string' ? value : value.toString('utf8'));
  return changeEventSchema.parse(json) as ChangeEvent;
}
