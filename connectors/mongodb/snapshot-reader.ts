import { Timestamp } from 'mongodb';
import { SnapshotCopy, splitNamespace } from './snapshot-copy.js';
import { SnapshotProgress } from './snapshot-progress.js';
import { findIdSpan, findSplitPoints, rangeCount, rangesOf } from './snapshot-splits.js';
import { SourceFatalError } from './source-errors.js';
import { SourcePosition, type SnapshotRange, type StreamStart } from './source-position.js';
import type { SourceSession } from './source-session.js';

function isTimestamp(value: unknown): value is Timestamp {
  return (value as { _bsontype?: unknown } | null)?._bsontype === 'Timestamp';
}

/**
 * The cluster's current time: every change after it is in a stream opened there. A replica set
 * reports it with each reply (operationTime); mongo-java-server does not, so its oplog's newest entry stands in.
 */
async function currentClusterTime(session: SourceSession): Promise<Timestamp> {
  const { client } = session.parts;
  const reply = await client.db('admin').command({ ping: 1 });
  const operationTime: unknown = reply['operationTime'];
  if (isTimestamp(operationTime)) return operationTime;
  const newest = await client
    .db('local')
    .collection('oplog.rs')
    .find({}, { projection: { ts: 1 } })
    .sort({ ts: -1 })
    .limit(1)
    .next()
    .catch(() => null);
  const ts: unknown = newest?.['ts'];
  if (isTimestamp(ts)) return ts;
  if (newest === null) return new Timestamp({ t: Math.floor(Date.now() / 1000), i: 0 });
  throw new SourceFatalError(`source "${session.config.name}": the server reports no cluster time, so a start position cannot be fixed`);
}

/** Streaming from now on, nothing copied: the position is stored at once. */
export async function beginLatest(session: SourceSession): Promise<SourcePosition> {
  const position = SourcePosition.atClusterTime(await currentClusterTime(session));
  await session.save(position);
  return position;
}

async function namespacesToCopy(session: SourceSession): Promise<string[]> {
  const { client } = session.parts;
  const { db, coll } = session.config.watch;
  const collectionsOf = async (dbName: string): Promise<string[]> => {
    const list = await client.db(dbName).listCollections({}, { nameOnly: true }).toArray();
    return list
      .filter((c) => (c as { type?: string }).type !== 'view' && !c.name.startsWith('system.'))
      .map((c) => `${dbName}.${c.name}`)
      .sort();
  };
  if (db && coll) return [`${db}.${coll}`];
  if (db) return collectionsOf(db);
  const { databases } = await client.db('admin').admin().listDatabases({ nameOnly: true });
  const names = databases.map((d) => d.name).filter((n) => !['admin', 'local', 'config'].includes(n));
  return (await Promise.all(names.sort().map(collectionsOf))).flat();
}

async function estimatedCount(session: SourceSession, ns: string): Promise<number> {
  const { db, coll } = splitNamespace(ns);
  return session.parts.client
    .db(db)
    .collection(coll)
    .estimatedDocumentCount()
    .catch(() => 0);
}

/** Each collection as one range, or, when large enough for `snapshotParallelism` cursors, cut into `_id` ranges. */
async function rangesToCopy(session: SourceSession, namespaces: readonly string[]): Promise<SnapshotRange[]> {
  const { snapshotParallelism, snapshotBatchSize } = session.config;
  const ranges: SnapshotRange[] = [];
  for (const ns of namespaces) {
    const count = snapshotParallelism > 1 ? await estimatedCount(session, ns) : 0;
    const parts = rangeCount(count, snapshotParallelism, snapshotBatchSize);
    if (parts === 1) {
      ranges.push({ ns, copied: 0 });
      continue;
    }
    const { db, coll } = splitNamespace(ns);
    const collection = session.parts.client.db(db).collection(coll);
    ranges.push(...rangesOf(ns, await findSplitPoints(collection, count, parts), await findIdSpan(collection)));
  }
  return ranges;
}

/** Fixes the stream's start BEFORE copying (and before planning the ranges), so every write during the copy is in the stream. */
export async function beginSnapshot(session: SourceSession): Promise<SourcePosition> {
  const start: StreamStart = { clusterTime: (({ t, i }) => ({ t, i }))(await currentClusterTime(session)) };
  const ranges = await rangesToCopy(session, await namespacesToCopy(session));
  const position = SourcePosition.snapshotting(start, { ranges, copied: 0 });
  await session.save(position);
  session.log.info({ position: position.describe(), ranges: ranges.length }, 'snapshot starting');
  return position;
}

/**
 * Copies every range of the snapshot, up to `snapshotParallelism` at once (each in `_id` order, from
 * where `from` left it), as `snapshot` records; returns the streaming position fixed before the copy
 * began (or, when stopped, the position of the last acknowledged batch, so each range resumes there).
 */
export async function runSnapshot(session: SourceSession, from: SourcePosition): Promise<SourcePosition> {
  const progress = from.snapshot;
  if (!progress) return from;
  const { metrics } = session.parts;
  const { config, log } = session;
  const { name } = config;
  // Copied counts every range done so far, so the total is every collection's size.
  const namespaces = [...new Set(progress.ranges.map((r) => r.ns))];
  const counts = new Map<string, number>();
  for (const ns of namespaces) counts.set(ns, await estimatedCount(session, ns));
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  const rangesPerNs = new Map<string, number>();
  for (const r of progress.ranges) rangesPerNs.set(r.ns, (rangesPerNs.get(r.ns) ?? 0) + 1);
  const rangeTotals = progress.ranges.map((r) => Math.round((counts.get(r.ns) ?? 0) / (rangesPerNs.get(r.ns) ?? 1)));
  metrics.snapshotTotal.set({ source: name }, total);
  const display = new SnapshotProgress(name, total, progress.copied, log);
  if (progress.copied > 0 || progress.ranges.some((r) => r.lastKey !== undefined || r.done))
    log.info({ position: from.describe() }, 'snapshot resuming from its stored progress');

  const copy = new SnapshotCopy(session, from, progress, rangeTotals, display);
  const pending = copy.pendingRanges();
  const cursor = async (): Promise<void> => {
    for (let next = pending.shift(); next !== undefined && !copy.halted; next = pending.shift()) await copy.copyRange(next);
  };
  const cursors = await Promise.allSettled(Array.from({ length: Math.min(config.snapshotParallelism, pending.length) }, cursor));
  // The first range to fail is the cause; the others only ended because of it.
  if (copy.firstFailure !== null) throw copy.firstFailure;
  const failed = cursors.find((c) => c.status === 'rejected');
  if (failed) throw failed.reason;
  await copy.sender.drain();
  if (session.stopping) {
    await session.save(copy.acked);
    return copy.acked;
  }
  display.done(copy.documentsCopied);
  const streaming = from.streaming();
  await session.save(streaming);
  log.info({ copied: copy.documentsCopied }, 'snapshot complete; streaming from the position taken before the copy');
  return streaming;
}
