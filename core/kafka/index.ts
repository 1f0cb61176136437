import type { Logger } from '../logger.js';
import { createKafkajsTransport } from './kafkajs.js';
import { loadLibrdkafka, NATIVE_PACKAGE } from './librdkafka-binding.js';
import { createLibrdkafkaTransport } from './librdkafka.js';
import type { KafkaConnectionOptions, KafkaTransport } from './transport.js';
import { ValidationError } from '../errors.js';

export type KafkaClientName = 'kafkajs' | 'librdkafka';

/**
 * `kafka.producerClient`: which client produces. `auto` (the default): librdkafka when it loads on this
 * machine, else the consumers' client — the benchmark's choice, as librdkafka produces 2–2.6× faster
 * than KafkaJS and consumes slower (docs/performance.md, "Choosing the client").
 */
export type ProducerClientChoice = KafkaClientName | 'auto';

/**
 * Overrides `kafka.client` for a whole process (the test suite and benchmarks run once per client with
 * it). Unset or empty: the configured client is used.
 */
export const KAFKA_CLIENT_ENV = 'CHANGEFLOW_KAFKA_CLIENT';

let warnedFallback = false;

/** The client a process should use: the environment override if set and valid, else `configured`. */
export function effectiveKafkaClient(configured: KafkaClientName, env: NodeJS.ProcessEnv = process.env): KafkaClientName {
  const override = env[KAFKA_CLIENT_ENV]?.trim();
  if (!override) return configured;
  if (override !== 'kafkajs' && override !== 'librdkafka') {
    throw new ValidationError(`${KAFKA_CLIENT_ENV}=${override} is not a Kafka client: use kafkajs or librdkafka (or leave it unset)`);
  }
  return override;
}

/** True when the native librdkafka client loads on this machine. */
export function librdkafkaAvailable(): boolean {
  return 'module' in loadLibrdkafka();
}

/**
 * The client that produces: the environment override when set (it names the whole process's client),
 * else the configured choice, `auto` resolved to librdkafka when it loads and otherwise to `client`.
 */
export function effectiveProducerClient(
  choice: ProducerClientChoice,
  client: KafkaClientName,
  env: NodeJS.ProcessEnv = process.env,
  available: () => boolean = librdkafkaAvailable,
): KafkaClientName {
  const override = env[KAFKA_CLIENT_ENV]?.trim();
  if (override) return effectiveKafkaClient(client, env);
  if (choice !== 'auto') return choice;
  return client === 'librdkafka' || available() ? 'librdkafka' : client;
}

/**
 * Picks the configured clients: `client` consumes and administers, `producerClient` produces (by
 * default the same client, so callers that name one client get that one for everything). librdkafka
 * is an optional native build: when it is asked for by name and cannot load, the process uses kafkajs
 * and says so once.
 */
export function createKafkaTransport(
  client: KafkaClientName,
  options: KafkaConnectionOptions,
  logger?: Logger,
  producerClient: ProducerClientChoice = client,
): KafkaTransport {
  const consuming = effectiveKafkaClient(client);
  const base = selectKafkaTransport(consuming, options, logger, loadLibrdkafka);
  const producing = effectiveProducerClient(producerClient, consuming);
  if (producing === base.name) return base;
  return withProducersOf(base, selectKafkaTransport(producing, options, logger, loadLibrdkafka));
}

/** `base` with its producers taken from `producing` (groups stay on one client: consumers never mix). */
export function withProducersOf(base: KafkaTransport, producing: KafkaTransport): KafkaTransport {
  return {
    name: base.name,
    producerName: producing.name,
    producer: (options) => producing.producer(options),
    consumer: (options) => base.consumer(options),
    admin: () => base.admin(),
  };
}

/** `createKafkaTransport` with the native loader passed in (tests give one that fails). */
export function selectKafkaTransport(
  chosen: KafkaClientName,
  options: KafkaConnectionOptions,
  logger: Logger | undefined,
  load: typeof loadLibrdkafka,
): KafkaTransport {
  if (chosen === 'kafkajs') return createKafkajsTransport(options, logger);
  const loaded = load();
  if ('module' in loaded) return createLibrdkafkaTransport(loaded.module, options, logger);
  if (!warnedFallback) {
    warnedFallback = true;
    const message = `kafka.client "librdkafka" is not available (${NATIVE_PACKAGE} did not load: ${loaded.error.message.split('\n')[0]}); using kafkajs. See docs/performance.md to build it.`;
    if (logger) logger.warn(message);
    else process.emitWarning(message);
  }
  return createKafkajsTransport(options, logger);
}

export * from './transport.js';
