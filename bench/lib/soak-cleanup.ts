import type { Redis } from 'ioredis';
import type { MongoClient } from 'mongodb';
import type { SoakNames } from './soak-pipeline.js';
import type { ExternalServers } from './soak-servers.js';

/**
 * After a passing run on servers of the user's, removes what the run left there: its databases on A
 * and B and its Redis keys (Kafka topics `<prefix>.*` stay: deleting topics is the broker owner's
 * call). A failing run keeps everything for a look. The soak's own servers go with their work dir.
 */
export async function removeRunData(
  at: { clientA: MongoClient; clientB: MongoClient; redis: Redis },
  names: SoakNames,
  external: ExternalServers,
  log: (line: string) => void,
): Promise<void> {
  if (external.mongoA) {
    await at.clientA.db(names.dbA).dropDatabase();
    await at.clientA.db(names.meta).dropDatabase();
  }
  if (external.mongoB) await at.clientB.db(names.dbB).dropDatabase();
  let keys = 0;
  if (external.redis) {
    let cursor = '0';
    do {
      const [next, batch] = await at.redis.scan(cursor, 'MATCH', `${names.redisKeyPrefix}*`, 'COUNT', 1000);
      if (batch.length > 0) keys += await at.redis.del(...batch);
      cursor = next;
    } while (cursor !== '0');
  }
  if (external.mongoA || external.mongoB || external.redis) {
    log(
      `removed this run's data from your servers (databases ${names.dbA}, ${names.meta}, ${names.dbB} where yours; ${keys} Redis keys ${names.redisKeyPrefix}*); Kafka topics ${names.prefix}.* stay`,
    );
  }
}
