import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { startInfra, stopInfra } from '../../core/infra/infra.js';
import { createKafkajsTransport } from '../../core/kafka/kafkajs.js';
import { DEFAULT_KAFKA_CLIENT } from '../../core/config.js';
import { effectiveProducerClient, type KafkaClientName } from '../../core/kafka/index.js';
import type { BenchContext } from './stage.js';

const argsSchema = z.object({
  quick: z.boolean(),
  size: z.coerce
    .number()
    .int('--size: a whole number of bytes, e.g. --size 1024')
    .min(16, '--size: at least 16 bytes')
    .max(1_000_000, '--size: at most 1000000 bytes'),
  seconds: z.coerce.number().positive('--seconds: how long each figure runs, e.g. --seconds 10').optional(),
  partitions: z.coerce.number().int().min(1, '--partitions: at least 1').max(64, '--partitions: at most 64'),
  client: z.enum(['kafkajs', 'librdkafka'], { message: '--client: kafkajs or librdkafka' }).optional(),
  only: z.string().optional(),
});
export type BenchArgs = z.infer<typeof argsSchema>;

export const USAGE = `npm run bench -- [--quick] [--size BYTES] [--seconds S] [--partitions N] [--client kafkajs|librdkafka] [--only TEXT]
  --quick        smoke check: about 1.5 s per figure (figures not meaningful)
  --size         message / document size in bytes (default 1024)
  --seconds      how long each figure runs (default 10)
  --partitions   partitions of the topics the bench creates (default 3)
  --client       the Kafka client changeflow rows use (default: the product defaults, kafkajs to consume and
                 librdkafka to produce when it is built)
  --only         run only the stages whose name contains TEXT (limits they refer to run too)
Servers: KAFKA_BROKERS / MONGODB_URI / REDIS_URL when set, else a local set started for the run.`;

export function parseBenchArgs(argv: string[]): BenchArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      size: { type: 'string', default: '1024' },
      seconds: { type: 'string' },
      partitions: { type: 'string', default: '3' },
      client: { type: 'string' },
      only: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const parsed = argsSchema.safeParse(values);
  if (!parsed.success) throw new Error(`${parsed.error.issues.map((i) => i.message).join('\n')}\n\n${USAGE}`);
  return parsed.data;
}

export interface OpenedContext {
  ctx: BenchContext;
  close(): Promise<void>;
}

/** Servers from the environment, or a local set started now (and stopped by `close`). */
export async function openBenchContext(args: BenchArgs, log: (line: string) => void): Promise<OpenedContext> {
  let stateDir: string | undefined;
  let kafka = process.env['KAFKA_BROKERS'];
  let mongodb = process.env['MONGODB_URI'];
  let redis = process.env['REDIS_URL'] ?? null;
  let mongodbPid: number | undefined;
  if (!kafka || !mongodb) {
    stateDir = mkdtempSync(join(tmpdir(), 'changeflow-bench-'));
    log('starting local Kafka and MongoDB-compatible server for this run…');
    const state = await startInfra({ stateDir, onProgress: log });
    kafka = state.kafka;
    mongodb = state.mongodb;
    redis = state.redis;
    mongodbPid = state.pids.mongodb;
  }
  const topics: string[] = [];
  // The product's default clients (core/config.ts), so the changeflow rows measure what users run by
  // default; `--client` puts every row on that one client.
  const client: KafkaClientName = args.client ?? DEFAULT_KAFKA_CLIENT;
  const producerClient = effectiveProducerClient(args.client ?? 'auto', client);
  const ctx: BenchContext = {
    kafka,
    mongodb,
    redis,
    quick: args.quick,
    durationMs: Math.round((args.seconds ?? (args.quick ? 1.5 : 10)) * 1000),
    messageBytes: args.size,
    partitions: args.partitions,
    client,
    producerClient,
    log,
    trackTopic: (topic) => topics.push(topic),
    ...(mongodbPid === undefined ? {} : { mongodbPid }),
  };
  return {
    ctx,
    async close() {
      if (topics.length > 0 && !stateDir) {
        const admin = createKafkajsTransport({ brokers: [ctx.kafka] }).admin();
        await admin.connect();
        await admin.deleteTopics(topics).catch((error: unknown) => log(`could not delete bench topics: ${(error as Error).message}`));
        await admin.disconnect();
      }
      if (stateDir) await stopInfra({ stateDir });
    },
  };
}
