import type { TopicNames } from '../../core/topics.js';
import type { SourceEntry } from '../../connectors/registry.js';
import { compilePipeline } from './pipeline.js';
import type { ViewConfig } from './view-config.js';

export type WatchingSource = { name: string; topic: string };

/**
 * The source of the config that publishes a view's collection, and the topic it publishes it to; or
 * why none does. A view needs full documents on updates (the source's `fullDocument` other than
 * `default`), since a row is computed from the whole document.
 */
export function watchingSource(
  view: { source: { db: string; coll: string } },
  sources: readonly SourceEntry[],
  topics: TopicNames,
): WatchingSource | { problem: string } {
  const { db, coll } = view.source;
  const watching = sources.filter((s) => s.kind === 'mongodb' && (s.watch.db === undefined || (s.watch.db === db && (s.watch.coll ?? coll) === coll)));
  const source = watching[0];
  if (!source)
    return {
      problem: `no source watches ${db}.${coll}; add a source with watch: { db: ${db}, coll: ${coll} } (or its database) so the view can read its change topic`,
    };
  if (source.fullDocument === 'default')
    return {
      problem: `source "${source.name}" publishes updates of ${db}.${coll} without the full document (fullDocument: default); a view needs updateLookup, whenAvailable or required`,
    };
  return { name: source.name, topic: topics.change(db, coll, source.topic) };
}

/** The topics a view reads: its collection's and, with a `$lookup`, the foreign collection's (same database); or why one is missing. */
export function viewTopics(
  view: Pick<ViewConfig, 'source' | 'pipeline'>,
  sources: readonly SourceEntry[],
  topics: TopicNames,
): { source: string; foreign?: string } | { problem: string } {
  const local = watchingSource(view, sources, topics);
  if ('problem' in local) return local;
  const from = compilePipeline(view.pipeline).lookup?.from;
  if (from === undefined) return { source: local.topic };
  const foreign = watchingSource({ source: { db: view.source.db, coll: from } }, sources, topics);
  if ('problem' in foreign) return { problem: `$lookup from ${from}: ${foreign.problem}` };
  return { source: local.topic, foreign: foreign.topic };
}
