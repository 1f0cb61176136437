import type { TopicNames } from '../../core/topics.js';
import type { SourceEntry } from '../../connectors/registry.js';
import type { ViewConfig } from './view-config.js';

export type WatchingSource = { name: string; topic: string };

/**
 * The source of the config that publishes a view's collection, and the topic it publishes it to; or
 * why none does. A view needs full documents on updates (the source's `fullDocument` other than
 * `default`), since a row is computed from the whole document.
 */
export function watchingSource(view: Pick<ViewConfig, 'source'>, sources: readonly SourceEntry[], topics: TopicNames): WatchingSource | { problem: string } {
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
