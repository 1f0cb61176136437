import type { OutgoingRecord } from '../../core/kafka/index.js';
import type { TopicNames } from '../../core/topics.js';
import { toEJson, toEJsonDocument } from '../../schemas/ejson.js';
import type { ChangeEvent } from '../../schemas/envelope.js';
import type { RowChange } from './view-engine.js';

/** The change feed of a view: `<prefix>.view.<name>`, compacted, so its last record per key is the row. */
export function viewFeedTopic(topics: TopicNames, name: string): string {
  return `${topics.prefix}.view.${name}`;
}

export interface FeedContext {
  view: string;
  topic: string;
  target: { db: string; coll: string };
  /** What caused the change (source topic, partition and offset): with the row key, a unique id. */
  cause: string;
}

/**
 * A row change as a change event, keyed like source topics (canonical Extended JSON of
 * `documentKey`): `insert` for a new row, `replace` (the whole new row in `fullDocument`) for a
 * changed one, `delete` (no `fullDocument`) for a row that went.
 */
export function feedRecord(change: RowChange, context: FeedContext): OutgoingRecord {
  const op: ChangeEvent['op'] = change.before === undefined ? 'insert' : change.after === undefined ? 'delete' : 'replace';
  const id = `view:${context.view}:${context.cause}:${change.key}`;
  const event: ChangeEvent = {
    v: 1,
    id,
    op,
    ns: { db: context.target.db, coll: context.target.coll },
    documentKey: { _id: toEJson(change.id) ?? null },
    ...(change.after !== undefined ? { fullDocument: toEJsonDocument(change.after) } : {}),
    wallTime: new Date().toISOString(),
    source: { name: `view:${context.view}`, cluster: 'changeflow' },
  };
  return {
    topic: context.topic,
    key: change.key,
    value: JSON.stringify(event),
    headers: { op, ns: `${context.target.db}.${context.target.coll}`, id },
  };
}
