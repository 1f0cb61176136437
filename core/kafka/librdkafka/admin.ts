import { InternalError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { retry } from '../../retry.js';
import { fromLibrdkafka, kafkaFailure, type KafkaOperation } from '../kafka-errors.js';
import { createKafkajsTransport } from '../kafkajs.js';
import type { RdAdmin, RdConfig, RdError, RdModule } from '../librdkafka-binding.js';
import { NEW_TOPIC_OFFSETS_RETRY } from '../retry-policies.js';
import { isTopicAlreadyExists, waitForLeaders } from '../shared.js';
import type { Admin, KafkaConnectionOptions, PartitionOffsets, TopicPartitionOffset, TopicSpec } from '../transport.js';
import { call, callSync } from './connection.js';

const ADMIN_TIMEOUT_MS = 10_000;

function adminCall<T>(operation: KafkaOperation, run: (cb: (err: RdError | null, result: T) => void) => void): Promise<T> {
  return call(operation, () => new Promise<T>((resolve, reject) => run((err, result) => (err ? reject(err) : resolve(result)))));
}

export class RdkafkaAdmin implements Admin {
  private admin: RdAdmin | undefined;
  private kafkajsAdmin: Promise<Admin> | undefined;

  constructor(
    private readonly module: RdModule,
    private readonly config: RdConfig,
    private readonly options: KafkaConnectionOptions,
    private readonly logger: Logger | undefined,
  ) {}

  private client(): RdAdmin {
    if (!this.admin) throw new InternalError('Kafka admin is not connected; call connect() first');
    return this.admin;
  }

  connect(): Promise<void> {
    if (!this.admin) this.admin = callSync('connect', () => this.module.AdminClient.create(this.config));
    return Promise.resolve();
  }

  async ensureTopics(topics: readonly TopicSpec[]): Promise<void> {
    if (topics.length === 0) return;
    const existing = new Set(await this.listTopics());
    const missing = topics.filter((t) => !existing.has(t.topic));
    for (const t of missing) {
      try {
        await adminCall<void>('create topics', (cb) =>
          this.client().createTopic(
            { topic: t.topic, num_partitions: t.partitions ?? -1, replication_factor: t.replicationFactor ?? -1, config: t.config ?? {} },
            ADMIN_TIMEOUT_MS,
            (err) => cb(err, undefined),
          ),
        );
      } catch (error) {
        // Another process may have created the same topic between our list and create.
        if (!isTopicAlreadyExists(error)) throw error;
      }
    }
    if (missing.length > 0) await this.waitForLeaders(missing.map((t) => t.topic));
  }

  /** kafkajs's createTopics waits for partition leaders; librdkafka returns earlier, so wait here. */
  private waitForLeaders(topics: string[]): Promise<void> {
    return waitForLeaders(topics, async () => {
      const described = await adminCall<{ name: string; partitions: { leader: { id: number } | null }[]; error?: RdError }[]>('describe topics', (cb) =>
        this.client().describeTopics(topics, { timeout: ADMIN_TIMEOUT_MS }, cb),
      );
      return described.length === topics.length && described.every((d) => !d.error && d.partitions.length > 0 && d.partitions.every((p) => p.leader !== null));
    });
  }

  listTopics(): Promise<string[]> {
    return adminCall<string[]>('list topics', (cb) => this.client().listTopics({ timeout: ADMIN_TIMEOUT_MS }, cb));
  }

  async deleteTopics(topics: readonly string[]): Promise<void> {
    for (const topic of topics) await adminCall<void>('delete topics', (cb) => this.client().deleteTopic(topic, ADMIN_TIMEOUT_MS, (err) => cb(err, undefined)));
  }

  private async partitionsOf(topic: string): Promise<number[]> {
    const [described] = await adminCall<{ name: string; partitions: { partition: number }[]; error?: RdError }[]>('describe topics', (cb) =>
      this.client().describeTopics([topic], { timeout: ADMIN_TIMEOUT_MS }, cb),
    );
    if (!described) throw kafkaFailure('describe topics', `Kafka describe topics failed: topic ${topic} not found`, false);
    if (described.error) throw fromLibrdkafka(described.error, 'describe topics');
    return described.partitions.map((p) => p.partition).sort((a, b) => a - b);
  }

  async topicOffsets(topic: string): Promise<PartitionOffsets[]> {
    const partitions = await this.partitionsOf(topic);
    const list = (spec: unknown) =>
      adminCall<{ partition: number; offset: number; error?: RdError }[]>('list offsets', (cb) =>
        this.client().listOffsets(
          partitions.map((partition) => ({ topic, partition, offset: spec })),
          { timeout: ADMIN_TIMEOUT_MS },
          cb,
        ),
      );
    // Right after a topic is created the broker may answer a partition with an error or offset -1
    // (not available yet): ask again rather than report -1 as an offset.
    const read = async (): Promise<PartitionOffsets[]> => {
      const [low, high] = await Promise.all([list(this.module.OffsetSpec.EARLIEST), list(this.module.OffsetSpec.LATEST)]);
      const unknown = [...low, ...high].find((o) => o.error || o.offset < 0);
      if (unknown)
        throw kafkaFailure(
          'list offsets',
          `Kafka offsets of ${topic} partition ${unknown.partition} are not available yet${unknown.error ? `: ${unknown.error.message}` : ''}`,
          true,
          unknown.error,
        );
      return partitions.map((partition) => ({
        partition,
        low: String(low.find((o) => o.partition === partition)?.offset ?? 0),
        high: String(high.find((o) => o.partition === partition)?.offset ?? 0),
      }));
    };
    return retry(read, NEW_TOPIC_OFFSETS_RETRY);
  }

  /**
   * Asked through kafkajs's admin: librdkafka's ListConsumerGroupOffsets dereferences a null consumer group
   * when the broker answers NOT_COORDINATOR (a group it has not seen yet, a loaded broker) and takes the
   * whole process down with SIGSEGV (confluentinc/librdkafka#5040, confluent-kafka-javascript#374; seen
   * here under test/processor-delivery with CHANGEFLOW_KAFKA_CLIENT=librdkafka).
   */
  async groupOffsets(groupId: string, topic: string): Promise<TopicPartitionOffset[]> {
    const offsets = await (await this.borrowedKafkajs()).groupOffsets(groupId, topic);
    return offsets.sort((a, b) => a.partition - b.partition);
  }

  /** Through kafkajs's admin too, for the same NOT_COORDINATOR reason as groupOffsets. */
  async deleteGroups(groupIds: readonly string[]): Promise<void> {
    if (groupIds.length > 0) await (await this.borrowedKafkajs()).deleteGroups(groupIds);
  }

  /** librdkafka's bindings expose neither the cluster id nor the controller: kafkajs's admin answers this one. */
  async describeCluster(): Promise<{ brokers: string[]; controller: number | null; clusterId: string }> {
    return (await this.borrowedKafkajs()).describeCluster();
  }

  /** A kafkajs admin for what librdkafka's cannot do (safely), connected on first use. */
  private borrowedKafkajs(): Promise<Admin> {
    if (!this.kafkajsAdmin) {
      const admin = createKafkajsTransport(this.options, this.logger).admin();
      const connected = admin.connect().then(() => admin);
      // A failed connect is tried again by the next call.
      connected.catch(() => (this.kafkajsAdmin = undefined));
      this.kafkajsAdmin = connected;
    }
    return this.kafkajsAdmin;
  }

  async disconnect(): Promise<void> {
    const admin = this.admin;
    this.admin = undefined;
    if (admin) callSync('disconnect', () => admin.disconnect());
    const borrowed = this.kafkajsAdmin;
    this.kafkajsAdmin = undefined;
    await (await borrowed?.catch(() => undefined))?.disconnect();
  }
}
