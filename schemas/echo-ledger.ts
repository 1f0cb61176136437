import type { Document } from './bson.js';
import type { Collection, Db } from 'mongodb';
import { contentHash, sha256Hex } from './values.js';

/**
 * The echo ledger: what changeflow's MongoDB sink wrote into a cluster, so that cluster's source can
 * recognise the resulting change events as echoes and skip them (bidirectional sync without loops).
 *
 * One entry per (namespace, _id, post-image hash) with a count `n`: the sink adds one before it writes,
 * the echo filter takes one away when the matching change event arrives. A delete is recorded with the
 * hash `null`. Entries nobody consumed (the write failed, was a no-op, or its event was filtered away)
 * expire after a retention period.
 */
export const defaultStateDb = 'changeflow_sync';
export const echoCollection = 'echoes';
export const versionCollection = 'versions';

export interface EchoEntry {
  _id: string;
  db: string;
  coll: string;
  /** Canonical EJSON of the document's `_id`. */
  id: string;
  /** Content hash of the post-image, or null for a delete. */
  h: string | null;
  n: number;
  at: Date;
  by: string;
}

/** The post-image hash an echo entry is keyed by: `contentHash(doc)`, or null when the write deleted the document. */
export function postImageHash(doc: Document | null): string | null {
  return doc === null ? null : contentHash(doc);
}

export function echoEntryId(db: string, coll: string, idText: string, hash: string | null): string {
  return sha256Hex(JSON.stringify([db, coll, idText, hash]));
}

export function echoes(stateDb: Db): Collection<EchoEntry> {
  return stateDb.collection<EchoEntry>(echoCollection);
}

/** Indexes the ledger needs: expiry of forgotten entries (where the server supports TTL). */
export async function ensureEchoIndexes(stateDb: Db, retentionSeconds: number): Promise<void> {
  await echoes(stateDb).createIndex({ at: 1 }, { expireAfterSeconds: retentionSeconds, name: 'expire_at' });
}

/** Deletes entries older than the retention (servers without TTL monitors, e.g. mongo-java-server). */
export async function purgeExpiredEchoes(stateDb: Db, retentionSeconds: number, now = Date.now()): Promise<number> {
  const result = await echoes(stateDb).deleteMany({ at: { $lt: new Date(now - retentionSeconds * 1000) } });
  return result.deletedCount;
}
