import { isRetriable, InternalError } from '../errors.js';
import type { Logger } from '../logger.js';
import { retry } from '../retry.js';
import { fromLibrdkafka, guarded, guardedSync, kafkaFailure, type KafkaOperation } from './kafka-errors.js';
import { createKafkajsTransport } from './kafkajs.js';
import { COMMIT_RESEND_RETRY, COMMIT_RETRY, CONSUME_RETRY, NEW_TOPIC_OFFSETS_RETRY, REDELIVERY_RETRY } from './retry-policies.js';
import { decodeHeaders, isTopicAlreadyExists, waitForLeaders } from './shared.js';
import {
  RD_ERR,
  type RdAdmin,
  type RdConfig,
  type RdConsumer,
  type RdError,
  type RdMessage,
  type RdModule,
  type RdProducer,
  type RdTopicPartition,
} from './librdkafka-binding.js';
import type {
  Admin,
  Batch,
  BatchContext,
  Consumer,
  ConsumerOptions,
  KafkaConnectionOptions,
  KafkaTransport,
  OutgoingRecord,
  PartitionOffsets,
  Producer,
  ProducerOptions,
  RecordAck,
  TopicPartition,
  TopicPartitionOffset,
  TopicSpec,
} from './transport.js';

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

/** Consumer settings chosen by `npm run bench` (the consume limit rows). */
export const RDKAFKA_CONSUMER_DEFAULTS = {
  fetchQueueBackoffMs: 20,
} as const;

/** Messages handed to JavaScript per consume call; librdkafka prefetches the rest in its own threads. */
const CONSUME_BATCH = 2_000;
/** How long one consume call waits for a first message; also bounds how long a stop waits. */
const CONSUME_WAIT_MS = 200;
const CONNECT_TIMEOUT_MS = 15_000;
const ADMIN_TIMEOUT_MS = 10_000;

/** One librdkafka call, its failure as the transport's error. */
function call<T>(operation: KafkaOperation, run: () => Promise<T>): Promise<T> {
  return guarded(fromLibrdkafka, operation, run);
}

function callSync<T>(operation: KafkaOperation, run: () => T): T {
  return guardedSync(fromLibrdkafka, operation, run);
}

function tpKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

function toBuffer(data: Buffer | string | null): Buffer | null {
  if (data === null) return null;
  return typeof data === 'string' ? Buffer.from(data) : data;
}

function baseConfig(options: KafkaConnectionOptions): RdConfig {
  return {
    'metadata.broker.list': options.brokers.join(','),
    'client.id': options.clientId ?? 'changeflow',
    'socket.connection.setup.timeout.ms': Math.max(1_000, options.connectionTimeoutMs ?? 3_000),
    // Logs and errors come as events routed into our logger instead of librdkafka's stderr lines.
    event_cb: true,
    log_level: 4,
  };
}

function routeLogs(client: RdProducer | RdConsumer, logger: Logger | undefined): void {
  client.on('event.log', (log) => (log.severity <= 3 ? logger?.error({ fac: log.fac }, log.message) : logger?.warn({ fac: log.fac }, log.message)));
  // librdkafka reconnects by itself after these; they are worth a line, not a crash.
  client.on('event.error', (err) => logger?.warn({ code: err.code, fatal: err.isFatal === true }, `librdkafka: ${err.message}`));
}

/** Each client's connect call, settled: a disconnect must wait for it (see disconnectClient). */
const connecting = new WeakMap<RdProducer | RdConsumer, Promise<void>>();

function connectClient(client: RdProducer | RdConsumer, what: string): Promise<void> {
  const connected = new Promise<void>((resolve, reject) => {
    // Whatever the code, a failed connect may succeed later (the broker starting, a network blip).
    const failed = (err: RdError): Error => kafkaFailure('connect', `Kafka ${what} could not connect: ${err.message}`, true, err);
    callSync('connect', () => client.connect({ timeout: CONNECT_TIMEOUT_MS }, (err) => (err ? reject(failed(err)) : resolve())));
  });
  connecting.set(
    client,
    connected.catch(() => undefined),
  );
  return connected;
}

/** Resolves once the client's connect call (if any) has finished, whichever way. */
function connectSettled(client: RdProducer | RdConsumer): Promise<void> {
  return connecting.get(client) ?? Promise.resolve();
}

async function disconnectClient(client: RdProducer | RdConsumer): Promise<void> {
  // A stop while connecting (a trigger deleted as it starts) must not find "not connected" and return:
  // the connect would finish afterwards and leave a live native handle nobody closes.
  await connectSettled(client);
  if (!client.isConnected()) return;
  await new Promise<void>((resolve) => client.disconnect(() => resolve()));
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

class RdkafkaProducer implements Producer {
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

interface PartitionState {
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
  assigned: boolean;
  /** The offset last asked to be committed: a refused commit is sent again only while it still is. */
  committing: number | undefined;
}

interface CommitOffset {
  topic: string;
  partition: number;
  offset: number;
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

class RdkafkaConsumer implements Consumer {
  private readonly consumer: RdConsumer;
  private readonly partitions = new Map<string, PartitionState>();
  /** Seeks asked for partitions not assigned yet: applied when they are. */
  private readonly pendingSeeks = new Map<string, number>();
  /**
   * The binding runs seeks on libuv's thread pool, so a consume call can still return records fetched
   * before the seek: the next consume call waits for these, and `clock` tells stale records apart.
   */
  private readonly seeksInFlight = new Set<Promise<void>>();
  /** Resends of refused commits waiting for the broker's answer, by partition and offset. */
  private readonly commitAnswers = new Map<string, ((err: RdError | undefined) => void)[]>();
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
      offset_commit_cb: (err: RdError | undefined, offsets: RdTopicPartition[]) => this.onCommitted(err, offsets),
    });
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
          this.logger?.error({ topic: batch.topic, partition: batch.partition, offset: first.offset, delayMs, err: (error as Error).message }, 'eachBatch failed; the batch is handed out again'),
        signal: this.stop.signal,
      });
      if (state.epoch === epoch) state.position = Number(last.offset) + 1;
    } catch {
      // Paused while failing: read again from this batch once resumed (a seek or revoke has moved on already).
      if (ours()) this.seek({ topic: batch.topic, partition: batch.partition, offset: first.offset });
    }
  }

  /**
   * Retries what a rebalance or a moving coordinator refuses for now, as kafkajs's commitOffsets does.
   * Offsets of partitions this member no longer owns are dropped: a late commit must not move the new
   * owner's position back (the new owner re-reads from the last commit: at-least-once holds).
   *
   * The binding's commitCb answers once the commit is queued (it calls commitAsync); the broker's answer
   * comes later through offset_commit_cb, served by consume calls. Waiting for it here would deadlock a
   * caller that commits inside eachBatch, so a refused commit is sent again from `onCommitted`.
   */
  async commit(offsets: readonly TopicPartitionOffset[]): Promise<void> {
    const owned = () =>
      offsets
        .filter((o) => this.partitions.get(tpKey(o.topic, o.partition))?.assigned === true)
        .map((o) => ({ topic: o.topic, partition: o.partition, offset: Number(o.offset) }));
    if (owned().length === 0) return;
    await call('commit', () =>
      retry(
        () => {
          const list = owned();
          for (const o of list) this.state(o.topic, o.partition).committing = o.offset;
          if (list.length === 0) return Promise.resolve();
          return new Promise<void>((resolve, reject) => this.consumer.commitCb(list, (err) => (err ? reject(fromLibrdkafka(err, 'commit')) : resolve())));
        },
        { ...COMMIT_RETRY, shouldRetry: (error) => isRetriable(error) && !this.stopping, signal: this.stop.signal },
      ),
    );
  }

  /**
   * The broker's answer to a commit. A retriable refusal (the group's generation moved during a
   * rebalance, the coordinator moved) is sent again while the partition is still owned and no newer
   * commit was asked for; before this, such commits were lost silently (librdkafka only logs them).
   * An answer to such a resend goes to the resend waiting for it.
   */
  private onCommitted(err: RdError | undefined, offsets: RdTopicPartition[]): void {
    const unanswered: CommitOffset[] = [];
    for (const tp of offsets) {
      if (tp.offset === undefined) continue;
      const key = `${tpKey(tp.topic, tp.partition)}@${tp.offset}`;
      const waiting = this.commitAnswers.get(key);
      this.commitAnswers.delete(key);
      if (waiting) for (const answer of waiting) answer(err);
      else unanswered.push({ topic: tp.topic, partition: tp.partition, offset: tp.offset });
    }
    if (!err || this.stopping || unanswered.length === 0) return;
    const refusal = fromLibrdkafka(err, 'commit');
    const again = unanswered.filter((o) => this.stillCommitting(o));
    if (!refusal.retriable || again.length === 0) return;
    this.logger?.warn({ err: err.message, partitions: again.map((o) => o.partition) }, 'librdkafka commit refused; sending it again');
    // The refusal just received is the first attempt: each next one sends the commit again and waits for its answer.
    void retry((attempt) => (attempt === 1 ? Promise.reject(refusal) : this.commitAgain(again)), {
      ...COMMIT_RESEND_RETRY,
      shouldRetry: (error) => isRetriable(error) && !this.stopping,
      signal: this.stop.signal,
    }).catch(() => undefined);
  }

  private stillCommitting(o: CommitOffset): boolean {
    const state = this.partitions.get(tpKey(o.topic, o.partition));
    return state?.assigned === true && state.committing === o.offset && !this.stopping;
  }

  /** Sends those of `offsets` still to be committed and resolves with the broker's answer. */
  private async commitAgain(offsets: readonly CommitOffset[]): Promise<void> {
    const still = offsets.filter((o) => this.stillCommitting(o));
    if (still.length === 0) return;
    const answers = still.map(
      (o) =>
        new Promise<RdError | undefined>((resolve) => {
          const key = `${tpKey(o.topic, o.partition)}@${o.offset}`;
          this.commitAnswers.set(key, [...(this.commitAnswers.get(key) ?? []), resolve]);
        }),
    );
    callSync('commit', () => this.consumer.commitCb(still, () => undefined));
    const refused = (await Promise.all(answers)).find((err) => err !== undefined);
    if (refused) throw fromLibrdkafka(refused, 'commit');
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
    // Answers are served by consume calls, which stop now: resends waiting for one give up.
    for (const waiting of this.commitAnswers.values()) for (const answer of waiting) answer(undefined);
    this.commitAnswers.clear();
    await this.loop;
    // Native calls still running on the thread pool must not outlive the handle they use.
    await this.seeksSettled();
    await call('disconnect', () => disconnectClient(this.consumer));
  }
}

function adminCall<T>(operation: KafkaOperation, run: (cb: (err: RdError | null, result: T) => void) => void): Promise<T> {
  return call(operation, () => new Promise<T>((resolve, reject) => run((err, result) => (err ? reject(err) : resolve(result)))));
}

class RdkafkaAdmin implements Admin {
  private admin: RdAdmin | undefined;
  private kafkajsAdmin: Admin | undefined;

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

  async groupOffsets(groupId: string, topic: string): Promise<TopicPartitionOffset[]> {
    const partitions = await this.partitionsOf(topic);
    const [result] = await adminCall<{ groupId: string; error?: RdError; partitions: RdTopicPartition[] }[]>('list group offsets', (cb) =>
      this.client().listConsumerGroupOffsets(
        [{ groupId, partitions: partitions.map((partition) => ({ topic, partition })) }],
        { timeout: ADMIN_TIMEOUT_MS },
        cb,
      ),
    );
    if (result?.error) throw fromLibrdkafka(result.error, 'list group offsets');
    return partitions.map((partition) => {
      const found = result?.partitions.find((p) => p.partition === partition && p.topic === topic);
      const offset = found?.offset;
      return { topic, partition, offset: offset === undefined || offset < 0 ? '-1' : String(offset) };
    });
  }

  /** librdkafka's bindings expose neither the cluster id nor the controller: kafkajs's admin answers this one. */
  async describeCluster(): Promise<{ brokers: string[]; controller: number | null; clusterId: string }> {
    if (!this.kafkajsAdmin) {
      this.kafkajsAdmin = createKafkajsTransport(this.options, this.logger).admin();
      await this.kafkajsAdmin.connect();
    }
    return this.kafkajsAdmin.describeCluster();
  }

  async disconnect(): Promise<void> {
    const admin = this.admin;
    this.admin = undefined;
    if (admin) callSync('disconnect', () => admin.disconnect());
    await this.kafkajsAdmin?.disconnect();
    this.kafkajsAdmin = undefined;
  }
}

const compressionCodecs = { none: 'none', gzip: 'gzip', snappy: 'snappy', lz4: 'lz4', zstd: 'zstd' } as const;

export function createLibrdkafkaTransport(module: RdModule, options: KafkaConnectionOptions, logger?: Logger): KafkaTransport {
  const log = logger?.child({ component: 'librdkafka' });
  const base = baseConfig(options);
  return {
    name: 'librdkafka',
    producer(opts: ProducerOptions = {}): Producer {
      const idempotent = opts.idempotent ?? true;
      const config: RdConfig = {
        ...base,
        dr_cb: true,
        'enable.idempotence': idempotent,
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
      return new RdkafkaProducer(module, config, log);
    },
    consumer(opts: ConsumerOptions): Consumer {
      return new RdkafkaConsumer(
        module,
        {
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
        },
        log,
      );
    },
    admin(): Admin {
      return new RdkafkaAdmin(module, base, options, logger);
    },
  };
}
