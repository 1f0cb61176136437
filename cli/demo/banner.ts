import { join } from 'node:path';
import { packageRoot } from '../../core/infra/paths.js';
import type { DemoNames } from './config.js';

export interface BannerInput {
  names: DemoNames;
  kafka: string;
  /** Which Kafka client each role uses, e.g. `produce on librdkafka, consume on kafkajs`. */
  kafkaClients: string;
  mongodb: string;
  redis: string | null;
  redisProblem?: string;
  httpUrl: string;
  grpc: string;
  /** The demo's admin token for the control plane. */
  token: string;
  metadataDb: string;
  configFile: string;
  logFile: string | null;
  generator: string;
  keepsInfra: string;
}

/** What `changeflow dev` prints once started: addresses, the pipeline, and how to look at it. */
export function banner(b: BannerInput): string {
  const { names } = b;
  const sdk = join(packageRoot(), 'dist', 'sdk', 'index.js');
  const watch =
    `node --input-type=module -e "import { subscribe } from '${sdk}'; ` +
    `await subscribe({ brokers: '${b.kafka}', groupId: 'watch-' + Date.now(), topic: '${names.topic}' }, ` +
    `(e) => console.log(e.op, String(e.documentKey?._id), JSON.stringify(e.fullDocument ?? null)))"`;
  return [
    '',
    'changeflow dev is running',
    `  kafka     ${b.kafka}  (${b.kafkaClients})`,
    `  mongodb   ${b.mongodb}`,
    `  redis     ${b.redis ?? `unavailable (${b.redisProblem ?? 'not reachable'}): the cache trigger is left out`}`,
    `  http      ${b.httpUrl}/healthz  ${b.httpUrl}/metrics`,
    `  console   ${b.httpUrl}/console/  (sign in with the Token ${b.token})`,
    `  grpc      ${b.grpc}`,
    `  config    ${b.configFile}  (the demo as a changeflow.yaml)`,
    ...(b.logFile ? [`  log       ${b.logFile}`] : []),
    '',
    'demo pipeline',
    `  source    ${names.source}: ${names.db}.${names.coll} → topic ${names.topic} (initial snapshot, then every change)`,
    `  trigger   ${names.copyTrigger}: → ${names.copyDb}.${names.coll} (mongodb sink, pass-through sync)`,
    b.redis
      ? `  trigger   ${names.cacheTrigger}: → redis ${names.redisKeyPrefix}users:<_id> (redis sink, cache refresh preset)`
      : `  trigger   ${names.cacheTrigger}: not started (no Redis; set REDIS_URL or install redis-server)`,
    `  trigger   ${names.auditTrigger}: deletes → ${b.metadataDb}.${names.auditCollection} (audit sink, hash-chained)`,
    `  generator ${b.generator}`,
    '',
    'look at it',
    `  watch the topic:  ${watch}`,
    `  metrics:          curl -s ${b.httpUrl}/metrics | grep -E 'changeflow_(source|processor|sink)_'`,
    `  control plane:    CHANGEFLOW_SERVER=${b.grpc} CHANGEFLOW_TOKEN=${b.token} npx changeflow triggers list`,
    `  audit chain:      npx changeflow audit verify -c ${b.configFile}`,
    `  dead letters:     npx changeflow dlq status ${names.copyTrigger} -c ${b.configFile}`,
    '',
    `Ctrl-C stops the service and the generator${b.keepsInfra}.`,
    '',
  ].join('\n');
}
