import type { MongoClient } from 'mongodb';
import type { ComponentState } from '../../core/health.js';
import type { Admin, Producer } from '../../core/kafka/transport.js';
import type { Logger } from '../../core/logger.js';
import type { TopicNames } from '../../core/topics.js';
import type { AvroCodec } from '../../schemas/avro-codec.js';
import type { EncoderContext } from './change-encoder.js';
import type { ValueEncoder } from './change-records.js';
import type { EchoFilter } from './echo-filter.js';
import type { OffsetStore } from './offset-store.js';
import { OrderedSender } from './ordered-sender.js';
import type { RecordRouter } from './record-router.js';
import type { SourceConfig } from './source-config.js';
import type { SourceMetrics } from './source-metrics.js';
import type { SourcePosition } from './source-position.js';

/** A batch handed to Kafka: the position after it, and what it held (for metrics). */
export interface Acked {
  position: SourcePosition;
  counts: Map<string, number>;
  clusterTime?: { t: number; i: number };
}

/** The source's progress, kept across sessions: what the gauges and health show. */
export interface SourceProgress {
  lastSavedAt: number;
  lastSaved: SourcePosition | null;
  lastAckedClusterTime: { t: number; i: number } | undefined;
  caughtUp: boolean;
  /** Events left out because the server sent no namespace for them. */
  unplaced: number;
}

export interface SessionParts {
  config: SourceConfig;
  client: MongoClient;
  topics: TopicNames;
  metrics: SourceMetrics;
  log: Logger;
  offsets: OffsetStore;
  admin: Admin;
  producer: Producer;
  encoder: EncoderContext;
  router: RecordRouter;
  echo: EchoFilter | null;
  avro: AvroCodec | undefined;
  valueEncoder: ValueEncoder | undefined;
  progress: SourceProgress;
  signal: AbortSignal;
  /** Throws LeaseLostError once the lease is gone: nothing more may be produced. */
  assertLease: () => void;
  report: (ok: boolean, detail: string, state?: ComponentState) => void;
}

/**
 * One active period of a source (from taking the lease, or reconnecting, until stop or an error):
 * the clients it produces with and what the snapshot and the change stream both need: ordered
 * sends, and storing the position only behind what Kafka acknowledged.
 */
export class SourceSession {
  constructor(readonly parts: SessionParts) {}

  get config(): SourceConfig {
    return this.parts.config;
  }

  get log(): Logger {
    return this.parts.log;
  }

  get stopping(): boolean {
    return this.parts.signal.aborted;
  }

  async save(position: SourcePosition): Promise<void> {
    await this.parts.offsets.save(this.parts.producer, this.config.name, position);
    this.parts.progress.lastSavedAt = Date.now();
    this.parts.progress.lastSaved = position;
  }

  /** Stores `acked` when it is new and the checkpoint interval has passed. */
  async maybeCheckpoint(acked: SourcePosition): Promise<void> {
    const { lastSaved, lastSavedAt } = this.parts.progress;
    if (acked === lastSaved || Date.now() - lastSavedAt < this.config.checkpointIntervalMs) return;
    await this.save(acked);
  }

  /** Pipelined sends whose acknowledgements arrive in order; counts and lag follow each acknowledged batch. */
  newSender(onAcked: (acked: Acked) => void): OrderedSender<Acked> {
    const { producer, metrics, progress } = this.parts;
    return new OrderedSender<Acked>(
      (records) => producer.send(records),
      this.config.maxInFlightBatches,
      (acked) => {
        for (const [op, n] of acked.counts) metrics.events.inc({ source: this.config.name, op }, n);
        if (acked.clusterTime) progress.lastAckedClusterTime = acked.clusterTime;
        onAcked(acked);
      },
    );
  }
}
