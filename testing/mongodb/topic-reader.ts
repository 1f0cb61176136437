import { randomBytes } from 'node:crypto';
import type { IncomingRecord, KafkaTransport } from '../../core/kafka/transport.js';

/**
 * Reads topics from the beginning into memory, for tests and benchmarks that check what a source
 * produced. Not used by the running service.
 */
export class TopicReader {
  readonly records: IncomingRecord[] = [];
  private consumer: ReturnType<KafkaTransport['consumer']> | null = null;

  constructor(
    private readonly kafka: KafkaTransport,
    private readonly topics: readonly (string | RegExp)[],
  ) {}

  async start(): Promise<this> {
    const consumer = this.kafka.consumer({ groupId: `reader-${randomBytes(5).toString('hex')}`, fromBeginning: true, maxBytesPerPartition: 4 * 1024 * 1024 });
    this.consumer = consumer;
    await consumer.connect();
    await consumer.subscribe(this.topics);
    void consumer.run(async (batch) => {
      this.records.push(...batch.records);
    });
    return this;
  }

  /** Parsed JSON values of the records of `topic` (all topics when omitted). */
  values<T = Record<string, unknown>>(topic?: string): T[] {
    return this.records.filter((r) => topic === undefined || r.topic === topic).map((r) => JSON.parse(r.value?.toString() ?? 'null') as T);
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect();
    this.consumer = null;
  }
}
