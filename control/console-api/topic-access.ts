import { z } from 'zod';
import type { TopicNames } from '../../core/topics.js';
import type { IncomingRecord } from '../../core/kafka/index.js';
import { changeOperations, isChangeEventShape } from '../../schemas/envelope.js';
import { isInternalTopic, topicMatches } from '../../sinks/topic-guard.js';
import type { Principal } from '../auth.js';
import type { TriggerDoc } from '../documents.js';
import type { RunPlan } from '../tenant-policy.js';
import { ownTopicPrefix } from '../tenant-sources.js';

/**
 * The topics (or `prefix.db.*` patterns) a trigger reads and, through Kafka sinks, writes, as the
 * tenant rules run it (`plan`, the reconciler's): never what a stored trigger merely declares, since a
 * trigger written straight into the metadata store could name any topic.
 */
export function topicsOfTrigger(trigger: Pick<TriggerDoc, 'config'>, plan: RunPlan, topics: TopicNames): string[] {
  const found: string[] = [];
  const source = sourceTopicOf(trigger, plan, topics);
  if (source !== undefined) found.push(source);
  for (const sink of plan.sinks) {
    const topic = sink.kind === 'kafka' ? sink.options['topic'] : undefined;
    if (typeof topic === 'string' && topic !== '') found.push(topic);
  }
  return found;
}

/** The topic (or `prefix.db.*` pattern) a DATABASE trigger reads as planned; undefined for other triggers. */
export function sourceTopicOf(trigger: Pick<TriggerDoc, 'config'>, plan: RunPlan, topics: TopicNames): string | undefined {
  const db = trigger.config.database;
  if (plan.source && 'topic' in plan.source) return plan.source.topic;
  if (db?.topic) return db.topic;
  return db?.database ? topics.change(db.database, db.collection || '*') : undefined;
}

/**
 * Why the caller may not browse `topic`, or undefined. An admin may browse any changeflow topic
 * (under the prefix, internal ones included). A tenant only the topics its own triggers read or write,
 * and never an internal topic, the audit topic or another user's own-source topic, even when one of its
 * triggers names a pattern (`<prefix>.db.*`) or a stored trigger predates a stricter rule.
 */
export function topicRefusal(
  principal: Pick<Principal, 'userId' | 'admin'>,
  topic: string,
  triggerTopics: readonly string[],
  prefix: string,
): string | undefined {
  if (!topic.startsWith(`${prefix}.`)) return `"${topic}" is not one of changeflow's topics (${prefix}.*)`;
  if (principal.admin) return undefined;
  const notYours = `"${topic}" is not a topic your triggers read or write`;
  if (isInternalTopic(topic, prefix) || topic === `${prefix}.audit`) return notYours;
  if (topic.startsWith(`${prefix}.ds-`) && !topic.startsWith(ownTopicPrefix(prefix, principal.userId))) return notYours;
  return topicMatches(topic, triggerTopics) ? undefined : notYours;
}

export const recordFilterSchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  op: z.enum(changeOperations).optional(),
  ns: z
    .string()
    .regex(/^[^.\s]{1,120}(\.[^\s]{1,200})?$/, { error: 'a namespace: "db" or "db.coll"' })
    .optional(),
  key: z.string().min(1).max(500).optional(),
});
export type RecordFilter = z.output<typeof recordFilterSchema>;

export interface RecordView {
  partition: number;
  offset: string;
  timestamp: string;
  key: string | null;
  /** The change event's op and `db.coll`, or null when the value is not a change event. */
  op: string | null;
  ns: string | null;
  /** The value parsed as JSON when it is JSON, else its UTF-8 text (Avro values are shown as not decoded). */
  event: unknown;
}

function eventOf(value: Buffer | null): unknown {
  if (value === null) return null;
  if (value[0] === 0 && value.length > 5) return `(${value.length} bytes, Avro: not decoded here)`;
  const text = value.toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

export function recordView(record: IncomingRecord): RecordView {
  const event = eventOf(record.value);
  const change = isChangeEventShape(event) ? event : undefined;
  return {
    partition: record.partition,
    offset: record.offset,
    timestamp: new Date(record.timestamp).toISOString(),
    key: record.key === null ? null : record.key.toString('utf8'),
    op: change?.op ?? null,
    ns: change ? (change.ns.coll === undefined ? change.ns.db : `${change.ns.db}.${change.ns.coll}`) : null,
    event,
  };
}

/** Records matching every given filter (op and namespace exactly, key as a substring of the record key), newest `limit` last. */
export function filterRecords(records: readonly RecordView[], filter: RecordFilter): RecordView[] {
  return records
    .filter((r) => (filter.op === undefined || r.op === filter.op) && (filter.ns === undefined || r.ns === filter.ns))
    .filter((r) => filter.key === undefined || (r.key !== null && r.key.includes(filter.key)))
    .sort((a, b) => a.timestamp.localeCompare(b.timestamp) || a.partition - b.partition || Number(a.offset) - Number(b.offset))
    .slice(-filter.limit);
}
