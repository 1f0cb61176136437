import type { AppContext } from '../../core/app.js';
import type { SourceServices } from '../source.js';
import { MongoSource } from './mongo-source.js';
import type { SourceConfig } from './source-config.js';
import { sourceMetrics } from './source-metrics.js';

/** The one way a MongoDB source is built, for config sources and for sources a trigger needs alike. */
export function createMongoSource(config: SourceConfig, context: AppContext, services: SourceServices = {}): MongoSource {
  return new MongoSource(config, {
    kafka: context.kafka,
    topics: context.topics,
    logger: context.logger,
    health: context.health,
    metrics: sourceMetrics(context.metrics),
    metadataDb: context.metadata.db,
    partitions: context.config.kafka.partitions,
    ...(services.owner ? { owner: services.owner } : {}),
    ...(services.avro ? { avro: services.avro } : {}),
  });
}
