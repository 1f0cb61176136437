import { Kafka, CompressionTypes, logLevel, type Consumer as KjsConsumer, type Producer as KjsProducer, type Admin as KjsAdmin, type Message } from 'kafkajs';
import { fromKafkajs, guarded, guardedSync, type KafkaOperation } from './kafka-errors.js';
import { retry } from '../retry.js';
import { GROUP_COORDINATOR_RETRY } from './retry-policies.js';
import { decodeHeaders, isTopicAlreadyExists, waitForLeaders } from './shared.js';
import type { Logger } from '../logger.js';
import type {
  Admin,
  Batch,
  Consumer,
  ConsumerOptions,
  IncomingRecord,
  KafkaConnectionOptions,
  KafkaTransport,
  OutgoingRecord,
  Producer,
  ProducerOptions,
  RecordAck,
  TopicPartition,
  TopicPartitionOffset,
  TopicSpec,
} from './transport.js';

const compressionCodes = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
} as const;

function isRetriableKafkaError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { retriable?: boolean }).retriable === true;
}

/** One kafkajs call, its failure as the transport's error. */
function call<T>(operation: KafkaOperation, run: () => Promise<T>): Promise<T> {
  return guarded(fromKafkajs, operation, run);
}

/** One `send()` call waiting in the producer's queue. */
interface QueuedSend {
  records: readonly OutgoingRecord[];
  bytes: number;
  resolve: (acks: RecordAck[]) => void;
  reject: (error: Error) => void;
}

/** Bytes a record adds to a produce request, near enough to cap a coalesced batch. */
function approximateBytes(records: readonly OutgoingRecord[]): number {
  let bytes = 0;
  for (const r of records) {
    bytes += 70 + (r.key === null ? 0 : Buffer.byteLength(r.key)) + (r.value === null ? 0 : Buffer.byteLength(r.value));
    if (r.headers) for (const [name, value] of Object.entries(r.headers)) bytes += Buffer.byteLength(name) + Buffer.byteLength(value) + 8;
  }
  return bytes;
}

/** Largest coalesced sendBatch, bytes, when the producer options give no `maxRequestBytes`. */
export const KAFKAJS_COALESCE_BYTES = 1_000_000;

/**
 * The transport's producer on kafkajs. KafkaJS numbers idempotent batches after an async metadata step
 * and, on an out-of-order sequence error, rewinds and resends: two sendBatch calls in flight on one
 * producer can land in either order. Callers rely on per-partition order across send() calls, so one
 * sendBatch is in flight at a time, and the send() calls queued meanwhile go out together, in call order,
 * as the next one: a caller sending one record at a time waits one round trip, not one per queued call.
 */
export class KafkajsProducer implements Producer {
  private readonly queue: QueuedSend[] = [];
  private sending = false;

  constructor(
    private readonly producer: Pick<KjsProducer, 'connect' | 'disconnect' | 'sendBatch'>,
    private readonly compression: CompressionTypes,
    private readonly maxBatchBytes = KAFKAJS_COALESCE_BYTES,
  ) {}

  connect(): Promise<void> {
    return call('connect', () => this.producer.connect());
  }

  /** An empty send resolves once every send before it is acknowledged (it still waits its turn). */
  send(records: readonly OutgoingRecord[]): Promise<RecordAck[]> {
    return new Promise<RecordAck[]>((resolve, reject) => {
      this.queue.push({ records, bytes: approximateBytes(records), resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    if (this.sending || this.queue.length === 0) return;
    this.sending = true;
    const group = this.takeGroup();
    void this.sendGroup(group).finally(() => {
      this.sending = false;
      this.pump();
    });
  }

  /** The oldest queued send and those after it that fit within `maxBatchBytes` together (at least one). */
  private takeGroup(): QueuedSend[] {
    let bytes = 0;
    let count = 0;
    for (const next of this.queue) {
      if (count > 0 && bytes + next.bytes > this.maxBatchBytes) break;
      bytes += next.bytes;
      count += 1;
    }
    return this.queue.splice(0, count);
  }

  private async sendGroup(group: readonly QueuedSend[]): Promise<void> {
    const byTopic = new Map<string, Message[]>();
    for (const { records } of group) {
      for (const record of records) {
        let messages = byTopic.get(record.topic);
        if (!messages) byTopic.set(record.topic, (messages = []));
        const message: Message = { key: record.key, value: record.value };
        if (record.headers) message.headers = record.headers;
        if (record.partition !== undefined) message.partition = record.partition;
        messages.push(message);
      }
    }
    if (byTopic.size === 0) {
      for (const waiting of group) waiting.resolve([]);
      return;
    }
    try {
      const result = await this.producer.sendBatch({
        acks: -1,
        compression: this.compression,
        topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
      });
      const acks = result.map((r) => ({ topic: r.topicName, partition: r.partition, offset: r.baseOffset ?? '-1' }));
      // Each caller gets the acks of the topics it sent to: the base offsets of the batches its records went out in.
      for (const waiting of group) {
        const topics = new Set(waiting.records.map((r) => r.topic));
        waiting.resolve(group.length === 1 ? acks : acks.filter((a) => topics.has(a.topic)));
      }
    } catch (error) {
      const wrapped = fromKafkajs(error, 'produce');
      for (const waiting of group) waiting.reject(wrapped);
    }
  }

  disconnect(): Promise<void> {
    return call('disconnect', () => this.producer.disconnect());
  }
}

class KafkajsConsumer implements Consumer {
  private stopping = false;

  constructor(
    private readonly consumer: KjsConsumer,
    private readonly fromBeginning: boolean,
  ) {}

  connect(): Promise<void> {
    return call('connect', () => this.consumer.connect());
  }

  subscribe(topics: readonly (string | RegExp)[]): Promise<void> {
    return call('subscribe', () => this.consumer.subscribe({ topics: [...topics], fromBeginning: this.fromBeginning }));
  }

  run(
    eachBatch: (batch: Batch, context: { isStale(): boolean; heartbeat(): Promise<void> }) => Promise<void>,
    options: { partitionsConsumedConcurrently?: number } = {},
  ): Promise<void> {
    return call('run', () =>
      this.consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? 1,
        eachBatch: async ({ batch, heartbeat, isRunning, isStale, resolveOffset }) => {
          const records: IncomingRecord[] = batch.messages.map((m) => ({
            topic: batch.topic,
            partition: batch.partition,
            offset: m.offset,
            key: m.key ?? null,
            value: m.value ?? null,
            headers: decodeHeaders(m.headers),
            timestamp: Number(m.timestamp),
          }));
          await eachBatch(
            { topic: batch.topic, partition: batch.partition, records, highWatermark: batch.highWatermark },
            { isStale: () => this.stopping || !isRunning() || isStale(), heartbeat },
          );
          // Offsets are committed explicitly by the caller; resolving only advances the fetch position.
          const last = records[records.length - 1];
          if (last && !isStale()) resolveOffset(last.offset);
        },
      }),
    );
  }

  async commit(offsets: readonly TopicPartitionOffset[]): Promise<void> {
    if (offsets.length === 0) return;
    await call('commit', () => this.consumer.commitOffsets(offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset }))));
  }

  pause(partitions: readonly TopicPartition[]): void {
    guardedSync(fromKafkajs, 'pause', () => this.consumer.pause(groupByTopic(partitions)));
  }

  resume(partitions: readonly TopicPartition[]): void {
    guardedSync(fromKafkajs, 'resume', () => this.consumer.resume(groupByTopic(partitions)));
  }

  seek(position: TopicPartitionOffset): void {
    guardedSync(fromKafkajs, 'seek', () => this.consumer.seek({ topic: position.topic, partition: position.partition, offset: position.offset }));
  }

  async disconnect(): Promise<void> {
    this.stopping = true;
    await call('disconnect', () => this.consumer.disconnect());
  }
}

function groupByTopic(partitions: readonly TopicPartition[]): { topic: string; partitions: number[] }[] {
  const grouped = new Map<string, number[]>();
  for (const { topic, partition } of partitions) grouped.set(topic, [...(grouped.get(topic) ?? []), partition]);
  return [...grouped].map(([topic, ps]) => ({ topic, partitions: ps }));
}

class KafkajsAdmin implements Admin {
  constructor(private readonly admin: KjsAdmin) {}

  connect(): Promise<void> {
    return call('connect', () => this.admin.connect());
  }

  async ensureTopics(topics: readonly TopicSpec[]): Promise<void> {
    if (topics.length === 0) return;
    const existing = new Set(await this.listTopics());
    const missing = topics.filter((t) => !existing.has(t.topic));
    if (missing.length === 0) return;
    try {
      await this.admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((t) => ({
          topic: t.topic,
          numPartitions: t.partitions ?? -1,
          replicationFactor: t.replicationFactor ?? -1,
          configEntries: Object.entries(t.config ?? {}).map(([name, value]) => ({ name, value })),
        })),
      });
    } catch (error) {
      // Another process may have created the same topic between our list and create.
      if (isTopicAlreadyExists(error)) return;
      // kafkajs's own wait for leaders gives up after its request timeout on a loaded single-node KRaft and
      // reports the topic it has just created as unknown: keep waiting, with our own deadline.
      if (!isRetriableKafkaError(error)) throw fromKafkajs(error, 'create topics');
      await this.waitForLeaders(missing.map((t) => t.topic));
    }
  }

  private waitForLeaders(topics: string[]): Promise<void> {
    return waitForLeaders(topics, async () => {
      const { topics: described } = await this.admin.fetchTopicMetadata({ topics });
      return (
        described.length === topics.length &&
        described.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.partitionErrorCode === 0 && p.leader >= 0))
      );
    });
  }

  listTopics(): Promise<string[]> {
    return call('list topics', () => this.admin.listTopics());
  }

  async deleteTopics(topics: readonly string[]): Promise<void> {
    if (topics.length > 0) await call('delete topics', () => this.admin.deleteTopics({ topics: [...topics] }));
  }

  async topicOffsets(topic: string): Promise<{ partition: number; low: string; high: string }[]> {
    const offsets = await call('list offsets', () => this.admin.fetchTopicOffsets(topic));
    return offsets.map((o) => ({ partition: o.partition, low: o.low, high: o.high })).sort((a, b) => a.partition - b.partition);
  }

  async groupOffsets(groupId: string, topic: string): Promise<TopicPartitionOffset[]> {
    // kafkajs's fetchOffsets does not retry a coordinator that is still loading the group (NOT_COORDINATOR
    // from a fresh broker right after the group's first join).
    const result = await retry(() => call('list group offsets', () => this.admin.fetchOffsets({ groupId, topics: [topic] })), GROUP_COORDINATOR_RETRY);
    return result.flatMap((t) => t.partitions.map((p) => ({ topic: t.topic, partition: p.partition, offset: p.offset })));
  }

  async deleteGroups(groupIds: readonly string[]): Promise<void> {
    if (groupIds.length > 0) await call('delete groups', () => this.admin.deleteGroups([...groupIds]));
  }

  async describeCluster(): Promise<{ brokers: string[]; controller: number | null; clusterId: string }> {
    const c = await call('describe cluster', () => this.admin.describeCluster());
    return { brokers: c.brokers.map((b) => `${b.host}:${b.port}`), controller: c.controller, clusterId: c.clusterId };
  }

  disconnect(): Promise<void> {
    return call('disconnect', () => this.admin.disconnect());
  }
}

/** Routes kafkajs's own log lines into our structured logger at the matching level. */
function logCreator(logger: Logger | undefined) {
  return () =>
    ({ level, log }: { level: logLevel; log: { message: string } & Record<string, unknown> }) => {
      if (!logger) return;
      const { message, ...rest } = log;
      if (level === logLevel.ERROR) logger.error(rest, message);
      else if (level === logLevel.WARN) logger.warn(rest, message);
      else logger.debug(rest, message);
    };
}

export function createKafkajsTransport(options: KafkaConnectionOptions, logger?: Logger): KafkaTransport {
  const kafka = new Kafka({
    clientId: options.clientId ?? 'changeflow',
    brokers: options.brokers,
    connectionTimeout: options.connectionTimeoutMs ?? 3_000,
    logLevel: logLevel.WARN,
    logCreator: logCreator(logger?.child({ component: 'kafkajs' })),
    retry: { retries: 8, initialRetryTime: 200, maxRetryTime: 10_000 },
  });
  return {
    name: 'kafkajs',
    producer(opts: ProducerOptions = {}): Producer {
      const idempotent = opts.idempotent ?? true;
      const producer = kafka.producer({
        idempotent,
        maxInFlightRequests: idempotent ? 5 : undefined,
        allowAutoTopicCreation: false,
      });
      return new KafkajsProducer(producer, compressionCodes[opts.compression ?? 'none'], opts.maxRequestBytes ?? KAFKAJS_COALESCE_BYTES);
    },
    consumer(opts: ConsumerOptions): Consumer {
      return new KafkajsConsumer(
        kafka.consumer({
          groupId: opts.groupId,
          allowAutoTopicCreation: false,
          sessionTimeout: opts.sessionTimeoutMs ?? 30_000,
          maxBytesPerPartition: opts.maxBytesPerPartition ?? 1_048_576,
          // The fetch long-poll bounds how fast a stopping consumer lets go (a trigger restart or
          // disable must take effect within seconds); data still returns as soon as it arrives.
          maxWaitTimeInMs: 1_000,
          retry: { retries: 10 },
        }),
        opts.fromBeginning ?? true,
      );
    },
    admin(): Admin {
      return new KafkajsAdmin(kafka.admin());
    },
  };
}
