import { MongoClient } from 'mongodb';
import { compileCoreConfig, type CoreConfig } from '../../core/config.js';
import { Health } from '../../core/health.js';
import { createKafkaTransport, type KafkaClientName } from '../../core/kafka/index.js';
import { silentLogger, type Logger } from '../../core/logger.js';
import { createMetricsRegistry } from '../../core/metrics.js';
import { TopicNames } from '../../core/topics.js';
import type { RuntimeContext } from '../../processors/trigger-runtime.js';

/**
 * What the processors need of the app, without the HTTP server or a MongoDB connection (tests and
 * benchmarks). The metadata client is created but never connected unless a sink uses it.
 */
export function processorContext(options: {
  brokers: string;
  prefix?: string;
  mongodbUri?: string;
  logger?: Logger;
  config?: Partial<CoreConfig>;
  client?: KafkaClientName;
}): RuntimeContext & { close(): Promise<void> } {
  const config = compileCoreConfig(
    {
      kafka: { brokers: options.brokers.split(','), topicPrefix: options.prefix ?? 'changeflow' },
      ...(options.mongodbUri ? { mongodb: { uri: options.mongodbUri } } : {}),
    },
    {},
  );
  const logger = options.logger ?? silentLogger;
  const client = new MongoClient(config.mongodb.uri);
  return {
    config: { ...config, ...(options.config ?? {}) },
    logger,
    metrics: createMetricsRegistry({ defaultMetrics: false }),
    health: new Health(),
    kafka: createKafkaTransport(options.client ?? config.kafka.client, { brokers: config.kafka.brokers }, logger),
    topics: new TopicNames(config.kafka.topicPrefix),
    metadata: { client, db: client.db(config.mongodb.db) },
    close: () => client.close(),
  };
}
