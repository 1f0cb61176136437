import { BSON, EJSON, type Document } from '../schemas/bson.js';
import type { Collection, Db } from 'mongodb';
import { sha256Hex, stableStringify } from '../schemas/values.js';

/**
 * The audit log's hash chain. Records of one stream (source + database) are numbered 1, 2, 3, …; each
 * carries the hash of the one before (`prevHash`) and its own `hash` over its whole canonical content,
 * so changing, removing or reordering a stored record breaks the chain at that record.
 */
export const GENESIS_HASH = '0'.repeat(64);

export interface AuditRecord {
  /** The change event's id: a repeat of the same event is absorbed by the unique _id. */
  _id: string;
  stream: string;
  seq: number;
  op: string;
  ns: { db: string; coll?: string };
  documentKey?: Document;
  to?: { db: string; coll: string };
  /** When it happened at the source (wallTime, else clusterTime), ISO 8601. */
  at: string;
  clusterTime?: { t: number; i: number };
  /** Who made the change, as far as known: the function's `who`, else the session (txn.lsid), else null. */
  actor: unknown;
  /** What changed: the function's `details`, else the pre-image when the source has one. */
  details?: unknown;
  /** For an update: the server's delta (updatedFields, removedFields, truncatedArrays, …), as it came. */
  change?: unknown;
  /** For an insert or replace, or an update that came without a delta: the document as written (looked up). */
  after?: unknown;
  source: { name: string; cluster: string };
  trigger: string;
  recordedAt: string;
  prevHash: string;
  hash: string;
}

/**
 * Hash of a record as the store will return it: the record goes through BSON (so numbers get the
 * type the server keeps) and is hashed as canonical Extended JSON with sorted keys.
 */
export function recordHash(record: Omit<AuditRecord, 'hash'> | Document): string {
  const content: Document = { ...(record as Document) };
  delete content['hash'];
  const stored = BSON.deserialize(BSON.serialize(content), { promoteValues: false });
  return sha256Hex(stableStringify(EJSON.serialize(stored, { relaxed: false })));
}

export function auditCollections(db: Db, name: string): { records: Collection<AuditRecord>; heads: Collection<{ _id: string; seq: number; hash: string }> } {
  return { records: db.collection<AuditRecord>(name), heads: db.collection(`${name}_heads`) };
}

export async function ensureAuditIndexes(db: Db, name: string): Promise<void> {
  await auditCollections(db, name).records.createIndex({ stream: 1, seq: 1 }, { unique: true, name: 'stream_seq' });
}

export interface ChainBreak {
  stream: string;
  seq: number;
  id: string;
  reason: string;
}

export interface VerifyResult {
  ok: boolean;
  streams: number;
  records: number;
  /** The first broken record of each broken stream. */
  broken: ChainBreak[];
}

/** Walks every stream in sequence order and reports the first record where the chain does not hold. */
export async function verifyAuditLog(db: Db, name: string): Promise<VerifyResult> {
  const { records, heads } = auditCollections(db, name);
  const streams = (await records.distinct('stream')) as string[];
  const broken: ChainBreak[] = [];
  let count = 0;
  for (const stream of streams.sort()) {
    let expectedSeq = 1;
    let prevHash = GENESIS_HASH;
    let failed: ChainBreak | undefined;
    const cursor = db.collection(name).find({ stream }, { promoteValues: false }).sort({ seq: 1 });
    for await (const doc of cursor) {
      count++;
      if (failed) continue;
      const seq = Number(String(doc['seq']));
      const id = String(doc['_id']);
      const at = (reason: string): ChainBreak => ({ stream, seq, id, reason });
      if (seq !== expectedSeq)
        failed = at(seq > expectedSeq ? `records ${expectedSeq}..${seq - 1} are missing before this one` : `sequence number ${seq} repeats or goes backwards`);
      else if (String(doc['prevHash']) !== prevHash)
        failed = at('prevHash does not match the hash of the record before: a record before it was changed or removed');
      else if (recordHash(doc) !== String(doc['hash'])) failed = at('content does not match its hash: this record was changed');
      prevHash = String(doc['hash']);
      expectedSeq = seq + 1;
    }
    const head = await heads.findOne({ _id: stream });
    if (!failed && head && head.seq >= expectedSeq)
      failed = {
        stream,
        seq: expectedSeq,
        id: '(missing)',
        reason: `the log once reached seq ${head.seq} but ends at ${expectedSeq - 1}: records were removed from the end`,
      };
    if (failed) broken.push(failed);
  }
  return { ok: broken.length === 0, streams: streams.length, records: count, broken };
}
