import { InternalError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { retry } from '../../retry.js';
import { RD_ERR, type RdConfig, type RdConsumer, type RdError, type RdMessage, type RdModule, type RdTopicPartition } from '../librdkafka-binding.js';
import { CONSUME_RETRY, REDELIVERY_RETRY } from '../retry-policies.js';
import { decodeHeaders } from '../shared.js';
import type { Batch, BatchContext, Consumer, ConsumerOptions, TopicPartition, TopicPartitionOffset } from '../transport.js';
import { RdCommits, type CommitState } from './commits.js';
import { call, callSync, connectClient, disconnectClient, routeLogs, toBuffer, tpKey } from './connection.js';

/** Consumer settings chosen by `npm run bench` (the consume limit rows). */
export const RDKAFKA_CONSUMER_DEFAULTS = {
  fetchQueueBackoffMs: 20,
} as const;

/** Messages handed to JavaScript per consume call; librdkafka prefetches the rest in its own threads. */
const CONSUME_BATCH = 2_000;
/** How long one consume call waits for a first message; also bounds how long a stop waits. */
const CONSUME_WAIT_MS = 200;
/** A consumer's config: commits only when told to, prefetch bounded (backpressure). */
export function consumerConfig(base: RdConfig, opts: ConsumerOptions): RdConfig {
  return {
    ...base,
    'group.id': opts.groupId,
    'enable.auto.commit': false,
    'enable.auto.offset.store': false,
    'auto.offset.reset': (opts.fromBeginning ?? true) ? 'earliest' : 'latest',
    'session.timeout.ms': opts.sessionTimeoutMs ?? 30_000,
    'max.partition.fetch.bytes': opts.maxBytesPerPartition ?? 1_048_576,
    // Bounds memory under a backlog: librdkafka's prefetch queue, summed over partitions.
    'queued.max.messages.kbytes': 32_768,
    // When that queue is full librdkafka waits this long before fetching again (default 1 s, which
    // starves a consumer that drains 32 MB faster than that).
    'fetch.queue.backoff.ms': RDKAFKA_CONSUMER_DEFAULTS.fetchQueueBackoffMs,
    'partition.assignment.strategy': 'roundrobin',
  };
}

interface PartitionState extends CommitState {
  /** Bumped by seek, revoke, assign and pause: a batch grouped before the bump is stale. */
  epoch: number;
  /**
   * The consumer's clock at the last seek or pause: records of a fetch issued before it are stale.
   * Rebalances do not count: a consume call may serve the revoke and the assign while it waits for its
   * first record and then return records of the new assignment; records of the old one can only come
   * before the revoke (librdkafka pauses the assignment before it asks for a rebalance), and the
   * `assigned` flag drops those.
   */
  changedAt: number;
  /** Next offset to hand to `eachBatch` (for resume after pause). */
  position: number | undefined;
  paused: boolean;
}

/** One consume call's messages and the consumer's clock when it was issued. */
interface Fetched {
  messages: RdMessage[];
  issuedAt: number;
}

interface PendingBatch {
  batch: Batch;
  state: PartitionState;
  epoch: number;
}

export class RdkafkaConsumer implements Consumer {
  private readonly consumer: RdConsumer;
  private readonly partitions = new Map<string, PartitionState>();
  /** Seeks asked for partitions not assigned yet: applied when they are. */
  private readonly pendingSeeks = new Map<string, number>();
  /**
   * The binding runs seeks on libuv's thread pool, so a consume call can still return records fetched
   * before the seek: the next consume call waits for these, and `clock` tells stale records apart.
   */
  private readonly seeksInFlight = new Set<Promise<void>>();
  private readonly commits: RdCommits;
  private clock = 0;
  private stopping = false;
  /** Ends the waits between retries when the consumer stops. */
  private readonly stop = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(
    module: RdModule,
    config: RdConfig,
    private readonly logger: Logger | undefined,
  ) {
    this.consumer = new module.KafkaConsumer({
      ...config,
      rebalance_cb: (err: RdError, assignment: RdTopicPartition[]) => this.onRebalance(err, assignment),
      offset_commit_cb: (err: RdError | undefined, offsets: RdTopicPartition[]) => this.commits.onCommitted(err, offsets),
    });
    this.commits = new RdCommits(this.consumer, (topic, partition) => this.partitions.get(tpKey(topic, partition)), logger);
    routeLogs(this.consumer, logger);
  }

  private state(topic: string, partition: number): PartitionState {
    const key = tpKey(topic, partition);
    let state = this.partitions.get(key);
    if (!state) {
      state = { epoch: 0, changedAt: 0, position: undefined, paused: false, assigned: false, committing: undefined };
      this.partitions.set(key, state);
    }
    return state;
  }

  /** Makes every record of this partition fetched or handed out so far stale. */
  private bump(state: PartitionState): void {
    state.epoch += 1;
    state.changedAt = ++this.clock;
  }

  private onRebalance(err: RdError, assignment: RdTopicPartition[]): void {
    const cooperative = this.consumer.rebalanceProtocol() === 'COOPERATIVE';
    try {
      if (err.code === RD_ERR.ASSIGN_PARTITIONS) {
        const withSeeks = assignment.map((tp) => {
          const state = this.state(tp.topic, tp.partition);
          state.assigned = true;
          state.epoch += 1;
          state.position = undefined;
          const key = tpKey(tp.topic, tp.partition);
          const seek = this.pendingSeeks.get(key);
          this.pendingSeeks.delete(key);
          return seek === undefined ? { topic: tp.topic, partition: tp.partition } : { topic: tp.topic, partition: tp.partition, offset: seek };
        });
        if (cooperative) this.consumer.incrementalAssign(withSeeks);
        else this.consumer.assign(withSeeks);
        const paused = assignment.filter((tp) => this.state(tp.topic, tp.partition).paused);
        if (paused.length > 0) this.consumer.pause(paused.map(({ topic, partition }) => ({ topic, partition })));
      } else {
        for (const tp of assignment) {
          const state = this.state(tp.topic, tp.partition);
          state.assigned = false;
          state.epoch += 1;
        }
        if (cooperative) this.consumer.incrementalUnassign(assignment);
        else this.consumer.unassign();
      }
    } catch (error) {
      if (!this.stopping) this.logger?.warn({ err: (error as Error).message }, 'librdkafka rebalance step failed');
    }
  }

  connect(): Promise<void> {
    return connectClient(this.consumer, 'consumer');
  }

  subscribe(topics: readonly (string | RegExp)[]): Promise<void> {
    // librdkafka treats a subscription starting with ^ as a regular expression.
    const subscription = topics.map((t) => (typeof t === 'string' ? t : t.source.startsWith('^') ? t.source : `^${t.source}`));
    return call('subscribe', () => Promise.resolve(this.consumer.subscribe(subscription)).then(() => undefined));
  }

  run(eachBatch: (batch: Batch, context: BatchContext) => Promise<void>, options: { partitionsConsumedConcurrently?: number } = {}): Promise<void> {
    if (this.loop) return Promise.reject(new InternalError('consumer.run() was already called'));
    this.consumer.setDefaultConsumeTimeout(CONSUME_WAIT_MS);
    this.consumer.setDefaultIsTimeoutOnlyForFirstMessage?.(true);
    const concurrency = Math.max(1, options.partitionsConsumedConcurrently ?? 1);
    this.loop = this.consumeLoop(eachBatch, concurrency).catch((error: unknown) => {
      this.logger?.error({ err: (error as Error).message }, 'librdkafka consume loop stopped');
    });
    // Like kafkajs: run() returns once consuming has started; batches arrive in the background.
    return Promise.resolve();
  }

  /** Resolves when no seek is running on the binding's thread pool (one may start another's follow-up). */
  private async seeksSettled(): Promise<void> {
    while (this.seeksInFlight.size > 0) await Promise.all(this.seeksInFlight);
  }

  private async fetch(): Promise<Fetched> {
    // Checked again after each wait, and the clock read in the same turn as the consume call: a seek asked
    // for while this call waited to resume (a handler seeking in the batch handed out meanwhile) would
    // otherwise be in flight, and the call would return records fetched before it as fresh ones.
    do await this.seeksSettled();
    while (this.seeksInFlight.size > 0);
    const issuedAt = this.clock;
    const messages = await new Promise<RdMessage[]>((resolve, reject) =>
      this.consumer.consume(CONSUME_BATCH, (err, batch) => (err ? reject(err) : resolve(batch))),
    );
    return { messages, issuedAt };
  }

  private async consumeLoop(eachBatch: (batch: Batch, context: BatchContext) => Promise<void>, concurrency: number): Promise<void> {
    let next = this.fetch();
    // The first attempt takes the call already made; a failed one is made again after a backoff.
    const fetched = () =>
      retry((attempt) => (attempt === 1 ? next : (next = this.fetch())), {
        ...CONSUME_RETRY,
        shouldRetry: () => !this.stopping,
        onRetry: (error) => this.logger?.warn({ err: (error as Error).message }, 'librdkafka consume failed; retrying'),
        signal: this.stop.signal,
      });
    try {
      while (!this.stopping) {
        let batch: Fetched;
        try {
          batch = await fetched();
        } catch (error) {
          if (this.stopping) return;
          throw error;
        }
        // One consume call ahead: the binding pops the next messages on a libuv thread while this thread
        // hands out these (profiled: this thread, building the binding's message objects, is the limit).
        next = this.fetch();
        const queue = this.group(batch);
        const workers = Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
          for (let entry = queue.shift(); entry && !this.stopping; entry = queue.shift()) await this.deliver(entry, eachBatch);
        });
        await Promise.all(workers);
      }
    } finally {
      // No consume call may outlive the loop: disconnect waits for this one.
      await next.catch(() => undefined);
    }
  }

  /** Splits one fetch into per-partition batches, offset order kept, dropping what is no longer ours to hand out. */
  private group({ messages, issuedAt }: Fetched): PendingBatch[] {
    const out = new Map<string, PendingBatch | null>();
    // librdkafka returns runs of one partition's records: look the batch up only when the run changes.
    let entry: PendingBatch | null | undefined;
    let runTopic = '';
    let runPartition = -1;
    for (const m of messages) {
      if (m.partition !== runPartition || m.topic !== runTopic) {
        runTopic = m.topic;
        runPartition = m.partition;
        entry = out.get(tpKey(m.topic, m.partition));
      }
      if (entry === null) continue;
      if (entry === undefined) {
        const key = tpKey(m.topic, m.partition);
        const state = this.state(m.topic, m.partition);
        if (!state.assigned || state.paused || state.changedAt > issuedAt) {
          // Revoked, or fetched before a pause or seek: not handed out. A partition paused before anything of
          // this assignment was handed out resumes from the first record fetched for it.
          if (state.assigned && state.paused && state.position === undefined) state.position = m.offset;
          entry = null;
          out.set(key, entry);
          continue;
        }
        let highWatermark = '-1';
        try {
          highWatermark = String(this.consumer.getWatermarkOffsets(m.topic, m.partition).highOffset);
        } catch {
          // Not known yet for this partition; lag is unknown for one batch.
        }
        entry = { batch: { topic: m.topic, partition: m.partition, records: [], highWatermark }, state, epoch: state.epoch };
        out.set(key, entry);
      }
      entry.batch.records.push({
        topic: m.topic,
        partition: m.partition,
        offset: String(m.offset),
        key: m.key === undefined || m.key === null ? null : toBuffer(m.key),
        value: m.value,
        headers: decodeHeaders(m.headers),
        timestamp: m.timestamp ?? 0,
      });
    }
    const batches: PendingBatch[] = [];
    for (const entry of out.values()) if (entry) batches.push(entry);
    return batches;
  }

  private async deliver(entry: PendingBatch, eachBatch: (batch: Batch, context: BatchContext) => Promise<void>): Promise<void> {
    const { batch, state, epoch } = entry;
    // A seek, pause or revoke since the fetch makes these records stale before they are handed out.
    if (state.epoch !== epoch || !state.assigned || state.paused) return;
    const first = batch.records[0];
    const last = batch.records[batch.records.length - 1];
    if (!first || !last) return;
    const context: BatchContext = {
      isStale: () => this.stopping || state.epoch !== epoch || !state.assigned,
      heartbeat: () => Promise.resolve(), // librdkafka heartbeats from its own thread
    };
    const ours = () => !this.stopping && state.epoch === epoch && state.assigned;
    try {
      await retry(() => eachBatch(batch, context), {
        ...REDELIVERY_RETRY,
        shouldRetry: () => ours() && !state.paused,
        onRetry: (error, _attempt, delayMs) =>
          this.logger?.error(
            { topic: batch.topic, partition: batch.partition, offset: first.offset, delayMs, err: (error as Error).message },
            'eachBatch failed; the batch is handed out again',
          ),
        signal: this.stop.signal,
      });
      if (state.epoch === epoch) state.position = Number(last.offset) + 1;
    } catch {
      // Paused while failing: read again from this batch once resumed (a seek or revoke has moved on already).
      if (ours()) this.seek({ topic: batch.topic, partition: batch.partition, offset: first.offset });
    }
  }

  commit(offsets: readonly TopicPartitionOffset[]): Promise<void> {
    return this.commits.commit(offsets);
  }

  pause(partitions: readonly TopicPartition[]): void {
    const assigned: RdTopicPartition[] = [];
    for (const { topic, partition } of partitions) {
      const state = this.state(topic, partition);
      if (state.paused) continue;
      state.paused = true;
      this.bump(state);
      if (state.assigned) assigned.push({ topic, partition });
    }
    if (assigned.length > 0) callSync('pause', () => this.consumer.pause(assigned));
  }

  resume(partitions: readonly TopicPartition[]): void {
    const assigned: RdTopicPartition[] = [];
    for (const { topic, partition } of partitions) {
      const state = this.state(topic, partition);
      if (!state.paused) continue;
      state.paused = false;
      if (state.assigned) assigned.push({ topic, partition });
    }
    if (assigned.length === 0) return;
    callSync('resume', () => this.consumer.resume(assigned));
    // Records fetched while paused were dropped; read on from the first one not handed out.
    for (const { topic, partition } of assigned) {
      const position = this.state(topic, partition).position;
      if (position !== undefined) this.seek({ topic, partition, offset: String(position) });
    }
  }

  seek(position: TopicPartitionOffset): void {
    // A seek runs on the binding's thread pool: none may start once disconnect has begun (the next start
    // reads from the committed offset anyway).
    if (this.stopping) return;
    const state = this.state(position.topic, position.partition);
    const offset = Number(position.offset);
    this.bump(state);
    state.position = offset;
    if (!state.assigned) {
      this.pendingSeeks.set(tpKey(position.topic, position.partition), offset);
      return;
    }
    const done = new Promise<void>((resolve) =>
      callSync('seek', () =>
        this.consumer.seek({ topic: position.topic, partition: position.partition, offset }, 0, (err) => {
          if (err && !this.stopping)
            this.logger?.warn({ topic: position.topic, partition: position.partition, offset, err: err.message }, 'librdkafka seek failed');
          resolve();
        }),
      ),
    );
    this.seeksInFlight.add(done);
    void done.then(() => this.seeksInFlight.delete(done));
  }

  async disconnect(): Promise<void> {
    this.stopping = true;
    this.stop.abort();
    this.commits.close();
    await this.loop;
    // Native calls still running on the thread pool must not outlive the handle they use.
    await this.seeksSettled();
    await call('disconnect', () => disconnectClient(this.consumer));
  }
}
