import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { eventSyncConfigSchema } from '../connectors/eventsync/config.js';
import { sourceConfigSchema } from '../connectors/mongodb/source-config.js';
import { functionConfigSchema } from '../processors/function-config.js';
import { triggerConfigSchema } from '../processors/trigger-config.js';
import { authConfigSchema, DEFAULT_AUTH, readersSchema } from './auth-config.js';
import { ValidationError } from './errors.js';
import { parseOrThrow } from './schema-errors.js';

/** The Kafka client when `kafka.client` is not set: the benchmark's choice (docs/performance.md, "Choosing the client"). */
export const DEFAULT_KAFKA_CLIENT = 'kafkajs';

const hostPort = z.string().regex(/^[^\s:]+:\d{1,5}$/, { error: 'expected "host:port", e.g. "127.0.0.1:9092"' });

const kafkaSchema = z.strictObject({
  brokers: z.array(hostPort, { error: 'expected a list of brokers, e.g. ["127.0.0.1:9092"] (or set KAFKA_BROKERS)' }).min(1, {
    error: 'needs at least one broker, e.g. ["127.0.0.1:9092"] (or set KAFKA_BROKERS)',
  }),
  client: z.enum(['kafkajs', 'librdkafka']).default(DEFAULT_KAFKA_CLIENT),
  producerClient: z.enum(['auto', 'kafkajs', 'librdkafka']).default('auto'),
  topicPrefix: z.string().regex(/^[A-Za-z0-9._-]+$/, { error: 'topic prefix may use letters, digits, ".", "_" and "-"' }).default('changeflow'),
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
}).check((ctx) => {
  const { client, compression } = ctx.value;
  // KafkaJS reads gzip only; with producers on librdkafka (the default) such batches would reach consumers that fail on them.
  if (client === 'kafkajs' && (compression === 'lz4' || compression === 'snappy' || compression === 'zstd')) {
    ctx.issues.push({ code: 'custom', input: compression, path: ['compression'], message: `KafkaJS consumers (kafka.client: kafkajs) cannot read ${compression} batches: use gzip or none, or set kafka.client: librdkafka` });
  }
});

const defaults = {
  mongodb: { uri: 'mongodb://127.0.0.1:27017', db: 'changeflow' },
  http: { host: '127.0.0.1', port: 8080 },
  grpc: { host: '127.0.0.1', port: 50051 },
} as const;

const port = z.number().int().min(0).max(65535);

export const configSchema = z.strictObject({
  kafka: kafkaSchema,
  mongodb: z.strictObject({ uri: z.string().startsWith('mongodb'), db: z.string().min(1).default('changeflow') }).default(defaults.mongodb),
  redis: z.strictObject({ url: z.string().startsWith('redis', { error: 'expected a redis:// URL' }) }).optional(),
  http: z.strictObject({ host: z.string().default('127.0.0.1'), port: port.default(8080), maxBodyBytes: z.number().int().positive().default(1_048_576) }).default({ ...defaults.http, maxBodyBytes: 1_048_576 }),
  grpc: z.strictObject({ host: z.string().default('127.0.0.1'), port: port.default(50051) }).default(defaults.grpc),
  auth: authConfigSchema.default(DEFAULT_AUTH),
  /** `readers`: the tenants (userIds) whose control-plane triggers may read this source. */
  sources: z.array(sourceConfigSchema.extend({ readers: readersSchema })).default([]),
  functions: z.array(functionConfigSchema).default([]),
  triggers: z.array(triggerConfigSchema).default([]),
  eventsync: z.array(eventSyncConfigSchema).default([]),
});

/** The config as users write it (before defaults). */
export type ConfigInput = z.input<typeof configSchema>;
/** The config with every default applied and validated: what the rest of the code receives. */
export type Config = z.output<typeof configSchema>;

type Env = Record<string, string | undefined>;

/** KAFKA_BROKERS, MONGODB_URI, REDIS_URL and SCHEMA_REGISTRY_URL replace what the file says. */
export function applyEnvOverrides(raw: Record<string, unknown>, env: Env): Record<string, unknown> {
  const out: Record<string, unknown> = { ...raw };
  const section = (key: string): Record<string, unknown> => {
    const value = out[key];
    const copy = typeof value === 'object' && value !== null && !Array.isArray(value) ? { ...(value as Record<string, unknown>) } : {};
    out[key] = copy;
    return copy;
  };
  if (env['KAFKA_BROKERS']) section('kafka')['brokers'] = env['KAFKA_BROKERS'].split(',').map((b) => b.trim()).filter(Boolean);
  if (env['MONGODB_URI']) section('mongodb')['uri'] = env['MONGODB_URI'];
  if (env['REDIS_URL']) section('redis')['url'] = env['REDIS_URL'];
  if (env['SCHEMA_REGISTRY_URL']) section('kafka')['schemaRegistry'] = { url: env['SCHEMA_REGISTRY_URL'] };
  return out;
}

/** A token given twice would silently belong to whichever entry came last; the message never shows the token. */
function duplicateTokens(tokens: readonly { token: string; userId: string }[]): string[] {
  const first = new Map<string, number>();
  const problems: string[] = [];
  tokens.forEach((entry, i) => {
    const earlier = first.get(entry.token);
    if (earlier === undefined) {
      first.set(entry.token, i);
      return;
    }
    const other = tokens[earlier]?.userId ?? '';
    problems.push(`auth.tokens[${i}].token: the same token as auth.tokens[${earlier}] (userIds "${other}" and "${entry.userId}"); give each entry its own token`);
  });
  return problems;
}

/** Checks what one schema cannot: names unique, triggers naming functions that exist, tokens unique. */
function crossCheck(config: Config): string[] {
  const problems: string[] = [];
  const unique = (items: { name: string }[], key: string): void => {
    const seen = new Map<string, number>();
    items.forEach((item, i) => {
      const first = seen.get(item.name);
      if (first !== undefined) problems.push(`${key}[${i}].name: "${item.name}" is already used by ${key}[${first}]; names must be unique`);
      else seen.set(item.name, i);
    });
  };
  unique(config.sources, 'sources');
  unique(config.functions, 'functions');
  unique(config.triggers, 'triggers');
  problems.push(...duplicateTokens(config.auth.tokens));
  config.sources.forEach((s, i) => {
    if (s.format === 'avro' && !config.kafka.schemaRegistry) {
      problems.push(`sources[${i}].format: avro needs a Confluent-compatible schema registry; set kafka.schemaRegistry.url (or SCHEMA_REGISTRY_URL), or use format: json`);
    }
  });
  const functions = new Set(config.functions.map((f) => f.name));
  config.triggers.forEach((t, i) => {
    if (t.function && !functions.has(t.function)) {
      problems.push(`triggers[${i}].function: no function named "${t.function}"; define it under functions (known: ${[...functions].join(', ') || 'none'})`);
    }
    const sinkNames = new Set<string>();
    t.sinks.forEach((s, j) => {
      if (sinkNames.has(s.name)) problems.push(`triggers[${i}].sinks[${j}].name: "${s.name}" is used twice in this trigger`);
      sinkNames.add(s.name);
    });
  });
  return problems;
}

/** Validates a parsed config object (from YAML, JSON or code) and applies defaults and environment overrides. */
export function compileConfig(raw: unknown, env: Env = process.env, baseDir = process.cwd()): Config {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ValidationError('changeflow.yaml is not valid:\n  - (root): expected a mapping of top-level keys (kafka, mongodb, sources, triggers, …)', { code: 'CONFIG_INVALID' });
  }
  const config = parseOrThrow(configSchema, applyEnvOverrides(raw as Record<string, unknown>, env), 'changeflow.yaml');
  const problems = crossCheck(config);
  if (problems.length > 0) throw new ValidationError(`changeflow.yaml is not valid:\n  - ${problems.join('\n  - ')}`, { code: 'CONFIG_INVALID' });
  for (const fn of config.functions) {
    if (fn.file !== undefined) {
      const path = resolve(baseDir, fn.file);
      try {
        fn.code = readFileSync(path, 'utf8');
      } catch (error) {
        throw new ValidationError(`functions[${config.functions.indexOf(fn)}].file: cannot read ${path} (${(error as Error).message})`, { code: 'CONFIG_INVALID', cause: error });
      }
    }
  }
  return config;
}

export function parseConfigText(text: string, env: Env = process.env, baseDir = process.cwd(), fileName = 'changeflow.yaml'): Config {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0];
    throw new ValidationError(`${fileName} is not valid YAML: ${first?.message ?? 'parse error'}`, { code: 'CONFIG_INVALID' });
  }
  return compileConfig(doc.toJS() ?? {}, env, baseDir);
}

export function loadConfigFile(path: string, env: Env = process.env): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ValidationError(`cannot read config file ${path}: ${(error as Error).message}`, { code: 'CONFIG_NOT_FOUND', cause: error });
  }
  return parseConfigText(text, env, dirname(resolve(path)), path);
}
