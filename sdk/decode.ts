import { EJSON, Timestamp, type Document } from '../schemas/bson.js';
import { parseChangeEvent, type ChangeOperation } from '../schemas/envelope.js';

/** A change event with its Extended JSON turned back into BSON types (ObjectId, Date, Decimal128, Binary, ...). */
export interface DecodedChangeEvent<TDoc extends Document = Document> {
  v: 1;
  /** Unique per change: use it to drop repeats (delivery is at-least-once). */
  id: string;
  op: ChangeOperation;
  ns: { db: string; coll?: string };
  documentKey?: Document;
  fullDocument?: TDoc | null;
  fullDocumentBeforeChange?: TDoc | null;
  updateDescription?: { updatedFields: Document; removedFields: string[]; truncatedArrays?: unknown[] };
  /** For `rename`: the new namespace. */
  to?: { db: string; coll: string };
  clusterTime?: Timestamp;
  wallTime?: Date;
  txn?: { lsid: unknown; txnNumber: unknown };
  source: { name: string; cluster: string };
}

export interface DecodeOptions {
  /**
   * Keep numbers as the BSON classes they were stored as (Int32, Long, Double), as a Mongo→Mongo copy
   * needs. Default false: plain JS numbers, as the MongoDB driver returns them (Long too when it fits).
   */
  exactNumbers?: boolean;
}

/** Parses one Kafka record value (the changeflow envelope) and restores BSON types. Throws naming the bad field. */
export function decodeChangeEvent<TDoc extends Document = Document>(value: Buffer | string, options: DecodeOptions = {}): DecodedChangeEvent<TDoc> {
  const event = parseChangeEvent(value);
  const { clusterTime, wallTime, ...rest } = event;
  const decoded = EJSON.deserialize(rest as unknown as Document, { relaxed: !options.exactNumbers }) as DecodedChangeEvent<TDoc>;
  if (clusterTime) decoded.clusterTime = new Timestamp({ t: clusterTime.t, i: clusterTime.i });
  if (wallTime !== undefined) decoded.wallTime = new Date(wallTime);
  return decoded;
}
