import { Timestamp, type Document } from 'mongodb';
import type { OutgoingRecord } from '../../core/kafka/transport.js';
import { parseCanonicalText } from '../../schemas/ejson.js';
import { cursorBatches } from './cursor-batches.js';
import { SnapshotProgress } from './snapshot-progress.js';
import { afterIdFilters } from './snapshot-range.js';
import { snapshotFromBytes } from './source-change.js';
import { SourceFatalError } from './source-errors.js';
import { SourcePosition, type StreamStart } from './source-position.js';
import type { SourceSession } from './source-session.js';

function isTimestamp(value: unknown): value is Timestamp {
  return (value as { _bsontype?: unknown } | null)?._bsontype === 'Timestamp';
}

function splitNamespace(ns: string): { db: string; coll: string } {
  const dot = ns.indexOf('.');
  return { db: ns.slice(0, dot), coll: ns.slice(dot + 1) };
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

/** Fixes the stream's start BEFORE copying, so every write during the copy is in the stream. */
export async function beginSnapshot(session: SourceSession): Promise<SourcePosition> {
  const start: StreamStart = { clusterTime: (({ t, i }) => ({ t, i }))(await currentClusterTime(session)) };
  const position = SourcePosition.snapshotting(start, { namespaces: await namespacesToCopy(session), index: 0, copied: 0 });
  await session.save(position);
  session.log.info({ position: position.describe() }, 'snapshot starting');
  return position;
}

/**
 * Copies every collection of the snapshot in `_id` order, from where `from` left off, as
 * `snapshot` records; returns the streaming position fixed before the copy began (or, when
 * stopped, the position of the last acknowledged chunk, so the copy resumes there).
 */
export async function runSnapshot(session: SourceSession, from: SourcePosition): Promise<SourcePosition> {
  const progress0 = from.snapshot;
  if (!progress0) return from;
  const { client, encoder, metrics, router, admin, avro, topics, valueEncoder } = session.parts;
  const { config, log } = session;
  const { name } = config;
  // Copied counts every collection done so far, so the total is every collection's size.
  let total = 0;
  for (const ns of progress0.namespaces) {
    const { db, coll } = splitNamespace(ns);
    total += await client
      .db(db)
      .collection(coll)
      .estimatedDocumentCount()
      .catch(() => 0);
  }
  metrics.snapshotTotal.set({ source: name }, total);
  const reporter = new SnapshotProgress(name, total, progress0.copied, log);
  if (progress0.copied > 0 || progress0.lastKey !== undefined) log.info({ position: from.describe() }, 'snapshot resuming from its stored progress');

  let acked = from;
  const sender = session.newSender((a) => (acked = a.position));
  let copied = progress0.copied;
  const snapshotEncoder = { ...encoder, multiNamespace: !config.watch.coll };
  const needEvent = valueEncoder !== undefined;
  for (let index = progress0.index; index < progress0.namespaces.length; index++) {
    const ns = splitNamespace(progress0.namespaces[index] ?? '');
    const lastKey = index === progress0.index ? progress0.lastKey : undefined;
    const filters = lastKey === undefined ? [{}] : afterIdFilters(parseCanonicalText<Document>(lastKey)['_id']);
    let chunk: OutgoingRecord[] = [];
    let documents = 0;
    let bytes = 0;
    let lastCopiedKey = '';
    const flush = async (): Promise<void> => {
      if (documents === 0) return;
      session.parts.assertLease();
      await router.ensureTopics(admin, chunk);
      copied += documents;
      const position = from.withSnapshot({ namespaces: progress0.namespaces, index, lastKey: lastCopiedKey, copied });
      await sender.submit(chunk, { position, counts: new Map([['snapshot', documents]]) });
      chunk = [];
      documents = 0;
      bytes = 0;
      metrics.snapshotCopied.set({ source: name }, copied);
      reporter.update(copied);
      await session.maybeCheckpoint(acked);
    };
    await avro?.ready([topics.change(ns.db, ns.coll, config.topic)]);
    for (const filter of filters) {
      const cursor = client
        .db(ns.db)
        .collection(ns.coll)
        // Raw: each document's BSON bytes, encoded straight to the record value (snapshotFromBytes).
        .find(filter, { sort: { _id: 1 }, batchSize: config.snapshotBatchSize, raw: true });
      try {
        batches: for await (const batch of cursorBatches(cursor)) {
          for (const doc of batch) {
            if (session.stopping) break batches;
            const change = snapshotFromBytes(doc as unknown as Uint8Array, ns, snapshotEncoder, needEvent);
            bytes += router.add(chunk, change);
            documents += 1;
            // A snapshot document's key is canonicalText({ _id }): what a resumed copy starts after.
            if (change.key !== null) lastCopiedKey = change.key;
            if (documents >= config.snapshotBatchSize || bytes >= config.maxBatchBytes) await flush();
          }
        }
        await flush();
      } finally {
        await cursor.close().catch(() => undefined);
      }
      if (session.stopping) break;
    }
    if (session.stopping) break;
  }
  await sender.drain();
  if (session.stopping) {
    await session.save(acked);
    return acked;
  }
  reporter.done(copied);
  const streaming = from.streaming();
  await session.save(streaming);
  log.info({ copied }, 'snapshot complete; streaming from the position taken before the copy');
  return streaming;
}
