import type { OutgoingRecord } from '../../core/kafka/transport.js';
import type { TopicNames } from '../../core/topics.js';
import type { ChangeEvent, ChangeOperation } from '../../schemas/envelope.js';
import type { SourceChange } from './source-change.js';

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
export function changeRecords(change: SourceChange, topics: TopicNames, template?: string, encodeValue?: ValueEncoder): OutgoingRecord[] {
  const ns = namespaceText(change.ns);
  // JSON is the same bytes on every topic; Avro is framed with each topic's schema id. Encoded to UTF-8
  // once here: a string value would be scanned for its size here and by the client, then encoded again.
  const json = encodeValue ? undefined : (change.json ?? Buffer.from(JSON.stringify(change.event())));
  const valueFor = (topic: string): Buffer | string => json ?? (encodeValue as ValueEncoder)(topic, change.event());
  const headers = { op: change.op, ns, id: change.id };
  const key = change.key ?? ns;
  return changeTopics(change, topics, template).map((topic) => ({ topic, key, value: valueFor(topic), headers }));
}

/** A record value for `topic` (JSON by default; the Avro codec's encodeSync for `format: avro`). */
export type ValueEncoder = (topic: string, event: ChangeEvent) => Buffer | string;

/** The topics a change goes to: its collection's topic and, for DDL or database-level events, `<prefix>.<db>.__ddl`. */
export function changeTopics(change: Pick<ChangeEvent, 'op' | 'ns'>, topics: TopicNames, template?: string): string[] {
  const out: string[] = [];
  if (change.ns.coll !== undefined) out.push(topics.change(change.ns.db, change.ns.coll, template));
  if (ddlOperations.has(change.op) || change.ns.coll === undefined) out.push(topics.ddl(change.ns.db));
  return out;
}

/** Bytes a record takes on the wire, near enough to compare with the broker's limit. */
export function recordSize(record: OutgoingRecord): number {
  let size = 64;
  size += record.key === null ? 0 : Buffer.byteLength(record.key);
  size += record.value === null ? 0 : Buffer.byteLength(record.value);
  for (const [name, value] of Object.entries(record.headers ?? {})) size += Buffer.byteLength(name) + Buffer.byteLength(value) + 8;
  return size;
}
