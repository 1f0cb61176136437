import { z } from 'zod';

/** A topic name, or a prefix ending in `*`. */
const pattern = z.string().regex(/^[A-Za-z0-9._-]{0,249}\*?$/, { error: 'a topic name, or a prefix ending in "*"' });

/**
 * Which topics a Kafka sink may write, per record (a function's action can name any topic). The
 * control plane sets it on a tenant's Kafka sinks: changeflow's internal topics under
 * `internalPrefix` are refused even if granted; a topic matching `forbidden` only when no `granted`
 * pattern matches it.
 */
export const topicGuardSchema = z.strictObject({
  internalPrefix: z.string().min(1),
  forbidden: z.array(pattern).default([]),
  granted: z.array(pattern).default([]),
});
export type TopicGuard = z.output<typeof topicGuardSchema>;

export function topicMatches(topic: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => (p.endsWith('*') ? topic.startsWith(p.slice(0, -1)) : topic === p));
}

/**
 * changeflow's own topics: `<prefix>.__offsets`, `<prefix>.__dlq.*`, `<prefix>.__schedule.*`, and any
 * name under the prefix with a segment starting `__` (`<prefix>.<db>.__ddl`).
 */
export function isInternalTopic(topic: string, prefix: string): boolean {
  if (!topic.startsWith(`${prefix}.`)) return false;
  return topic
    .slice(prefix.length + 1)
    .split('.')
    .some((segment) => segment.startsWith('__'));
}

/** Why `topic` may not be written, or undefined when it may. */
export function topicRefusal(topic: string, guard: TopicGuard | undefined): string | undefined {
  if (!guard) return undefined;
  if (isInternalTopic(topic, guard.internalPrefix)) return `topic "${topic}" is internal to changeflow and never written by a tenant's sink`;
  if (topicMatches(topic, guard.forbidden) && !topicMatches(topic, guard.granted)) {
    return `topic "${topic}" is not granted to this trigger's owner (granted: ${guard.granted.join(', ') || 'none'}; an admin grants topics in auth.tenants[].sinkTopics)`;
  }
  return undefined;
}
