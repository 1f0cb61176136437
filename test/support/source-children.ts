import { MongoClient } from 'mongodb';
import { createKafkajsTransport } from '../../core/kafka/kafkajs.js';
import { TopicNames } from '../../core/topics.js';
import type { ChildService } from '../../testing/mongodb/child-service.js';
import { testInfra, uniqueName } from './infra.js';

/**
 * What the child-process source suites share: a watched database and a metadata database of their own,
 * a topic prefix, a Kafka admin and MongoDB client connected for the suite, the `changeflow run` config of
 * one source on `<db>.items`, and the children it started (killed, databases dropped, clients closed after).
 * Registers its own beforeAll/afterAll.
 */
export function sourceChildSuite(label: string, source: Record<string, unknown>) {
  const infra = testInfra();
  const kafka = createKafkajsTransport({ brokers: [infra.kafka] });
  const admin = kafka.admin();
  const client = new MongoClient(infra.mongodb);
  const dbName = uniqueName(`${label}db`);
  const metaDb = uniqueName(`${label}meta`);
  const topics = new TopicNames(uniqueName(`cf${label}`));
  const children: ChildService[] = [];
  const config = {
    kafka: { brokers: [infra.kafka], topicPrefix: topics.prefix, partitions: 3 },
    mongodb: { uri: infra.mongodb, db: metaDb },
    http: { port: 0 },
    grpc: { port: 0 },
    sources: [{ uri: infra.mongodb, watch: { db: dbName, coll: 'items' }, snapshot: 'never', checkpointIntervalMs: 200, ...source }],
  };

  beforeAll(async () => {
    await Promise.all([admin.connect(), client.connect()]);
  });

  afterAll(async () => {
    await Promise.all(children.map((c) => c.kill()));
    await client
      .db(dbName)
      .dropDatabase()
      .catch(() => undefined);
    await client
      .db(metaDb)
      .dropDatabase()
      .catch(() => undefined);
    await Promise.all([admin.disconnect(), client.close()]);
  });

  return { kafka, admin, client, dbName, topics, children, config };
}
