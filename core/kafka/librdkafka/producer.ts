import type { Logger } from '../../logger.js';
import { fromLibrdkafka } from '../kafka-errors.js';
import { RD_ERR, type RdConfig, type RdError, type RdModule, type RdProducer } from '../librdkafka-binding.js';
import type { OutgoingRecord, Producer, ProducerOptions, RecordAck } from '../transport.js';
import { call, connectClient, connectSettled, disconnectClient, routeLogs, toBuffer, tpKey } from './connection.js';

/** Producer settings chosen by `npm run bench` on a 2-core machine (docs/performance.md). */
export const RDKAFKA_PRODUCER_DEFAULTS = {
  /**
   * When the caller names none: uncompressed. LZ4 measured fastest, but KafkaJS consumers cannot read
   * LZ4 (nor zstd/snappy) batches, so a mixed deployment would break; callers may opt in.
   */
  compression: 'none',
  lingerMs: 5,
  batchBytes: 1_000_000,
  pollIntervalMs: 2,
} as const;

const compressionCodecs = { none: 'none', gzip: 'gzip', snappy: 'snappy', lz4: 'lz4', zstd: 'zstd' } as const;

/** A producer's config: idempotent with acks=all unless asked otherwise, batching as the bench chose. */
export function producerConfig(base: RdConfig, opts: ProducerOptions): RdConfig {
  const config: RdConfig = {
    ...base,
    dr_cb: true,
    'enable.idempotence': opts.idempotent ?? true,
    acks: -1,
    // kafkajs's default partitioner is Java's murmur2: the same key lands on the same partition with either client.
    partitioner: 'murmur2_random',
    'compression.codec': compressionCodecs[opts.compression ?? RDKAFKA_PRODUCER_DEFAULTS.compression],
    'linger.ms': opts.lingerMs ?? RDKAFKA_PRODUCER_DEFAULTS.lingerMs,
    'batch.size': RDKAFKA_PRODUCER_DEFAULTS.batchBytes,
    'max.in.flight.requests.per.connection': 5,
    'queue.buffering.max.messages': 200_000,
  };
  if (opts.maxRequestBytes !== undefined) config['message.max.bytes'] = opts.maxRequestBytes;
  return config;
}

/**
 * Flushes a producer and disconnects it. The binding's poll timer fires on this thread while its
 * disconnect deletes the native client on the thread pool, and it stops the timer only once that is done:
 * a poll in between calls into a half-destroyed object (a core dump of a jest worker: abort in
 * Producer::NodePoll, "pure virtual method called"). So the timer stops first; after the flush every
 * delivery report has come. For every librdkafka producer here, the transport's and the bench's.
 */
export async function closeRdProducer(producer: RdProducer, flushTimeoutMs: number): Promise<void> {
  await connectSettled(producer);
  if (!producer.isConnected()) return;
  await new Promise<void>((resolve) => producer.flush(flushTimeoutMs, () => resolve()));
  producer.setPollInterval(0);
  await disconnectClient(producer);
}

/** One `send()` call: resolves when librdkafka has reported delivery of every record. */
interface PendingSend {
  remaining: number;
  acks: Map<string, RecordAck>;
  failed: boolean;
  resolve: (acks: RecordAck[]) => void;
  reject: (error: Error) => void;
}

export class RdkafkaProducer implements Producer {
  private readonly producer: RdProducer;
  /** Waiters for room in librdkafka's local queue (it answers QUEUE_FULL when full). */
  private roomWaiters: (() => void)[] = [];
  /** Sends awaiting delivery reports, by id: a number as librdkafka's opaque is cheaper than an object handle. */
  private readonly pending = new Map<number, PendingSend>();
  private nextSendId = 1;

  constructor(module: RdModule, config: RdConfig, logger: Logger | undefined) {
    this.producer = new module.Producer(config);
    routeLogs(this.producer, logger);
    this.producer.on('delivery-report', (err, report) => {
      this.wakeRoomWaiters();
      const id = report.opaque as number;
      const pending = this.pending.get(id);
      if (!pending) return;
      if (err) {
        pending.failed = true;
        this.pending.delete(id);
        pending.reject(fromLibrdkafka(err, 'produce'));
        return;
      }
      const key = tpKey(report.topic, report.partition);
      const ack = pending.acks.get(key);
      const offset = String(report.offset);
      if (!ack) pending.acks.set(key, { topic: report.topic, partition: report.partition, offset });
      else if (Number(offset) < Number(ack.offset)) ack.offset = offset;
      pending.remaining -= 1;
      if (pending.remaining === 0) {
        this.pending.delete(id);
        pending.resolve([...pending.acks.values()]);
      }
    });
  }

  async connect(): Promise<void> {
    await connectClient(this.producer, 'producer');
    this.producer.setPollInterval(RDKAFKA_PRODUCER_DEFAULTS.pollIntervalMs);
  }

  send(records: readonly OutgoingRecord[]): Promise<RecordAck[]> {
    if (records.length === 0) return Promise.resolve([]);
    return new Promise<RecordAck[]>((resolve, reject) => {
      const id = this.nextSendId++;
      const pending: PendingSend = { remaining: records.length, acks: new Map(), failed: false, resolve, reject };
      this.pending.set(id, pending);
      void this.enqueue(records, id, pending).catch((error: unknown) => {
        pending.failed = true;
        this.pending.delete(id);
        reject(fromLibrdkafka(error, 'produce'));
      });
    });
  }

  private async enqueue(records: readonly OutgoingRecord[], id: number, pending: PendingSend): Promise<void> {
    for (const record of records) {
      const headers = record.headers ? Object.entries(record.headers).map(([name, value]) => ({ [name]: value })) : undefined;
      for (;;) {
        if (pending.failed) return;
        try {
          this.producer.produce(record.topic, record.partition ?? null, toBuffer(record.value), record.key, null, id, headers);
          break;
        } catch (error) {
          if ((error as Partial<RdError>).code !== RD_ERR.QUEUE_FULL) throw error;
          await this.waitForRoom();
        }
      }
    }
  }

  private waitForRoom(): Promise<void> {
    return new Promise((resolve) => {
      this.roomWaiters.push(resolve);
      // Delivery reports wake us; the timer only guards against a report that never comes.
      setTimeout(() => this.wakeRoomWaiters(), 50).unref();
    });
  }

  private wakeRoomWaiters(): void {
    if (this.roomWaiters.length === 0) return;
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const wake of waiters) wake();
  }

  disconnect(): Promise<void> {
    return call('disconnect', () => closeRdProducer(this.producer, 10_000));
  }
}
