import type { KafkaClientName } from '../../core/kafka/index.js';

/** What every stage gets: the servers of this run and the knobs of `npm run bench`. */
export interface BenchContext {
  kafka: string;
  mongodb: string;
  redis: string | null;
  /** `--quick`: a smoke check in seconds, figures not meaningful. */
  quick: boolean;
  /** How long each figure should run (10 s by default, about 1.5 s with --quick). */
  durationMs: number;
  /** Size of one message or document, bytes (`--size`, default 1024). */
  messageBytes: number;
  /** Partitions of the topics stages create (`--partitions`, default 3). */
  partitions: number;
  /** The client changeflow rows run on (`--client`, default: the configured default). */
  client: KafkaClientName;
  /** The client changeflow rows produce with (the product's `kafka.producerClient: auto` unless `--client`). */
  producerClient: KafkaClientName;
  /** The MongoDB server process the bench started (its CPU is read from /proc); absent for a server of `MONGODB_URI`. */
  mongodbPid?: number;
  /** Progress for the person watching (stderr); not part of the table. */
  log(line: string): void;
  /** Topics created by stages; deleted at the end of the run. */
  trackTopic(topic: string): void;
}

/** One figure. Throughput first; latency where the stage measures it. */
export interface BenchFigure {
  eventsPerSec: number;
  /** Payload MB/s (defaults to eventsPerSec × messageBytes). */
  mbPerSec?: number;
  p50Ms?: number;
  p99Ms?: number;
  /** Events counted and the seconds they took (shown so a short run is visible). */
  events: number;
  seconds: number;
  /** Resident memory of this process after the stage, MiB (filled in by the runner when absent). */
  rssMiB?: number;
  /**
   * CPU seconds the MongoDB server used per 1,000 events over the figure (bench/lib/server-cpu.ts), for
   * rows that load it; null when its process is not ours to read (`MONGODB_URI`).
   */
  serverCpuSecPer1k?: number | null;
  note?: string;
}

/**
 * A row of the table. Stages written elsewhere (bench/<name>.ts) export `stages: BenchStage[]` and are
 * listed once in bench/run.ts. `limitName` names the row this one is compared with (see LIMIT in
 * bench/limits.ts); the table shows the ratio.
 */
export interface BenchStage {
  name: string;
  kind: 'limit' | 'changeflow';
  /** The limit row; several names mean "the slowest of these rows that ran" (e.g. a pipeline's parts). */
  limitName?: string | readonly string[] | ((ctx: BenchContext) => string | readonly string[]);
  run(ctx: BenchContext): Promise<BenchFigure>;
  /** Called once after every selected stage ran: releases what stages share (e.g. a client kept for a later row). */
  finish?(): Promise<void>;
}

export interface BenchRow extends BenchFigure {
  name: string;
  kind: BenchStage['kind'];
  limitName?: string;
  /** this / limit, on events/s. */
  ratio?: number;
  /** this / limit, on server CPU per event (both rows measured it). */
  serverCpuRatio?: number;
  error?: string;
}
