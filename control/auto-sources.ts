import { createHash } from 'node:crypto';
import type { AppContext } from '../core/app.js';
import { errorMessage } from '../core/errors.js';
import type { HealthOwner } from '../core/health.js';
import type { Logger } from '../core/logger.js';
import type { MongoSource } from '../connectors/mongodb/mongo-source.js';
import { sourceConfigSchema, type SourceConfig } from '../connectors/mongodb/source-config.js';
import { createMongoSource } from '../connectors/mongodb/source-factory.js';
import type { AvroCodec } from '../schemas/avro-codec.js';
import { redactUri } from './redact.js';

export interface SourceNeed {
  dataSource: string;
  db: string;
  coll?: string;
  /** The source's name and only topic, when the tenant policy chose a source of the trigger owner's own. */
  source?: { name: string; topic: string };
  /** Who answers for the source in health (the trigger's owner); default `instance`. */
  owner?: HealthOwner;
}

function covers(source: Pick<SourceConfig, 'uri' | 'watch'>, need: SourceNeed): boolean {
  if (source.uri.trim() !== need.dataSource.trim()) return false;
  if (source.watch.db === undefined) return true;
  if (source.watch.db !== need.db) return false;
  return source.watch.coll === undefined || source.watch.coll === need.coll;
}

/**
 * Starts a MongoDB source for a DATABASE trigger's own data_source. With the tenant policy (the
 * control plane's default) the policy names it: `ds-<owner><namespace>`, one per owner, URI and
 * namespace, publishing to its own topic `<prefix>.ds-…` (control/tenant-sources.ts). Without it, a
 * source for a namespace no source publishes yet: same
 * URI and a watch covering the trigger's database (and collection). The source is named
 * `auto-<hash of uri, db, coll>`, so its stored position and lease survive restarts and several
 * instances share it (one tails, the others stand by). Auto sources run until the process stops,
 * even after their last trigger is deleted (cheap, and a trigger created again resumes at once).
 * A trigger with an empty data_source, or a `topic`, gets no source.
 *
 * These sources dead-letter an event larger than Kafka accepts (`oversized: dlq`, to
 * `<prefix>.__dlq.source.<name>`) and go on: stopping would stall every trigger reading the source
 * on one document nobody on the instance chose to fail on. A source that stopped for good (its
 * server is not a replica set, history lost) is shown failed in health under its owner and is
 * started afresh when a trigger needing it is applied again (created or changed).
 */
export class AutoSources {
  private readonly started = new Map<string, { config: SourceConfig; source: MongoSource }>();
  private readonly logger: Logger;

  constructor(
    private readonly context: AppContext,
    /** The config's own sources: a namespace one of them covers needs no other. */
    private readonly configured: readonly SourceConfig[],
    private readonly avro?: AvroCodec,
  ) {
    this.logger = context.logger.child({ component: 'auto-sources' });
  }

  readonly ensure = async (need: SourceNeed): Promise<void> => {
    if (need.dataSource === '') return;
    const watch = need.coll ? { db: need.db, coll: need.coll } : { db: need.db };
    let config: SourceConfig;
    if (need.source) {
      if (await this.running(need.source.name)) return;
      config = sourceConfigSchema.parse({ name: need.source.name, uri: need.dataSource, watch, topic: need.source.topic, oversized: 'dlq' });
    } else {
      if (this.configured.some((s) => covers(s, need))) return;
      const covering = [...this.started.values()].find((s) => covers(s.config, need));
      if (covering && (await this.running(covering.config.name))) return;
      const digest = createHash('sha256')
        .update(`${need.dataSource}\n${need.db}\n${need.coll ?? ''}`)
        .digest('hex')
        .slice(0, 12);
      config = covering?.config ?? sourceConfigSchema.parse({ name: `auto-${digest}`, uri: need.dataSource, watch, oversized: 'dlq' });
    }
    const source = createMongoSource(config, this.context, { owner: need.owner ?? 'instance', ...(this.avro ? { avro: this.avro } : {}) });
    source.start();
    this.started.set(config.name, { config, source });
    this.logger.info(
      { source: config.name, uri: redactUri(need.dataSource), db: need.db, coll: need.coll ?? null },
      "started a source for a trigger's namespace",
    );
  };

  /** Whether the named source is started and working; one that stopped for good is stopped here, to be started afresh. */
  private async running(name: string): Promise<boolean> {
    const entry = this.started.get(name);
    if (!entry) return false;
    const failure = entry.source.failed;
    if (!failure) return true;
    this.started.delete(name);
    this.logger.info({ source: name, err: errorMessage(failure) }, 'restarting a source that had stopped for good, for a trigger applied again');
    await entry.source.stop().catch((error: unknown) => this.logger.warn({ source: name, err: errorMessage(error) }, 'auto source stop failed'));
    return false;
  }

  names(): string[] {
    return [...this.started.keys()];
  }

  async stop(): Promise<void> {
    const all = [...this.started.values()];
    this.started.clear();
    await Promise.all(
      all.map((s) =>
        s.source.stop().catch((error: unknown) => this.logger.warn({ source: s.config.name, err: errorMessage(error) }, 'auto source stop failed')),
      ),
    );
  }
}
