import type { AppContext, Component, ComponentFactory } from '../../core/app.js';
import type { SourceConfig } from './source-config.js';
import { sourceMetrics } from './source-metrics.js';
import { MongoSource } from './mongo-source.js';

/**
 * All configured MongoDB sources of this process, started and stopped together. Each works on its
 * own: one that fails is shown failed in health (`source:<name>`) while the others go on.
 */
export class MongoSourcesComponent implements Component {
  readonly name = 'sources';
  private readonly running: MongoSource[] = [];

  constructor(private readonly sources: readonly SourceConfig[]) {}

  async start(context: AppContext): Promise<void> {
    const metrics = sourceMetrics(context.metrics);
    for (const config of this.sources) {
      const source = new MongoSource(config, {
        kafka: context.kafka,
        topics: context.topics,
        logger: context.logger,
        health: context.health,
        metrics,
        metadataDb: context.metadata.db,
        partitions: context.config.kafka.partitions,
        ...(context.avro ? { avro: context.avro } : {}),
      });
      source.start();
      this.running.push(source);
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.running.splice(0).map((source) => source.stop()));
  }
}

export const mongoSourcesFactory: ComponentFactory = (config) => (config.sources.length > 0 ? new MongoSourcesComponent(config.sources) : null);
