import { errorMessage } from '../../core/errors.js';
import type { Consumer, IncomingRecord, KafkaTransport } from '../../core/kafka/index.js';
import type { Logger } from '../../core/logger.js';
import { retry } from '../../core/retry.js';
import { contentOf } from './content.js';
import type { SyncEvent } from './message.js';
import type { EventSyncService } from './service.js';

/** A Kafka record as an EventSync event; the id is its coordinates, so a record read twice is stored once. */
export function recordToEvent(service: EventSyncService, eventKey: string, record: IncomingRecord): SyncEvent {
  const headers: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(record.headers)) headers[name] = [value];
  headers['kafka-topic'] = [record.topic];
  headers['kafka-partition'] = [String(record.partition)];
  headers['kafka-offset'] = [record.offset];
  headers['kafka-timestamp'] = [new Date(record.timestamp).toISOString()];
  if (record.key) headers['kafka-key'] = [record.key.toString('utf8')];
  return service.newEvent(eventKey, { id: `kafka:${record.topic}:${record.partition}:${record.offset}`, headers, queryParams: {}, ...contentOf(record.value) });
}

/**
 * Feeds the topic-backed endpoints of one service from a consumer group. Offsets are committed
 * only after the batch's events are stored, so a crash re-reads (and the id dedupes) rather than loses.
 */
export class KafkaFeed {
  private consumer: Consumer | null = null;

  constructor(
    private readonly service: EventSyncService,
    private readonly kafka: KafkaTransport,
    private readonly groupId: string,
    private readonly logger: Logger,
    private readonly onHealth: (ok: boolean, detail?: string) => void,
  ) {}

  get topics(): string[] {
    return this.service.config.endpoints.flatMap((e) => (e.topic ? [e.topic] : []));
  }

  async start(): Promise<void> {
    const keyOf = new Map(this.service.config.endpoints.flatMap((e) => (e.topic ? [[e.topic, e.eventKey] as const] : [])));
    if (keyOf.size === 0) return;
    const consumer = this.kafka.consumer({ groupId: this.groupId, fromBeginning: true });
    this.consumer = consumer;
    await consumer.connect();
    await consumer.subscribe([...keyOf.keys()]);
    await consumer.run(async (batch, context) => {
      const eventKey = keyOf.get(batch.topic);
      const last = batch.records[batch.records.length - 1];
      if (!eventKey || !last || context.isStale()) return;
      const events = batch.records
        .map((r) => recordToEvent(this.service, eventKey, r))
        .filter((event) => {
          // A record no message could hold is skipped (and its offset committed), so it cannot block the window.
          const problem = this.service.oversizedProblem(event);
          if (problem) this.logger.error({ topic: batch.topic, eventId: event.id, err: problem }, 'EventSync record skipped: too large for any message');
          return !problem;
        });
      try {
        await retry(() => this.service.accept(events, 'kafka'), { attempts: 5, shouldRetry: () => !context.isStale() });
        if (context.isStale()) return;
        await consumer.commit([{ topic: batch.topic, partition: batch.partition, offset: String(BigInt(last.offset) + 1n) }]);
        this.onHealth(true);
      } catch (error) {
        this.onHealth(false, `storing events from ${batch.topic} failed: ${errorMessage(error)}`);
        this.logger.error(
          { topic: batch.topic, partition: batch.partition, err: errorMessage(error) },
          'EventSync Kafka feed failed; the batch will be read again',
        );
        throw error;
      }
    });
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect().catch(() => undefined);
    this.consumer = null;
  }
}
