import type { AppContext, Component } from '../../core/app.js';
import type { MongoSource } from './mongo-source.js';
import type { SourceConfig } from './source-config.js';
import { createMongoSource, type SourceServices } from './source-factory.js';

/**
 * All configured MongoDB sources of this process, started and stopped together. Each works on its
 * own: one that fails is shown failed in health (`source:<name>`) while the others go on.
 */
export class MongoSourcesComponent implements Component {
  readonly name = 'sources';
  private readonly running: MongoSource[] = [];

  constructor(
    private readonly sources: readonly SourceConfig[],
    private readonly services: Pick<SourceServices, 'avro'> = {},
  ) {}

  async start(context: AppContext): Promise<void> {
    for (const config of this.sources) {
      const source = createMongoSource(config, context, this.services);
      source.start();
      this.running.push(source);
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.running.splice(0).map((source) => source.stop()));
  }
}

/** The configured sources' component, or null when the config has none. */
export function mongoSourcesComponent(sources: readonly SourceConfig[], services: Pick<SourceServices, 'avro'> = {}): Component | null {
  return sources.length > 0 ? new MongoSourcesComponent(sources, services) : null;
}
