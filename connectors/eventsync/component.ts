import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { AppContext, Component } from '../../core/app.js';
import type { CoreConfig } from '../../core/config.js';
import { ValidationError } from '../../core/errors.js';
import type { Producer } from '../../core/kafka/index.js';
import { crossCheckServices, serviceSlug, servicePathPrefix, type EventSyncConfig } from './config.js';
import { KafkaFeed } from './kafka-feed.js';
import { eventSyncMetrics } from './metrics.js';
import { registerRoutes } from './routes.js';
import { EventSyncService, type Clock } from './service.js';

export interface EventSyncComponentOptions {
  /** Consumer groups of Kafka-fed endpoints are `<clientId>.eventsync.<slug>` unless the service names one. */
  clientId?: string;
  instanceId?: string;
  clock?: Clock;
}

/** All EventSync services of the process: routes on the shared HTTP server, one producer, recovery loops. */
export class EventSyncComponent implements Component {
  readonly name = 'eventsync';
  readonly instanceId: string;
  private readonly services = new Map<string, EventSyncService>();
  private readonly feeds: KafkaFeed[] = [];
  private producer: Producer | null = null;
  private context: AppContext | null = null;

  constructor(
    private readonly configs: readonly EventSyncConfig[],
    private readonly options: EventSyncComponentOptions = {},
  ) {
    const problems = crossCheckServices(configs);
    if (problems.length > 0) throw new ValidationError(`eventsync is not valid:\n  - ${problems.join('\n  - ')}`, { code: 'CONFIG_INVALID' });
    this.instanceId = options.instanceId ?? `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  }

  /** Every running service (the console's EventSync page). */
  list(): EventSyncService[] {
    return [...this.services.values()];
  }

  /** The running service named `serviceName` (tests, bench). */
  service(serviceName: string): EventSyncService {
    const service = this.services.get(serviceName);
    if (!service) throw new ValidationError(`no EventSync service "${serviceName}" (known: ${[...this.services.keys()].join(', ')})`);
    return service;
  }

  async start(context: AppContext): Promise<void> {
    this.context = context;
    const logger = context.logger.child({ component: 'eventsync' });
    const metrics = eventSyncMetrics(context.metrics);
    const admin = context.kafka.admin();
    await admin.connect();
    try {
      const topics = new Set(this.configs.flatMap((c) => [c.target.topic, ...c.endpoints.flatMap((e) => (e.topic ? [e.topic] : []))]));
      await admin.ensureTopics([...topics].map((topic) => ({ topic, partitions: context.config.kafka.partitions })));
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    this.producer = context.kafka.producer({
      idempotent: true,
      compression: context.config.kafka.compression,
      maxRequestBytes: Math.max(...this.configs.map((c) => c.target.maxMessageBytes)) + 64 * 1024,
    });
    await this.producer.connect();

    for (const config of this.configs) {
      const healthName = `eventsync:${serviceSlug(config.serviceName)}`;
      const service = new EventSyncService({
        config,
        db: context.metadata.db,
        producer: this.producer,
        logger,
        metrics,
        instanceId: this.instanceId,
        ...(this.options.clock ? { clock: this.options.clock } : {}),
        onHealth: (ok, detail) => context.health.set(healthName, ok, detail),
      });
      await service.start();
      this.services.set(config.serviceName, service);
      registerRoutes(context.http, service, context.config.http.maxBodyBytes);
      const groupId = config.groupId ?? `${this.options.clientId ?? context.config.kafka.clientId}.eventsync.${serviceSlug(config.serviceName)}`;
      const feed = new KafkaFeed(service, context.kafka, groupId, logger, (ok, detail) => context.health.set(healthName, ok, detail));
      await feed.start();
      this.feeds.push(feed);
      context.health.set(healthName, true);
      logger.info(
        {
          serviceName: config.serviceName,
          prefix: servicePathPrefix(config),
          trigger: config.trigger,
          endpoints: config.endpoints,
          target: config.target.topic,
        },
        'EventSync service ready',
      );
    }
  }

  async stop(): Promise<void> {
    for (const feed of this.feeds.splice(0)) await feed.stop();
    for (const service of this.services.values()) await service.stop();
    for (const config of this.configs) this.context?.health.remove(`eventsync:${serviceSlug(config.serviceName)}`);
    this.services.clear();
    await this.producer?.disconnect().catch(() => undefined);
    this.producer = null;
  }
}

/** An EventSync component when the config has `eventsync:` services. */
export function eventSyncComponentFactory(config: CoreConfig & { eventsync: readonly EventSyncConfig[] }): EventSyncComponent | null {
  if (config.eventsync.length === 0) return null;
  return new EventSyncComponent(config.eventsync, { clientId: config.kafka.clientId });
}
