import type { AppContext } from '../core/app.js';
import { errorMessage, ValidationError, ChangeflowError, toError } from '../core/errors.js';
import type { Batch, BatchContext, Consumer, IncomingRecord, Producer } from '../core/kafka/index.js';
import { retry, sleep } from '../core/retry.js';
import type { Logger } from '../core/logger.js';
import type { AvroCodec } from '../schemas/avro-codec.js';
import type { Sink, SinkKind } from '../sinks/sink.js';
import { BatchAbortedError, BatchProcessor, type BatchOutcome, type FunctionRunner } from './batch-processor.js';
import { deadLetterRecord } from './dead-letters.js';
import { adminLogEnd, LagTracker } from './lag-tracker.js';
import { compileEventFilter } from './event-filter.js';
import type { TriggerMetrics } from './metrics.js';
import { describeCheckFailure, sharedFunctionPool, type FunctionPool, type PooledFunction } from './sandbox/index.js';
import { OffsetCommitter } from './offset-committer.js';
import { matchingTopics, subscriptionFor, type Subscription } from './source-topics.js';
import type { TriggerDefinition } from './trigger-definition.js';
import { createTriggerSinks } from './trigger-sinks.js';

/** What a trigger runs with: the app's context, and the Avro codec when the service has a schema registry (one per service, so schema ids are cached once). */
export type RuntimeContext = Pick<AppContext, 'config' | 'logger' | 'metrics' | 'health' | 'kafka' | 'topics' | 'metadata'> & { avro?: AvroCodec };

export interface TriggerRuntimeOptions {
  definition: TriggerDefinition;
  context: RuntimeContext;
  sinkKinds: readonly SinkKind[];
  metrics: TriggerMetrics;
  /** Key path used in validation errors, e.g. `triggers[2]`. */
  where: string;
  /** Partitions processed at the same time (each keeps its order). Default 4. */
  partitionConcurrency?: number;
  /** `ordering: unordered`: key groups processed in parallel within one partition batch. Default 4. */
  keyParallelism?: number;
  /** How long stop() waits for a batch in flight (e.g. a hanging sink) before abandoning it. Default 10 s. */
  stopTimeoutMs?: number;
  /** Consumer group session timeout: how soon a crashed process's partitions move to the others. Default `kafka.sessionTimeoutMs`. */
  sessionTimeoutMs?: number;
  /** How often lag is reported and a stuck partition's log end asked of the broker. Default 5 s. */
  lagIntervalMs?: number;
  /** Worker threads the function runs in, asked for when the function starts. Default the process-wide sharedFunctionPool(). */
  functionPool?: () => FunctionPool;
}

/** Buffered, not yet processed records of one partition, and the flush in progress. */
interface Lane {
  topic: string;
  partition: number;
  buffer: IncomingRecord[];
  firstBufferedAt: number;
  lastSeen: number;
  busy: Promise<void>;
  timer: NodeJS.Timeout | undefined;
  context: BatchContext | undefined;
  highWatermark: string;
}

/** The consumer group name of a trigger. */
export function consumerGroupOf(prefix: string, key: string): string {
  return `${prefix}.trigger.${key}`;
}

/**
 * One trigger's consumer: reads its source topics as consumer group `<prefix>.trigger.<key>`, gathers
 * each partition's records into batches (batch.maxSize / batch.maxWaitMs), runs them through the
 * BatchProcessor, writes dead letters, and commits a partition's offset only after the sinks (and the
 * dead-letter topic) acknowledged everything before it.
 *
 * Backpressure: a partition's next fetch waits until its previous batch is committed, so at most one
 * batch plus one fetch per partition is held in memory.
 */
export class TriggerRuntime {
  readonly key: string;
  readonly definition: TriggerDefinition;
  private readonly log: Logger;
  private readonly abort = new AbortController();
  private readonly lanes = new Map<string, Lane>();
  private consumer: Consumer | undefined;
  private offsets: OffsetCommitter | undefined;
  private producer: Producer | undefined;
  private fn: PooledFunction | undefined;
  private sinks: Sink[] = [];
  private readonly startedSinks: Sink[] = [];
  private processor: BatchProcessor | undefined;
  private subscription: Subscription | undefined;
  private readonly groupId: string;
  private readonly deadLetterTopic: string;
  private healthDetail: string | undefined;
  private readonly logEnd: ReturnType<typeof adminLogEnd>;
  private readonly lag: LagTracker;

  constructor(private readonly options: TriggerRuntimeOptions) {
    this.definition = options.definition;
    this.key = options.definition.key;
    this.log = options.context.logger.child({ component: 'processor', trigger: this.key });
    this.logEnd = adminLogEnd(() => options.context.kafka.admin());
    this.lag = new LagTracker({
      metrics: options.metrics,
      logEnd: this.logEnd.logEnd,
      ...(options.lagIntervalMs ? { intervalMs: options.lagIntervalMs } : {}),
      onError: (error) => this.log.debug({ err: errorMessage(error) }, 'lag: log end offsets unavailable'),
      owns: (topic, partition) => this.lanes.get(`${topic}:${partition}`)?.context?.isStale() === false,
    });
    this.groupId = consumerGroupOf(options.context.topics.prefix, this.key);
    this.deadLetterTopic = options.context.topics.deadLetter(this.key);
  }

  /** Topics the consumer reads (after start). */
  get topics(): string[] {
    return this.subscribedTopics;
  }
  private subscribedTopics: string[] = [];

  get consumerGroup(): string {
    return this.groupId;
  }

  async start(): Promise<void> {
    const { definition: def, context } = this.options;
    try {
      const filter = compileEventFilter(def.operationTypes, def.match, `${this.options.where}.match`);
      this.fn = await this.loadFunction();
      this.sinks = createTriggerSinks(def.sinks, this.options.sinkKinds, this.options.where, { trigger: this.key, context, owner: def.owner ?? 'instance' });
      for (const sink of this.sinks) {
        await sink.start();
        this.startedSinks.push(sink);
      }
      const runner: FunctionRunner | undefined = this.fn;
      this.processor = new BatchProcessor({
        trigger: this.key,
        runner,
        sinks: this.sinks,
        filter,
        retry: def.retry,
        signal: this.abort.signal,
        ...(this.options.context.avro ? { avro: this.options.context.avro } : {}),
        observer: {
          functionTime: (s, queued) => this.options.metrics.functionTime(s, queued),
          failure: (kind, error, attempt) => {
            this.options.metrics.error(kind);
            this.log.warn({ kind, attempt, err: errorMessage(error) }, 'batch attempt failed');
          },
          sinkUnavailable: (sink, error, delayMs) => {
            this.setHealth(false, `sink "${sink}" unavailable, retrying in ${delayMs} ms: ${errorMessage(error)}`);
            this.log.warn({ sink, delayMs, err: errorMessage(error) }, 'sink unavailable; batch waits');
          },
          sinkRecovered: () => this.setHealth(true),
        },
      });

      const admin = context.kafka.admin();
      await admin.connect();
      try {
        this.subscription = subscriptionFor(def.source, context.topics);
        const partitions = context.config.kafka.partitions;
        await admin.ensureTopics([...this.subscription.topics.map((topic) => ({ topic, partitions })), { topic: this.deadLetterTopic, partitions }]);
        this.subscribedTopics = matchingTopics(this.subscription, this.subscription.pattern ? await admin.listTopics() : []);
      } finally {
        await admin.disconnect();
      }

      this.producer = context.kafka.producer({ idempotent: true });
      await this.producer.connect();
      this.consumer = context.kafka.consumer({
        groupId: this.groupId,
        fromBeginning: true,
        sessionTimeoutMs: this.options.sessionTimeoutMs ?? context.config.kafka.sessionTimeoutMs,
      });
      await this.consumer.connect();
      const consumer = this.consumer;
      this.offsets = new OffsetCommitter(
        (offsets) => consumer.commit(offsets),
        (offsets, error) => this.log.warn({ offsets, err: errorMessage(error) }, 'commit failed'),
      );
      if (this.subscribedTopics.length === 0) {
        this.log.warn(
          { source: this.subscription.description },
          'no topic matches the trigger source yet; the trigger consumes nothing until one exists and the trigger is re-applied',
        );
      } else {
        await this.consumer.subscribe(this.subscribedTopics);
        await this.consumer.run((batch, ctx) => this.onBatch(batch, ctx), { partitionsConsumedConcurrently: this.options.partitionConcurrency ?? 4 });
      }
      this.lag.start();
      this.options.metrics.setRunning(true);
      this.setHealth(true);
      this.log.info(
        { group: this.groupId, topics: this.subscribedTopics, function: def.functionCode?.name ?? null, sinks: def.sinks.map((s) => s.name) },
        'trigger started',
      );
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  /** Binds the function to the pool after loading it there once, so broken code fails the start (as before the pool). */
  private async loadFunction(): Promise<PooledFunction | undefined> {
    const fn = this.options.definition.functionCode;
    if (!fn) return undefined;
    const log = this.log.child({ function: fn.name });
    const pooled = (this.options.functionPool?.() ?? sharedFunctionPool()).function({
      // File triggers have no owner: they share one queue, beside each API user's.
      tenant: this.options.definition.userId ?? '(config)',
      name: fn.name,
      ...(fn.wasmBase64 !== undefined ? { wasm: Buffer.from(fn.wasmBase64, 'base64') } : { code: fn.code }),
      limits: { memoryLimitBytes: Math.round(fn.memoryMiB * 1024 * 1024), cpuTimeMs: fn.timeoutMs },
      onLog: (entry) => log[entry.level]({ source: 'function' }, entry.message),
    });
    const checked = await pooled.check();
    if (!checked.ok) throw new ValidationError(`${this.options.where}.function: ${describeCheckFailure(fn.name, checked)}`, { code: 'FUNCTION_INVALID' });
    return pooled;
  }

  private lane(batch: Batch): Lane {
    const id = `${batch.topic}:${batch.partition}`;
    let lane = this.lanes.get(id);
    if (!lane) {
      lane = {
        topic: batch.topic,
        partition: batch.partition,
        buffer: [],
        firstBufferedAt: 0,
        lastSeen: -1,
        busy: Promise.resolve(),
        timer: undefined,
        context: undefined,
        highWatermark: '0',
      };
      this.lanes.set(id, lane);
    }
    return lane;
  }

  private async onBatch(batch: Batch, context: BatchContext): Promise<void> {
    const lane = this.lane(batch);
    if (batch.records[0]) this.lag.fetched(batch.topic, batch.partition, batch.records[0], batch.highWatermark);
    // A flush started by the max-wait timer must finish first: that is the backpressure.
    await lane.busy;
    if (context.isStale() || this.abort.signal.aborted) return;
    const first = batch.records[0];
    const last = batch.records[batch.records.length - 1];
    if (!first || !last) return;
    if (Number(first.offset) <= lane.lastSeen) {
      // The group rewound this partition (rebalance, seek): buffered records will come again.
      lane.buffer = lane.buffer.filter((r) => Number(r.offset) < Number(first.offset));
    }
    lane.buffer.push(...batch.records);
    lane.lastSeen = Number(last.offset);
    lane.context = context;
    lane.highWatermark = batch.highWatermark;
    if (lane.firstBufferedAt === 0) lane.firstBufferedAt = Date.now();
    // Not awaited: the consumer fetches this partition's next batch while this one is processed, and
    // that batch waits on `busy` above, so order, commit-after-ack and the memory bound are kept.
    lane.busy = this.drain(lane).catch((error: unknown) =>
      this.log.error({ topic: lane.topic, partition: lane.partition, err: errorMessage(error) }, 'batch drain failed'),
    );
  }

  /** Flushes the lane's full batches, then the rest if it waited long enough or caught up; else arms the max-wait timer. */
  private async drain(lane: Lane): Promise<void> {
    const { maxSize, maxWaitMs, lingerWhenCaughtUp } = this.definition.batch;
    while (lane.buffer.length >= maxSize) {
      if (!(await this.flush(lane, maxSize))) return;
    }
    if (lane.buffer.length === 0) return;
    const waited = Date.now() - lane.firstBufferedAt;
    // The high watermark is the next offset the partition will get: nothing more to read before it is written.
    const highWatermark = Number(lane.highWatermark);
    const caughtUp = highWatermark >= 0 && lane.lastSeen + 1 >= highWatermark;
    if (waited >= maxWaitMs || (caughtUp && lingerWhenCaughtUp !== true)) {
      await this.flush(lane, lane.buffer.length);
      return;
    }
    if (!lane.timer) {
      lane.timer = setTimeout(() => {
        lane.timer = undefined;
        lane.busy = lane.busy.then(async () => {
          if (lane.buffer.length > 0 && lane.context && !lane.context.isStale()) await this.flush(lane, lane.buffer.length);
        });
      }, maxWaitMs - waited);
    }
  }

  /**
   * Processes the first `count` buffered records and commits after them. Returns false when the batch
   * could not be finished (stopping, or an error after which the partition is re-read from its commit).
   */
  private async flush(lane: Lane, count: number): Promise<boolean> {
    if (lane.timer) {
      clearTimeout(lane.timer);
      lane.timer = undefined;
    }
    const chunk = lane.buffer.splice(0, count);
    lane.firstBufferedAt = lane.buffer.length > 0 ? Date.now() : 0;
    const first = chunk[0];
    const last = chunk[chunk.length - 1];
    if (!first || !last) return true;
    const processor = this.processor;
    const consumer = this.consumer;
    if (!processor || !consumer) return false;
    const started = performance.now();
    // Retries and slow sinks can take longer than the group session: keep the membership alive meanwhile.
    const heartbeat = setInterval(() => void lane.context?.heartbeat().catch(() => undefined), 1_000);
    try {
      const outcome = await this.process(processor, chunk);
      if (outcome.deadLetters.length > 0) await this.writeDeadLetters(outcome);
      if (lane.context?.isStale() || this.abort.signal.aborted) return false;
      const next = String(Number(last.offset) + 1);
      // The next batch need not wait for the broker's answer: everything a commit covers is already
      // acknowledged by the sinks.
      const context = lane.context;
      this.offsets?.offer({ topic: lane.topic, partition: lane.partition, offset: next }, () => context?.isStale() ?? true);
      this.options.metrics.batch(
        { delivered: outcome.delivered, filtered: outcome.filtered, deadLettered: outcome.deadLetters.length },
        (performance.now() - started) / 1000,
      );
      this.lag.processed(lane.topic, lane.partition, next, lane.buffer[0]?.timestamp);
      if (this.healthDetail?.startsWith('batch failed')) this.setHealth(true);
      return true;
    } catch (error) {
      lane.buffer = [];
      lane.firstBufferedAt = 0;
      lane.lastSeen = -1;
      if (error instanceof BatchAbortedError || this.abort.signal.aborted) return false;
      // Not the events' fault (the dead-letter topic could not be written): read the batch again.
      this.setHealth(false, `batch failed, re-reading from offset ${first.offset}: ${errorMessage(error)}`);
      this.log.error({ topic: lane.topic, partition: lane.partition, offset: first.offset, err: errorMessage(error) }, 'batch failed; re-reading it');
      await sleep(this.definition.retry.initialDelayMs, this.abort.signal).catch(() => undefined);
      if (!this.abort.signal.aborted) consumer.seek({ topic: lane.topic, partition: lane.partition, offset: first.offset });
      return false;
    } finally {
      clearInterval(heartbeat);
    }
  }

  /** Ordered: the whole chunk in order. Unordered: groups of keys side by side, each group in order. */
  private async process(processor: BatchProcessor, chunk: IncomingRecord[]): Promise<BatchOutcome> {
    const parallelism = this.options.keyParallelism ?? 4;
    if (this.definition.ordering === 'ordered' || parallelism <= 1 || chunk.length < 2) return processor.process(chunk);
    const groups: IncomingRecord[][] = Array.from({ length: parallelism }, () => []);
    for (const record of chunk) groups[keyHash(record.key) % parallelism]?.push(record);
    const outcomes = await Promise.all(groups.filter((g) => g.length > 0).map((g) => processor.process(g)));
    return {
      delivered: outcomes.reduce((s, o) => s + o.delivered, 0),
      filtered: outcomes.reduce((s, o) => s + o.filtered, 0),
      deadLetters: outcomes.flatMap((o) => o.deadLetters),
    };
  }

  private async writeDeadLetters(outcome: BatchOutcome): Promise<void> {
    const producer = this.producer;
    if (!producer) throw new BatchAbortedError();
    const records = outcome.deadLetters.map((letter) => deadLetterRecord(this.deadLetterTopic, this.key, letter));
    await retry(() => producer.send(records), { attempts: 5, initialDelayMs: 200, maxDelayMs: 5_000, signal: this.abort.signal });
    for (const letter of outcome.deadLetters) {
      this.log.warn(
        {
          topic: letter.record.topic,
          partition: letter.record.partition,
          offset: letter.record.offset,
          kind: letter.errorKind,
          attempts: letter.attempts,
          err: letter.error,
        },
        'event dead-lettered',
      );
    }
  }

  private setHealth(ok: boolean, detail?: string): void {
    this.healthDetail = detail;
    this.options.context.health.set(
      `processor:${this.key}`,
      ok,
      detail ?? (ok ? `consuming ${this.subscribedTopics.join(', ') || '(no topics yet)'}` : undefined),
      { owner: this.definition.owner ?? 'instance' },
    );
  }

  /** Stops consuming; a batch in flight is abandoned uncommitted (its records are read again later). */
  async stop(): Promise<void> {
    this.abort.abort();
    this.lag.stop();
    await this.logEnd.close();
    for (const lane of this.lanes.values()) if (lane.timer) clearTimeout(lane.timer);
    const timeout = this.options.stopTimeoutMs ?? 10_000;
    // A batch in flight sees the abort and ends uncommitted (a hanging sink is given up on after the
    // timeout), so the sinks are not stopped under it; commits already sent for acknowledged batches
    // are worth waiting for: fewer repeats after a restart.
    await withTimeout(Promise.all([...this.lanes.values()].map((l) => l.busy)), timeout).catch(() => undefined);
    if (this.offsets) await withTimeout(this.offsets.idle(), timeout).catch(() => undefined);
    if (this.consumer) {
      const consumer = this.consumer;
      this.consumer = undefined;
      await withTimeout(consumer.disconnect(), timeout).catch((error: unknown) => this.log.warn({ err: errorMessage(error) }, 'consumer did not stop cleanly'));
    }
    if (this.producer) {
      const producer = this.producer;
      this.producer = undefined;
      await withTimeout(producer.disconnect(), timeout).catch(() => undefined);
    }
    for (const sink of this.startedSinks.splice(0))
      await withTimeout(sink.stop(), timeout).catch((error: unknown) =>
        this.log.warn({ sink: sink.name, err: errorMessage(error) }, 'sink did not stop cleanly'),
      );
    this.sinks = [];
    this.fn = undefined;
    this.options.metrics.setRunning(false);
  }
}

function keyHash(key: Buffer | null): number {
  if (!key) return 0;
  let hash = 2166136261;
  for (const byte of key) hash = Math.imul(hash ^ byte, 16777619);
  return hash >>> 0;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new ChangeflowError(`timed out after ${ms} ms`, { code: 'TIMEOUT' })), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(toError(error));
      },
    );
  });
}
