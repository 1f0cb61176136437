import { Int32, MongoClient, type Db } from 'mongodb';
import { GENESIS_HASH, recordHash, type AuditRecord } from '../../sinks/audit-chain.js';
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

/** `n` chained audit records of one stream in `collection` of the metadata store, as the audit sink writes them. */
export async function writeAuditChain(db: Db, collection: string, stream: string, n: number): Promise<void> {
  let prevHash = GENESIS_HASH;
  for (let seq = 1; seq <= n; seq++) {
    const record: Omit<AuditRecord, 'hash'> = {
      _id: `${stream}:${seq}`,
      stream,
      seq,
      op: 'delete',
      ns: { db: 'alice_shop', coll: 'orders' },
      documentKey: { _id: `order-${seq}` },
      at: new Date(Date.UTC(2026, 0, 1, 0, 0, seq)).toISOString(),
      actor: { user: `clerk-${seq}` },
      source: { name: 'alice-orders', cluster: 'test' },
      trigger: 'alice-audit',
      recordedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, seq)).toISOString(),
      prevHash,
    };
    const hash = recordHash(record);
    await db.collection<AuditRecord>(collection).insertOne({ ...record, hash });
    await db
      .collection<{ _id: string; seq: number; hash: string }>(`${collection}_heads`)
      .updateOne({ _id: stream }, { $set: { seq, hash } }, { upsert: true });
    prevHash = hash;
  }
}
