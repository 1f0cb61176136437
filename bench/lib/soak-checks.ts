import { EJSON, type Document } from '../../schemas/bson.js';
import type { Db } from 'mongodb';
import type { Redis } from 'ioredis';
import type { IncomingRecord } from '../../core/kafka/index.js';
import { readDeadLetterHeaders } from '../../processors/dead-letters.js';
import { verifyAuditLog } from '../../sinks/audit-chain.js';
import type { WriteEntry } from './soak-writer.js';

interface EventShape {
  id?: string;
  op?: string;
  ns?: { coll?: string };
  documentKey?: { _id?: unknown };
  fullDocument?: Record<string, unknown> | null;
  updateDescription?: { updatedFields?: Record<string, unknown> };
}

/** A number from plain JSON or Extended JSON ({ $numberInt: "5" }, { $numberLong }, { $numberDouble }). */
export function numberOf(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (value && typeof value === 'object') {
    const inner = Object.values(value as Record<string, unknown>)[0];
    if (typeof inner === 'string' && inner.trim() !== '' && Number.isFinite(Number(inner))) return Number(inner);
  }
  return undefined;
}

/**
 * The writer's seq an event carries: `w` of an inserted, replaced or snapshot document, or of an
 * update's delta. Not of an update's looked-up document: the lookup shows the document when the source
 * read the change, often after later writes (mongo-java-server sends no delta at all).
 */
export function writeSeqOf(event: EventShape): number | undefined {
  if (event.op === 'update') return numberOf(event.updateDescription?.updatedFields?.['w']);
  if (event.op === 'insert' || event.op === 'replace' || event.op === 'snapshot') return numberOf(event.fullDocument?.['w']);
  return undefined;
}

const keyOf = (coll: string | undefined, id: unknown): string => `${coll ?? '?'}:${String(numberOf(id) ?? JSON.stringify(id))}`;

export interface DeliveryCheck {
  records: number;
  distinctEvents: number;
  repeats: number;
  /**
   * Writes with no event in the topic: an insert or replace whose `w` no event carries, a delete beyond
   * the key's delete events, and (updates that carry no delta cannot be told apart) the last updates of
   * a collection with fewer distinct update events than the writer made.
   */
  missing: WriteEntry[];
  /** seq → first time (producer timestamp) an event of that write reached the topic (traceable writes). */
  firstDelivered: Map<number, number>;
}

/** Every write reached the Kafka-sink topic at least once. */
export function checkDeliveries(log: readonly WriteEntry[], records: readonly IncomingRecord[]): DeliveryCheck {
  const firstDelivered = new Map<number, number>();
  const ids = new Set<string>();
  const deletes = new Map<string, Set<string>>();
  const deleteTimes = new Map<string, number>();
  const updates = new Map<string, Set<string>>();
  for (const record of records) {
    const event = JSON.parse(record.value?.toString() ?? '{}') as EventShape;
    if (event.id) ids.add(event.id);
    if (event.op === 'update') {
      const seen = updates.get(event.ns?.coll ?? '?') ?? new Set<string>();
      seen.add(event.id ?? String(record.offset));
      updates.set(event.ns?.coll ?? '?', seen);
    }
    const seq = writeSeqOf(event);
    if (seq !== undefined) {
      const before = firstDelivered.get(seq);
      if (before === undefined || record.timestamp < before) firstDelivered.set(seq, record.timestamp);
    }
    if (event.op === 'delete') {
      const key = keyOf(event.ns?.coll, event.documentKey?._id);
      const seen = deletes.get(key) ?? new Set<string>();
      const id = event.id ?? String(record.offset);
      seen.add(id);
      deletes.set(key, seen);
      deleteTimes.set(id, Math.min(deleteTimes.get(id) ?? Infinity, record.timestamp));
    }
  }
  const missing: WriteEntry[] = [];
  const deletesWritten = new Map<string, WriteEntry[]>();
  const updatesWritten = new Map<string, WriteEntry[]>();
  for (const entry of log) {
    if (entry.op === 'delete') {
      const key = `${entry.coll}:${entry.id}`;
      deletesWritten.set(key, [...(deletesWritten.get(key) ?? []), entry]);
    } else if (entry.op === 'update' && !firstDelivered.has(entry.seq)) {
      updatesWritten.set(entry.coll, [...(updatesWritten.get(entry.coll) ?? []), entry]);
    } else if (!firstDelivered.has(entry.seq)) {
      missing.push(entry);
    }
  }
  for (const [key, entries] of deletesWritten) {
    // One key's events share a partition, so its k-th delete event is its k-th delete.
    const seen = [...(deletes.get(key) ?? [])];
    entries.forEach((entry, k) => {
      const id = seen[k];
      if (id === undefined) missing.push(entry);
      else firstDelivered.set(entry.seq, deleteTimes.get(id) ?? Infinity);
    });
  }
  for (const [coll, untraced] of updatesWritten) {
    const traced = log.filter((e) => e.coll === coll && e.op === 'update').length - untraced.length;
    const shortBy = untraced.length - Math.max(0, (updates.get(coll)?.size ?? 0) - traced);
    if (shortBy > 0) missing.push(...untraced.slice(-shortBy));
  }
  return {
    records: records.length,
    distinctEvents: ids.size,
    repeats: records.length - ids.size,
    missing: missing.sort((a, b) => a.seq - b.seq),
    firstDelivered,
  };
}

const canonical = (doc: Document): string => EJSON.stringify(doc, { relaxed: false });

/** Canonical Extended JSON with every document's fields sorted: equal content, whatever the field order. */
const contentOf = (doc: Document): string => JSON.stringify(sortFields(EJSON.serialize(doc, { relaxed: false })));

function sortFields(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortFields);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((k) => [k, sortFields((value as Record<string, unknown>)[k])]),
  );
}

/**
 * B holds exactly A's documents, per collection (canonical Extended JSON, by _id). Documents equal but
 * for the order of their fields are counted apart (`fieldOrderOnly`), not as differing.
 */
export async function compareCollections(
  a: Db,
  b: Db,
  collections: readonly string[],
): Promise<
  { coll: string; a: number; b: number; differing: string[]; fieldOrderOnly: number; samples: { id: string; a: string | null; b: string | null }[] }[]
> {
  const out = [];
  for (const coll of collections) {
    const [docsA, docsB] = await Promise.all([a.collection(coll).find().sort({ _id: 1 }).toArray(), b.collection(coll).find().sort({ _id: 1 }).toArray()]);
    const inB = new Map(docsB.map((d) => [canonical({ _id: d['_id'] as unknown }), d]));
    const differing: string[] = [];
    let fieldOrderOnly = 0;
    for (const doc of docsA) {
      const id = canonical({ _id: doc['_id'] as unknown });
      const copy = inB.get(id);
      if (!copy || contentOf(copy) !== contentOf(doc)) differing.push(id);
      else if (canonical(copy) !== canonical(doc)) fieldOrderOnly++;
      inB.delete(id);
    }
    differing.push(...[...inB.keys()].map((id) => `${id} (only in B)`));
    const byId = (docs: Document[]): Map<string, string> => new Map(docs.map((d) => [canonical({ _id: d['_id'] as unknown }), canonical(d)]));
    const [allA, allB] = [byId(docsA), byId(docsB)];
    const samples = differing
      .slice(0, 3)
      .map((d) => d.replace(' (only in B)', ''))
      .map((id) => ({ id, a: allA.get(id) ?? null, b: allB.get(id) ?? null }));
    out.push({ coll, a: docsA.length, b: docsB.length, differing, fieldOrderOnly, samples });
  }
  return out;
}

export interface CacheCheck {
  checkedKeys: number;
  /** Keys whose last write came after Redis's last restart (all keys when it never restarted). */
  expectedLive: number;
  wrong: string[];
}

/**
 * Redis holds `{ n }` of every live document whose last write came after Redis's last (empty)
 * restart, no key of a document deleted after it, and nothing that disagrees with A for any key it
 * holds (older keys may be absent: a restarted cache only has what was written since).
 */
export async function checkCache(
  redis: Redis,
  keyPrefix: string,
  a: Db,
  collections: readonly string[],
  log: readonly WriteEntry[],
  restartedAt: number | undefined,
): Promise<CacheCheck> {
  const lastWrite = new Map<string, WriteEntry>();
  for (const entry of log) lastWrite.set(`${entry.coll}:${entry.id}`, entry);
  const current = new Map<string, number>();
  for (const coll of collections) for (const doc of await a.collection(coll).find().toArray()) current.set(`${coll}:${String(doc['_id'])}`, doc['n'] as number);
  const keys = await scanKeys(redis, `${keyPrefix}ft:*`);
  const values = keys.length > 0 ? await redis.mget(...keys) : [];
  const held = new Map(keys.map((k, i) => [k.slice(`${keyPrefix}ft:`.length), values[i] ?? null]));
  const wrong: string[] = [];
  for (const [key, value] of held) {
    const n = current.get(key);
    if (n === undefined) wrong.push(`${key}: held ${value ?? 'null'} for a deleted document`);
    else if (numberOf((JSON.parse(value ?? 'null') as { n?: unknown } | null)?.n) !== n) wrong.push(`${key}: held ${value ?? 'null'}, A has n=${n}`);
  }
  let expectedLive = 0;
  for (const [key, entry] of lastWrite) {
    if (restartedAt !== undefined && entry.at <= restartedAt) continue;
    if (!current.has(key)) continue;
    expectedLive++;
    if (!held.has(key)) wrong.push(`${key}: missing (A has n=${current.get(key)}, last write #${entry.seq} ${entry.op})`);
  }
  return { checkedKeys: held.size, expectedLive, wrong };
}

async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return keys;
}

export interface AuditCheck {
  ok: boolean;
  records: number;
  broken: string[];
  missingDeletes: number;
}

/** The audit chain verifies and holds at least as many distinct delete records per document as the writer made. */
export async function checkAudit(meta: Db, collection: string, log: readonly WriteEntry[]): Promise<AuditCheck> {
  const verified = await verifyAuditLog(meta, collection);
  const perKey = new Map<string, number>();
  for (const record of await meta.collection(collection).find({ op: 'delete' }).toArray()) {
    const key = keyOf((record['ns'] as { coll?: string } | undefined)?.coll, (record['documentKey'] as { _id?: unknown } | undefined)?._id);
    perKey.set(key, (perKey.get(key) ?? 0) + 1);
  }
  const written = new Map<string, number>();
  for (const entry of log) if (entry.op === 'delete') written.set(`${entry.coll}:${entry.id}`, (written.get(`${entry.coll}:${entry.id}`) ?? 0) + 1);
  let missingDeletes = 0;
  for (const [key, count] of written) missingDeletes += Math.max(0, count - (perKey.get(key) ?? 0));
  return { ok: verified.ok, records: verified.records, broken: verified.broken.map((b) => `${b.stream} #${b.seq}: ${b.reason}`), missingDeletes };
}

export interface DeadLetterCheck {
  total: number;
  /** Reason → count, for entries the soak can explain. */
  explained: Record<string, number>;
  unexplained: string[];
}

/**
 * Dead letters the soak expects: updates that reached the topic unkeyed because their document was
 * deleted before the source looked it up (mongo-java-server has no documentKey for them; the MongoDB
 * sink cannot apply them and a delete of the document follows). Anything else is unexplained.
 */
export function checkDeadLetters(records: readonly IncomingRecord[]): DeadLetterCheck {
  const explained: Record<string, number> = {};
  const unexplained: string[] = [];
  for (const record of records) {
    const info = readDeadLetterHeaders(record.headers);
    const event = JSON.parse(record.value?.toString() ?? '{}') as EventShape;
    if (event.op === 'update' && event.documentKey === undefined && !event.fullDocument) {
      const reason = `${info.trigger ?? '?'}: unkeyed update of a document deleted before the lookup (${info.errorKind})`;
      explained[reason] = (explained[reason] ?? 0) + 1;
    } else {
      unexplained.push(`${info.trigger ?? '?'} ${info.topic ?? '?'}@${info.offset ?? '?'} ${event.op ?? '?'} ${info.errorKind}: ${info.error.slice(0, 300)}`);
    }
  }
  return { total: records.length, explained, unexplained };
}
