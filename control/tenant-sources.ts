import { createHash } from 'node:crypto';

const hex = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/** The first half of every source name a user's data_sources get: ties a `ds-` topic to its owner. */
export function ownerTag(userId: string): string {
  return hex(`owner\n${userId}`).slice(0, 12);
}

/**
 * The source started for a control-plane trigger's own `data_source`: `ds-<owner tag><namespace
 * hash>`, 24 hex digits, publishing every event to the one topic `<prefix>.ds-…`. The owner is part
 * of the name, so two users naming the same URI and namespace get two sources and two topics, and no
 * config source (`<prefix>.<db>.<coll>`) or other user's source ever shares its topic.
 */
export function ownSource(prefix: string, userId: string, need: { dataSource: string; db: string; coll?: string }): { name: string; topic: string } {
  const name = `ds-${ownerTag(userId)}${hex(`${need.dataSource.trim()}\n${need.db}\n${need.coll ?? ''}`).slice(0, 12)}`;
  return { name, topic: `${prefix}.${name}` };
}

/** Every topic of `userId`'s own sources starts with this. */
export function ownTopicPrefix(prefix: string, userId: string): string {
  return `${prefix}.ds-${ownerTag(userId)}`;
}

export interface WatchedSource {
  name: string;
  uri: string;
  watch: { db?: string | undefined; coll?: string | undefined };
  topic?: string | undefined;
  readers: readonly string[];
}

/** The source publishes every change of the namespace (`coll` undefined = the whole database). */
export function coversNamespace(source: Pick<WatchedSource, 'watch'>, db: string, coll: string | undefined): boolean {
  if (source.watch.db === undefined) return true;
  if (source.watch.db !== db) return false;
  return source.watch.coll === undefined || source.watch.coll === coll;
}

/** The source publishes some change of the namespace (it and the namespace share at least one collection). */
export function overlapsNamespace(source: Pick<WatchedSource, 'watch'>, db: string, coll: string | undefined): boolean {
  if (source.watch.db === undefined) return true;
  if (source.watch.db !== db) return false;
  return source.watch.coll === undefined || coll === undefined || source.watch.coll === coll;
}

/** The topics a config source writes, as patterns (`*` = any name within one segment is approximated by a prefix). */
export function sourceTopicPattern(prefix: string, source: Pick<WatchedSource, 'watch' | 'topic'>): string {
  const template = source.topic ?? '{prefix}.{db}.{coll}';
  const filled = template
    .replaceAll('{prefix}', prefix)
    .replaceAll('{db}', source.watch.db ?? '\0')
    .replaceAll('{coll}', source.watch.coll ?? '\0');
  const cut = filled.indexOf('\0');
  return cut === -1 ? filled : `${filled.slice(0, cut)}*`;
}

export function describeSource(source: Pick<WatchedSource, 'name' | 'watch'>): string {
  const ns = source.watch.db === undefined ? '*' : source.watch.coll === undefined ? `${source.watch.db}.*` : `${source.watch.db}.${source.watch.coll}`;
  return `${source.name} (${ns})`;
}
