import { randomBytes } from 'node:crypto';
import { UnavailableError } from '../../core/errors.js';
import type { Admin, KafkaTransport, Producer } from '../../core/kafka/transport.js';
import type { Logger } from '../../core/logger.js';
import { SourcePosition } from './source-position.js';

/**
 * Source positions in the compacted topic `<prefix>.__offsets`, key = source name. Reading takes
 * the newest value for the key; writing is one acknowledged record.
 */
export class OffsetStore {
  constructor(
    private readonly kafka: KafkaTransport,
    readonly topic: string,
    private readonly logger: Logger,
  ) {}

  async ensureTopic(admin: Admin): Promise<void> {
    await admin.ensureTopics([{ topic: this.topic, partitions: 1, config: { 'cleanup.policy': 'compact' } }]);
  }

  /** The newest stored position of `sourceName`, or null if none was ever stored. */
  async load(admin: Admin, sourceName: string, timeoutMs = 60_000): Promise<SourcePosition | null> {
    const ends = await admin.topicOffsets(this.topic);
    const pending = new Map(ends.filter((p) => BigInt(p.high) > BigInt(p.low)).map((p) => [p.partition, BigInt(p.high) - 1n]));
    if (pending.size === 0) return null;

    const consumer = this.kafka.consumer({ groupId: `changeflow-offsets-read-${sourceName}-${randomBytes(4).toString('hex')}`, fromBeginning: true });
    let latest: string | null = null;
    try {
      await consumer.connect();
      await consumer.subscribe([this.topic]);
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new UnavailableError(`reading ${this.topic} took longer than ${timeoutMs} ms`)), timeoutMs);
        consumer
          .run(async (batch) => {
            for (const record of batch.records) {
              if (record.key?.toString() === sourceName) latest = record.value === null ? null : record.value.toString();
            }
            const last = batch.records[batch.records.length - 1];
            const target = pending.get(batch.partition);
            if (last && target !== undefined && BigInt(last.offset) >= target) pending.delete(batch.partition);
            if (pending.size === 0) {
              clearTimeout(timer);
              resolve();
            }
          })
          .catch((error: unknown) => {
            clearTimeout(timer);
            reject(error);
          });
      });
    } finally {
      await consumer.disconnect().catch((error: unknown) => this.logger.warn({ err: String(error) }, 'offsets reader disconnect failed'));
    }
    return latest === null ? null : SourcePosition.decode(latest);
  }

  /** Stores `position`; resolves once Kafka acknowledged it. */
  async save(producer: Producer, sourceName: string, position: SourcePosition): Promise<void> {
    await producer.send([{ topic: this.topic, key: sourceName, value: position.encode() }]);
  }
}
