import type { FastifyInstance } from 'fastify';
import { MongoClient, type Db } from 'mongodb';
import type { Registry } from 'prom-client';
import type { CoreConfig } from './config.js';
import { errorMessage, UnavailableError } from './errors.js';
import { Health } from './health.js';
import { createHttpServer, listen } from './http.js';
import { createKafkaTransport, type KafkaTransport } from './kafka/index.js';
import { createLogger, type Logger } from './logger.js';
import { watchKafka } from './kafka-health.js';
import { watchMetadata } from './metadata-health.js';
import { createMetricsRegistry } from './metrics.js';
import { redactUri } from './redact-uri.js';
import { retry } from './retry.js';
import { TopicNames } from './topics.js';

/** What every running part of the service is given. */
export interface AppContext {
  config: CoreConfig;
  logger: Logger;
  metrics: Registry;
  health: Health;
  kafka: KafkaTransport;
  topics: TopicNames;
  /** Routes may be added until the app has started. */
  http: FastifyInstance;
  /** The metadata store (`mongodb.uri` / `mongodb.db`): triggers, functions, leases, EventSync events, audit. */
  metadata: { client: MongoClient; db: Db };
}

/**
 * A part of the service with a lifecycle: sources, processors, control plane, EventSync. Only
 * `start` may end the process (a config it refuses, infrastructure it cannot reach at startup);
 * once started, a part that fails reports it in `context.health` and never stops anything else.
 */
export interface Component {
  readonly name: string;
  start(context: AppContext): Promise<void>;
  stop(): Promise<void>;
}

/** Builds a component from the service's config (each picks its own sections); null when the config asks for none. */
export type ComponentFactory<C extends CoreConfig = CoreConfig> = (config: C) => Component | null;

export interface RunningApp {
  context: AppContext;
  httpUrl: string;
  stop(): Promise<void>;
}

/**
 * Starts the components in order, with one shared context; stops them in reverse order.
 * A component that fails to start stops everything started before it and rethrows.
 */
export async function startApp<C extends CoreConfig>(
  config: C,
  factories: readonly ComponentFactory<C>[],
  options: { logger?: Logger; metrics?: Registry; /** How long to wait for the metadata MongoDB at start. Default 60 s. */ metadataWaitMs?: number } = {},
): Promise<RunningApp> {
  const logger = options.logger ?? createLogger();
  const metrics = options.metrics ?? createMetricsRegistry();
  const health = new Health();
  const client = await connectMetadata(config.mongodb.uri, logger, options.metadataWaitMs ?? 60_000);
  const http = createHttpServer({ ...config.http, health, metrics, logger });
  const kafka = createKafkaTransport(
    config.kafka.client,
    { brokers: config.kafka.brokers, clientId: config.kafka.clientId },
    logger,
    config.kafka.producerClient,
  );
  logger.info({ consumers: kafka.name, producers: kafka.producerName ?? kafka.name }, 'kafka clients');
  const context: AppContext = {
    config,
    logger,
    metrics,
    health,
    kafka,
    topics: new TopicNames(config.kafka.topicPrefix),
    http,
    metadata: { client, db: client.db(config.mongodb.db) },
  };

  const stopWatching = watchMetadata(context.metadata.db, health, logger.child({ component: 'metadata' }));
  const stopWatchingKafka = watchKafka(context.kafka, config.kafka.brokers, health, logger.child({ component: 'kafka' }));

  const started: Component[] = [];
  const stopAll = async (): Promise<void> => {
    stopWatching();
    await stopWatchingKafka();
    for (const component of started.reverse()) {
      await component.stop().catch((error: unknown) => logger.error({ component: component.name, err: errorMessage(error) }, 'stop failed'));
    }
    started.length = 0;
    await http.close().catch(() => undefined);
    await client.close().catch(() => undefined);
  };

  try {
    for (const factory of factories) {
      const component = factory(config);
      if (!component) continue;
      await component.start(context);
      started.push(component);
      logger.info({ component: component.name }, 'started');
    }
    const httpUrl = await listen(http, config.http.host, config.http.port);
    logger.info({ url: httpUrl }, 'http listening');
    return { context, httpUrl, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/**
 * The metadata MongoDB, waited for at start (it may be restarting too, e.g. after a host reboot):
 * retried with backoff and logged, then refused with what to check, naming the dependency.
 */
async function connectMetadata(uri: string, logger: Logger, waitMs: number): Promise<MongoClient> {
  const deadline = Date.now() + waitMs;
  const where = `mongodb.uri ${redactUri(uri)}`;
  try {
    return await retry(
      async () => {
        const client = new MongoClient(uri, { serverSelectionTimeoutMS: Math.max(1_000, Math.min(10_000, deadline - Date.now())) });
        try {
          await client.connect();
          return client;
        } catch (error) {
          await client.close().catch(() => undefined);
          throw error;
        }
      },
      {
        attempts: Number.POSITIVE_INFINITY,
        initialDelayMs: 500,
        maxDelayMs: 5_000,
        shouldRetry: () => Date.now() < deadline,
        onRetry: (error, attempt, delayMs) =>
          logger.warn({ dependency: 'MongoDB', attempt, delayMs, err: errorMessage(error) }, `the metadata MongoDB (${where}) does not answer yet; retrying`),
      },
    );
  } catch (error) {
    throw new UnavailableError(
      `the metadata MongoDB (${where}) did not answer for ${Math.round(waitMs / 1000)} s: ${errorMessage(error)}. Check that it runs and that mongodb.uri points at it`,
      {
        cause: error,
        dependency: 'MongoDB',
        code: 'METADATA_UNAVAILABLE',
      },
    );
  }
}
