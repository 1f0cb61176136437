import { createRequire } from 'node:module';
import { MissingPrerequisiteError, toError } from '../errors.js';

/**
 * The slice of @confluentinc/kafka-javascript's node-rdkafka-style API that the librdkafka transport
 * uses, typed here so that the project compiles and installs without the optional native package.
 */

export interface RdError extends Error {
  code: number;
  isFatal?: boolean;
  isRetriable?: boolean;
}

export type RdConfig = Record<string, string | number | boolean | ((...args: never[]) => void)>;

export interface RdTopicPartition {
  topic: string;
  partition: number;
  offset?: number;
  error?: RdError;
}

export interface RdMessage {
  topic: string;
  partition: number;
  offset: number;
  key?: Buffer | string | null;
  value: Buffer | null;
  timestamp?: number;
  headers?: Record<string, Buffer | string>[];
}

export interface RdDeliveryReport {
  topic: string;
  partition: number;
  offset: number;
  opaque?: unknown;
}

export interface RdMetadata {
  orig_broker_id: number;
  brokers: { id: number; host: string; port: number }[];
  topics: { name: string; partitions: { id: number; leader: number }[] }[];
}

interface RdClient {
  connect(options: { timeout?: number }, cb: (err: RdError | null) => void): unknown;
  disconnect(cb: (err: unknown) => void): unknown;
  isConnected(): boolean;
  getMetadata(options: { topic?: string; allTopics?: boolean; timeout?: number }, cb: (err: RdError | null, metadata: RdMetadata) => void): unknown;
  on(event: 'event.error', listener: (err: RdError) => void): unknown;
  on(event: 'event.log', listener: (log: { severity: number; fac: string; message: string }) => void): unknown;
}

export interface RdProducer extends RdClient {
  produce(
    topic: string,
    partition: number | null,
    value: Buffer | null,
    key: Buffer | string | null,
    timestamp: number | null,
    opaque: unknown,
    headers?: Record<string, Buffer | string>[],
  ): unknown;
  flush(timeoutMs: number, cb: (err: RdError | null) => void): unknown;
  setPollInterval(ms: number): unknown;
  on(event: 'delivery-report', listener: (err: RdError | null, report: RdDeliveryReport) => void): unknown;
  on(event: 'event.error', listener: (err: RdError) => void): unknown;
  on(event: 'event.log', listener: (log: { severity: number; fac: string; message: string }) => void): unknown;
}

export interface RdConsumer extends RdClient {
  subscribe(topics: string[]): unknown;
  consume(count: number, cb: (err: RdError | null, messages: RdMessage[]) => void): void;
  setDefaultConsumeTimeout(ms: number): void;
  setDefaultIsTimeoutOnlyForFirstMessage?(onlyFirst: boolean): void;
  commitCb(offsets: RdTopicPartition[], cb: (err: RdError | null) => void): unknown;
  pause(partitions: RdTopicPartition[]): unknown;
  resume(partitions: RdTopicPartition[]): unknown;
  seek(position: RdTopicPartition & { offset: number }, timeoutMs: number, cb: (err: RdError | null) => void): unknown;
  assign(partitions: RdTopicPartition[]): unknown;
  unassign(): unknown;
  incrementalAssign(partitions: RdTopicPartition[]): unknown;
  incrementalUnassign(partitions: RdTopicPartition[]): unknown;
  rebalanceProtocol(): string;
  assignments(): RdTopicPartition[];
  getWatermarkOffsets(topic: string, partition: number): { highOffset: number; lowOffset: number };
}

export interface RdAdmin {
  connect(): void;
  disconnect(): void;
  createTopic(
    topic: { topic: string; num_partitions: number; replication_factor: number; config: Record<string, string> },
    timeoutMs: number,
    cb: (err: RdError | null) => void,
  ): void;
  deleteTopic(topic: string, timeoutMs: number, cb: (err: RdError | null) => void): void;
  listTopics(options: { timeout: number }, cb: (err: RdError | null, topics: string[]) => void): void;
  describeTopics(
    topics: string[],
    options: { timeout: number },
    cb: (err: RdError | null, result: { name: string; partitions: { partition: number; leader: { id: number } | null }[]; error?: RdError }[]) => void,
  ): void;
  listOffsets(
    partitions: { topic: string; partition: number; offset: unknown }[],
    options: { timeout: number },
    cb: (err: RdError | null, result: { topic: string; partition: number; offset: number; error?: RdError }[]) => void,
  ): void;
  listConsumerGroupOffsets(
    groups: { groupId: string; partitions: { topic: string; partition: number }[] }[],
    options: { timeout: number },
    cb: (err: RdError | null, result: { groupId: string; error?: RdError; partitions: RdTopicPartition[] }[]) => void,
  ): void;
}

export interface RdModule {
  librdkafkaVersion: string;
  Producer: new (config: RdConfig) => RdProducer;
  KafkaConsumer: new (config: RdConfig) => RdConsumer;
  AdminClient: { create(config: RdConfig): RdAdmin };
  OffsetSpec: { EARLIEST: unknown; LATEST: unknown };
}

export const RD_ERR = {
  QUEUE_FULL: -184,
  ASSIGN_PARTITIONS: -175,
  REVOKE_PARTITIONS: -174,
  TOPIC_ALREADY_EXISTS: 36,
  UNKNOWN_TOPIC_OR_PART: 3,
} as const;

export const NATIVE_PACKAGE = '@confluentinc/kafka-javascript';

let loaded: { module: RdModule } | { error: Error } | undefined;

/**
 * Loads the native client once. It is an optional dependency built from source at install time, so it
 * may be missing or fail to load (no compiler, no -dev packages): the caller then falls back to kafkajs.
 */
export function loadLibrdkafka(): { module: RdModule } | { error: Error } {
  if (loaded) return loaded;
  try {
    const required = createRequire(import.meta.url)(NATIVE_PACKAGE) as Partial<RdModule>;
    if (typeof required.Producer !== 'function' || typeof required.KafkaConsumer !== 'function' || typeof required.AdminClient?.create !== 'function') {
      throw new MissingPrerequisiteError(`${NATIVE_PACKAGE} loaded but does not expose Producer, KafkaConsumer and AdminClient`);
    }
    loaded = { module: required as RdModule };
  } catch (error) {
    loaded = { error: toError(error) };
  }
  return loaded;
}
