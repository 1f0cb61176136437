import { Int32, MongoClient } from 'mongodb';
import { MongoSource } from '../../connectors/mongodb/mongo-source.js';
import { sourceConfigSchema } from '../../connectors/mongodb/source-config.js';
import { sourceMetrics } from '../../connectors/mongodb/source-metrics.js';
import { silentLogger } from '../../core/logger.js';
import type { ConsoleService } from './console-service.js';
import { eventually, testInfra } from './infra.js';

/**
 * A real MongoDB source inside the console's service (its Kafka, topics, health and metrics), as
 * the config source `alice-orders` would run: writes to alice_shop.orders reach alice's trigger topic.
 */
export async function startConsoleSource(service: ConsoleService): Promise<{ source: MongoSource; mongo: MongoClient; stop: () => Promise<void> }> {
  const infra = testInfra();
  const context = service.app.context;
  const config = sourceConfigSchema.parse({ name: 'alice-orders', uri: infra.mongodb, watch: { db: 'alice_shop', coll: 'orders' }, snapshot: 'never' });
  const source = new MongoSource(config, {
    kafka: context.kafka,
    topics: context.topics,
    logger: silentLogger,
    health: context.health,
    metrics: sourceMetrics(context.metrics),
    metadataDb: context.metadata.db,
    partitions: 1,
  });
  source.start();
  await eventually(() => context.health.report().components['source:alice-orders']?.state === 'running', 'source alice-orders streaming', 30_000);
  const mongo = new MongoClient(infra.mongodb);
  await mongo.connect();
  return {
    source,
    mongo,
    stop: async () => {
      await source.stop();
      await mongo.close();
    },
  };
}

/** An order the console tests write (with the `seq` the tenants' test function reads), by a unique id. */
export async function insertOrder(mongo: MongoClient, id: string, seq: number): Promise<void> {
  await mongo
    .db('alice_shop')
    .collection<{ _id: string; seq: Int32; poison: boolean }>('orders')
    .insertOne({ _id: id, seq: new Int32(seq), poison: false });
}
