import { z } from 'zod';
import { authConfigSchema, DEFAULT_AUTH } from './auth-config.js';
import { parseOrThrow } from './schema-errors.js';

/** The Kafka client when `kafka.client` is not set: the benchmark's choice (docs/performance.md, "Choosing the client"). */
export const DEFAULT_KAFKA_CLIENT = 'kafkajs';

const hostPort = z.string().regex(/^[^\s:]+:\d{1,5}$/, { error: 'expected "host:port", e.g. "127.0.0.1:9092"' });

const kafkaSchema = z
  .strictObject({
    brokers: z.array(hostPort, { error: 'expected a list of brokers, e.g. ["127.0.0.1:9092"] (or set KAFKA_BROKERS)' }).min(1, {
      error: 'needs at least one broker, e.g. ["127.0.0.1:9092"] (or set KAFKA_BROKERS)',
    }),
    client: z.enum(['kafkajs', 'librdkafka']).default(DEFAULT_KAFKA_CLIENT),
    producerClient: z.enum(['auto', 'kafkajs', 'librdkafka']).default('auto'),
    topicPrefix: z
      .string()
      .regex(/^[A-Za-z0-9._-]+$/, { error: 'topic prefix may use letters, digits, ".", "_" and "-"' })
      .default('changeflow'),
    clientId: z.string().default('changeflow'),
    partitions: z.number().int().positive().default(3),
    compression: z.enum(['none', 'gzip', 'snappy', 'lz4', 'zstd']).default('none'),
    /** Trigger consumers' group session timeout: how soon a crashed process's partitions move on (or a restarted one rejoins). */
    sessionTimeoutMs: z
      .number()
      .int()
      .min(6_000, { error: 'at least 6000 (the broker default group.min.session.timeout.ms)' })
      .max(1_800_000, { error: 'at most 1800000 (the broker default group.max.session.timeout.ms)' })
      .default(30_000),
    schemaRegistry: z.strictObject({ url: z.url() }).optional(),
  })
  .check((ctx) => {
    const { client, compression } = ctx.value;
    // KafkaJS reads gzip only; with producers on librdkafka (the default) such batches would reach consumers that fail on them.
    if (client === 'kafkajs' && (compression === 'lz4' || compression === 'snappy' || compression === 'zstd')) {
      ctx.issues.push({
        code: 'custom',
        input: compression,
        path: ['compression'],
        message: `KafkaJS consumers (kafka.client: kafkajs) cannot read ${compression} batches: use gzip or none, or set kafka.client: librdkafka`,
      });
    }
  });

const defaults = {
  mongodb: { uri: 'mongodb://127.0.0.1:27017', db: 'changeflow' },
  http: { host: '127.0.0.1', port: 8080 },
  grpc: { host: '127.0.0.1', port: 50051 },
} as const;

const port = z.number().int().min(0).max(65535);

/**
 * The sections every part of the service reads (brokers, metadata store, Redis, HTTP, gRPC, auth).
 * The service's whole config adds the components' sections to these (app/config.ts).
 */
export const coreConfigShape = {
  kafka: kafkaSchema,
  mongodb: z.strictObject({ uri: z.string().startsWith('mongodb'), db: z.string().min(1).default('changeflow') }).default(defaults.mongodb),
  redis: z.strictObject({ url: z.string().startsWith('redis', { error: 'expected a redis:// URL' }) }).optional(),
  http: z
    .strictObject({ host: z.string().default('127.0.0.1'), port: port.default(8080), maxBodyBytes: z.number().int().positive().default(1_048_576) })
    .default({ ...defaults.http, maxBodyBytes: 1_048_576 }),
  grpc: z.strictObject({ host: z.string().default('127.0.0.1'), port: port.default(50051) }).default(defaults.grpc),
  auth: authConfigSchema.default(DEFAULT_AUTH),
};

export const coreConfigSchema = z.strictObject(coreConfigShape);

/** The core sections with every default applied: what AppContext carries. */
export type CoreConfig = z.output<typeof coreConfigSchema>;

export type Env = Record<string, string | undefined>;

/** KAFKA_BROKERS, MONGODB_URI, REDIS_URL and SCHEMA_REGISTRY_URL replace what the file says. */
export function applyEnvOverrides(raw: Record<string, unknown>, env: Env): Record<string, unknown> {
  const out: Record<string, unknown> = { ...raw };
  const section = (key: string): Record<string, unknown> => {
    const value = out[key];
    const copy = typeof value === 'object' && value !== null && !Array.isArray(value) ? { ...(value as Record<string, unknown>) } : {};
    out[key] = copy;
    return copy;
  };
  if (env['KAFKA_BROKERS'])
    section('kafka')['brokers'] = env['KAFKA_BROKERS']
      .split(',')
      .map((b) => b.trim())
      .filter(Boolean);
  if (env['MONGODB_URI']) section('mongodb')['uri'] = env['MONGODB_URI'];
  if (env['REDIS_URL']) section('redis')['url'] = env['REDIS_URL'];
  if (env['SCHEMA_REGISTRY_URL']) section('kafka')['schemaRegistry'] = { url: env['SCHEMA_REGISTRY_URL'] };
  return out;
}

/** A token given twice would silently belong to whichever entry came last; the message never shows the token. */
export function duplicateTokens(tokens: readonly { token: string; userId: string }[]): string[] {
  const first = new Map<string, number>();
  const problems: string[] = [];
  tokens.forEach((entry, i) => {
    const earlier = first.get(entry.token);
    if (earlier === undefined) {
      first.set(entry.token, i);
      return;
    }
    const other = tokens[earlier]?.userId ?? '';
    problems.push(
      `auth.tokens[${i}].token: the same token as auth.tokens[${earlier}] (userIds "${other}" and "${entry.userId}"); give each entry its own token`,
    );
  });
  return problems;
}

/** Validates the core sections alone, for tools and tests that run one part of the service. */
export function compileCoreConfig(raw: Record<string, unknown>, env: Env = process.env): CoreConfig {
  return parseOrThrow(coreConfigSchema, applyEnvOverrides(raw, env), 'changeflow.yaml');
}
