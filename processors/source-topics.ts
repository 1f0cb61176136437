import type { TopicNames } from '../core/topics.js';
import type { TriggerConfig } from './trigger-config.js';

/** What a trigger's consumer subscribes to. */
export interface Subscription {
  /** Exact topic names (created if missing, so a trigger may start before its source). */
  topics: string[];
  /** A pattern over topic names (a whole database); only topics that exist are matched. */
  pattern?: RegExp;
  /** For logs and errors. */
  description: string;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * `{ topic }` → that topic; `{ db, coll }` → `<prefix>.<db>.<coll>`; `{ db }` → every collection topic
 * of the database, `<prefix>.<db>.<coll>`, except `<prefix>.<db>.__ddl`: DDL events are also written to
 * the collection's own topic, so reading `__ddl` as well would deliver them twice. Names whose
 * collection part starts with `__` are changeflow's own and never matched.
 */
export function subscriptionFor(source: TriggerConfig['source'], topics: TopicNames): Subscription {
  if ('topic' in source) return { topics: [source.topic], description: `topic ${source.topic}` };
  if (source.coll !== undefined) {
    const topic = topics.change(source.db, source.coll);
    return { topics: [topic], description: `topic ${topic}` };
  }
  const prefix = `${topics.prefix}.${source.db}.`;
  return {
    topics: [],
    pattern: new RegExp(`^${escapeRegExp(prefix)}(?!__).+$`),
    description: `topics ${prefix}* (database ${source.db})`,
  };
}

/** Topics of `all` that a subscription reads. */
export function matchingTopics(subscription: Subscription, all: readonly string[]): string[] {
  const { pattern } = subscription;
  return pattern ? all.filter((t) => pattern.test(t)).sort() : [...subscription.topics];
}
