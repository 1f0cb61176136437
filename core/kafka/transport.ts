/**
 * The one Kafka interface the rest of changeflow uses. Implementations: kafkajs (kafkajs.ts) and
 * librdkafka (librdkafka.ts, its producer, consumer and admin in librdkafka/); index.ts picks one.
 * Callers never import a client library directly, and every error out of it is a ChangeflowError
 * with dependency Kafka (kafka-errors.ts).
 */

export type Headers = Record<string, string>;

export interface OutgoingRecord {
  topic: string;
  key: Buffer | string | null;
  value: Buffer | string | null;
  headers?: Headers;
  partition?: number;
}

export interface RecordAck {
  topic: string;
  partition: number;
  /** Base offset of the acknowledged batch on that partition. */
  offset: string;
}

export interface ProducerOptions {
  /** Idempotent producer with acks=all (the source's no-loss rule). Default true. */
  idempotent?: boolean;
  compression?: 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';
  /** Largest request the producer may send, bytes. */
  maxRequestBytes?: number;
  /** How long the producer may wait to fill a batch, ms (librdkafka only; kafkajs sends each call at once). */
  lingerMs?: number;
}

export interface Producer {
  connect(): Promise<void>;
  /** Resolves once every record is acknowledged by the broker (acks=all). Order per partition is kept. */
  send(records: readonly OutgoingRecord[]): Promise<RecordAck[]>;
  disconnect(): Promise<void>;
}

export interface IncomingRecord {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Headers;
  /** Broker or producer timestamp, ms since epoch. */
  timestamp: number;
}

export interface TopicPartition {
  topic: string;
  partition: number;
}

export interface TopicPartitionOffset extends TopicPartition {
  /** The offset of the NEXT record to read (Kafka's commit convention). */
  offset: string;
}

export interface Batch extends TopicPartition {
  records: IncomingRecord[];
  /** The partition's high watermark when the batch was fetched (for lag). */
  highWatermark: string;
}

export interface BatchContext {
  /** True once the consumer is stopping or the partition was revoked; finish fast, commit nothing new. */
  isStale(): boolean;
  /** Keeps the group session alive during long work. */
  heartbeat(): Promise<void>;
}

export interface ConsumerOptions {
  groupId: string;
  /** Where a group with no committed offset starts. Default 'earliest'. */
  fromBeginning?: boolean;
  /** Upper bound of bytes fetched per partition per request (backpressure). */
  maxBytesPerPartition?: number;
  sessionTimeoutMs?: number;
}

export interface Consumer {
  connect(): Promise<void>;
  subscribe(topics: readonly (string | RegExp)[]): Promise<void>;
  /**
   * Starts fetching. `eachBatch` is called for one partition at a time per partition, in offset order;
   * nothing is committed automatically: the caller commits with `commit` after its sinks acknowledged.
   */
  run(eachBatch: (batch: Batch, context: BatchContext) => Promise<void>, options?: { partitionsConsumedConcurrently?: number }): Promise<void>;
  commit(offsets: readonly TopicPartitionOffset[]): Promise<void>;
  pause(partitions: readonly TopicPartition[]): void;
  resume(partitions: readonly TopicPartition[]): void;
  /** Re-reads a partition from `offset` on the next fetch. */
  seek(position: TopicPartitionOffset): void;
  disconnect(): Promise<void>;
}

export interface TopicSpec {
  topic: string;
  partitions?: number;
  replicationFactor?: number;
  /** Topic-level configs, e.g. `{ 'cleanup.policy': 'compact' }`. */
  config?: Record<string, string>;
}

export interface PartitionOffsets {
  partition: number;
  low: string;
  high: string;
}

/** How long a new topic may take to get partition leaders (a loaded single-node KRaft can take seconds). */
export const TOPIC_LEADER_WAIT_MS = 30_000;

export interface Admin {
  connect(): Promise<void>;
  /** Creates the topics that do not exist yet; existing topics are left as they are. */
  ensureTopics(topics: readonly TopicSpec[]): Promise<void>;
  listTopics(): Promise<string[]>;
  deleteTopics(topics: readonly string[]): Promise<void>;
  topicOffsets(topic: string): Promise<PartitionOffsets[]>;
  /** Committed offsets of a group for a topic (-1 where none). */
  groupOffsets(groupId: string, topic: string): Promise<TopicPartitionOffset[]>;
  /** Deletes consumer groups that have no members left (a throwaway reader's, once it disconnected). */
  deleteGroups(groupIds: readonly string[]): Promise<void>;
  describeCluster(): Promise<{ brokers: string[]; controller: number | null; clusterId: string }>;
  disconnect(): Promise<void>;
}

export interface KafkaTransport {
  /** The client of consumers and admin (and of producers unless `producerName` says otherwise). */
  readonly name: 'kafkajs' | 'librdkafka';
  /** Set when producers use the other client (`kafka.producerClient`). */
  readonly producerName?: 'kafkajs' | 'librdkafka';
  producer(options?: ProducerOptions): Producer;
  consumer(options: ConsumerOptions): Consumer;
  admin(): Admin;
}

export interface KafkaConnectionOptions {
  brokers: string[];
  clientId?: string;
  /** ms to wait for a connection before giving up on a broker. */
  connectionTimeoutMs?: number;
}
