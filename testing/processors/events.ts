import { EJSON, ObjectId } from '../../schemas/bson.js';
import type { OutgoingRecord } from '../../core/kafka/index.js';
import type { ChangeEvent, ChangeOperation } from '../../schemas/envelope.js';

/** A change event in envelope format, as the source connector writes it (tests and benchmarks). */
export function makeChangeEvent(options: {
  db: string;
  coll: string;
  docId: number | string;
  seq: number;
  op?: ChangeOperation;
  fields?: Record<string, unknown>;
  padBytes?: number;
}): ChangeEvent {
  const op = options.op ?? 'insert';
  const documentKey = EJSON.serialize({ _id: options.docId }, { relaxed: false }) as Record<string, unknown>;
  const doc = {
    _id: options.docId,
    seq: options.seq,
    name: `doc-${options.docId}`,
    at: new Date(1_700_000_000_000 + options.seq),
    ref: new ObjectId(options.seq.toString(16).padStart(24, '0')),
    ...(options.fields ?? {}),
    ...(options.padBytes ? { pad: 'x'.repeat(options.padBytes) } : {}),
  };
  const event: ChangeEvent = {
    v: 1,
    id: `${options.db}.${options.coll}:${options.seq}`,
    op,
    ns: { db: options.db, coll: options.coll },
    documentKey,
    clusterTime: { t: 1_700_000_000 + Math.floor(options.seq / 1000), i: options.seq % 1000 },
    wallTime: new Date(1_700_000_000_000 + options.seq).toISOString(),
    source: { name: 'test', cluster: 'test-cluster' },
  };
  if (op !== 'delete') event.fullDocument = EJSON.serialize(doc, { relaxed: false }) as Record<string, unknown>;
  return event;
}

/** The Kafka record of an event: key = canonical EJSON of documentKey, headers op / ns / id. */
export function changeRecord(topic: string, event: ChangeEvent): OutgoingRecord {
  return {
    topic,
    key: JSON.stringify(event.documentKey ?? {}),
    value: JSON.stringify(event),
    headers: { op: event.op, ns: event.ns.coll === undefined ? event.ns.db : `${event.ns.db}.${event.ns.coll}`, id: event.id },
  };
}
