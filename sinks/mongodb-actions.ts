import type { Document } from '../schemas/bson.js';
import type { AnyBulkWriteOperation } from 'mongodb';
import { z } from 'zod';
import { describeZodError } from '../core/schema-errors.js';
import { toBsonDocument } from '../schemas/values.js';

/**
 * What a function may ask the MongoDB sink to do. Values are Extended JSON (as the function sees
 * events), turned back into BSON before writing. `coll` defaults to the sink's `coll` or the event's.
 */
const record = z.record(z.string(), z.unknown());
const common = { sink: z.string(), coll: z.string().min(1).optional() };

export const mongoActionSchema = z.discriminatedUnion('op', [
  z
    .strictObject({ ...common, op: z.literal('upsert'), doc: record, filter: record.optional() })
    .refine((a) => a.filter !== undefined || a.doc['_id'] !== undefined, {
      error: 'upsert needs doc._id or a filter',
      path: ['filter'],
    }),
  z.strictObject({ ...common, op: z.literal('insert'), doc: record }),
  z.strictObject({
    ...common,
    op: z.literal('update'),
    filter: record,
    update: z.union([record, z.array(record)]),
    upsert: z.boolean().default(false),
    many: z.boolean().default(false),
  }),
  z.strictObject({ ...common, op: z.literal('delete'), filter: record, many: z.boolean().default(false) }),
]);
export type MongoAction = z.output<typeof mongoActionSchema>;

export const mongoActionOps = ['upsert', 'insert', 'update', 'delete'] as const;

/** Validates an action; returns a reason naming the bad field instead of throwing. */
export function parseMongoAction(raw: unknown): MongoAction | string {
  const parsed = mongoActionSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const op = typeof raw === 'object' && raw !== null ? (raw as { op?: unknown }).op : undefined;
  if (typeof op === 'string' && !(mongoActionOps as readonly string[]).includes(op))
    return `action.op: unknown op "${op}" for a mongodb sink; use one of ${mongoActionOps.join(', ')}`;
  return `invalid mongodb action: ${describeZodError(parsed.error, 'action').join('; ')}`;
}

/** The bulkWrite operation of an action (its values decoded from Extended JSON; InvalidValueError names a bad field). */
export function actionToWrite(action: MongoAction): AnyBulkWriteOperation<Document> {
  switch (action.op) {
    case 'upsert': {
      const doc = toBsonDocument(action.doc, 'action.doc');
      const filter = action.filter ? toBsonDocument(action.filter, 'action.filter') : { _id: doc['_id'] };
      return { replaceOne: { filter, replacement: doc, upsert: true } };
    }
    case 'insert':
      return { insertOne: { document: toBsonDocument(action.doc, 'action.doc') } };
    case 'update': {
      const filter = toBsonDocument(action.filter, 'action.filter');
      const update = Array.isArray(action.update)
        ? action.update.map((stage, i) => toBsonDocument(stage, `action.update[${i}]`))
        : toBsonDocument(action.update, 'action.update');
      return action.many ? { updateMany: { filter, update, upsert: action.upsert } } : { updateOne: { filter, update, upsert: action.upsert } };
    }
    case 'delete': {
      const filter = toBsonDocument(action.filter, 'action.filter');
      return action.many ? { deleteMany: { filter } } : { deleteOne: { filter } };
    }
  }
}
