import type { OutgoingRecord } from '../../core/kafka/transport.js';
import type { TopicNames } from '../../core/topics.js';
import type { ChangeEvent, ChangeOperation } from '../../schemas/envelope.js';
import type { EncodedChange } from './change-encoder.js';

const ddlOperations: ReadonlySet<ChangeOperation> = new Set(['drop', 'rename', 'dropDatabase']);

/** `db.coll`, or `db` for database-level events (the `ns` header). */
export function namespaceText(ns: ChangeEvent['ns']): string {
  return ns.coll === undefined ? ns.db : `${ns.db}.${ns.coll}`;
}

/**
 * The Kafka records of one change: one on `<prefix>.<db>.<coll>` (or the source's template) and,
 * for DDL, one more on `<prefix>.<db>.__ddl`. Events without a document key are keyed by namespace
 * so that a collection's DDL stays in order.
 */
export function changeRecords(change: EncodedChange, topics: TopicNames, template?: string): OutgoingRecord[] {
  const { event } = change;
  const ns = namespaceText(event.ns);
  const value = JSON.stringify(event);
  const headers = { op: event.op, ns, id: event.id };
  const key = change.key ?? ns;
  const records: OutgoingRecord[] = [];
  if (event.ns.coll !== undefined) records.push({ topic: topics.change(event.ns.db, event.ns.coll, template), key, value, headers });
  if (ddlOperations.has(event.op) || event.ns.coll === undefined) records.push({ topic: topics.ddl(event.ns.db), key, value, headers });
  return records;
}

/** Bytes a record takes on the wire, near enough to compare with the broker's limit. */
export function recordSize(record: OutgoingRecord): number {
  let size = 64;
  size += record.key === null ? 0 : Buffer.byteLength(record.key);
  size += record.value === null ? 0 : Buffer.byteLength(record.value);
  for (const [name, value] of Object.entries(record.headers ?? {})) size += Buffer.byteLength(name) + Buffer.byteLength(value) + 8;
  return size;
}
