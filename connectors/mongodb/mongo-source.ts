import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { MongoClient, Timestamp, type Db, type Document } from 'mongodb';
import { ChangeflowError, errorMessage, isRetriable, toError, InternalError } from '../../core/errors.js';
import type { ComponentState, Health, HealthOwner } from '../../core/health.js';
import type { Admin, KafkaTransport, OutgoingRecord, Producer } from '../../core/kafka/transport.js';
import type { Logger } from '../../core/logger.js';
import { retry, sleep } from '../../core/retry.js';
import type { TopicNames } from '../../core/topics.js';
import { canonicalText, parseCanonicalText } from '../../schemas/ejson.js';
import { encodeChange, UnplacedChangeError, type EncoderContext } from './change-encoder.js';
import { changeRecords, changeTopics, namespaceText, recordSize, type ValueEncoder } from './change-records.js';
import { createEchoFilter, type EchoFilter } from './echo-filter.js';
import { Lease, LeaseLostError } from './lease.js';
import { isHistoryLost, isNotReplicaSet, isTransientMongoError, isUnsupportedCommand } from './mongo-errors.js';
import { OffsetStore } from './offset-store.js';
import { OrderedSender } from './ordered-sender.js';
import { RawChangeStream } from './raw-change-stream.js';
import { SnapshotProgress } from './snapshot-progress.js';
import { afterIdFilters } from './snapshot-range.js';
import type { SourceConfig } from './source-config.js';
import type { SourceMetrics } from './source-metrics.js';
import { changeFromBytes, fromEncoded, snapshotFromBytes, type SourceChange } from './source-change.js';
import { SplitEventJoiner, SplitFragment } from './split-events.js';
import { cursorBatches } from './cursor-batches.js';
import { SourcePosition, type StreamStart } from './source-position.js';
import { onHistoryLost, planStart } from './start-plan.js';
import type { AvroCodec } from '../../schemas/avro-codec.js';
import type { ChangeEvent } from '../../schemas/envelope.js';

/** An empty change-stream read that took less than this was not held by the server. */
const IDLE_READ_HELD_MS = 50;
/** First pause after such a read; it doubles while reads stay empty, up to `maxAwaitMs`. */
const IDLE_PAUSE_MIN_MS = 5;

/** What one change-stream read returned: its events, the position after them, and how long it took. */
interface ReadBatch {
  /** Each event's BSON bytes, as the server sent them. */
  events: Uint8Array[];
  token: Document | null;
  elapsedMs: number;
}

export interface MongoSourceDeps {
  kafka: KafkaTransport;
  topics: TopicNames;
  logger: Logger;
  health: Health;
  metrics: SourceMetrics;
  /** Metadata store holding the `leases` collection. */
  metadataDb: Db;
  /** Partitions of change topics the source creates. */
  partitions: number;
  /** Who answers for the source in health: `instance` (config sources, the default) or the tenant that made it. */
  owner?: HealthOwner;
  /** Required for `format: avro`. */
  avro?: AvroCodec;
}

/** A failure no retry fixes (bad URI kind, oversized event with `oversized: fail`, lost history with `fail`). */
export class SourceFatalError extends ChangeflowError {
  constructor(message: string, cause?: unknown) {
    super(message, { retriable: false, code: 'SOURCE_FATAL', cause });
  }
}

interface Acked {
  position: SourcePosition;
  counts: Map<string, number>;
  clusterTime?: { t: number; i: number };
}

function isTimestamp(value: unknown): value is Timestamp {
  return (value as { _bsontype?: unknown } | null)?._bsontype === 'Timestamp';
}

/** Which dependency an error came from, for logs and /healthz. */
function dependencyOf(error: unknown): 'MongoDB' | 'Kafka' | 'unknown' {
  const name = (error as { name?: unknown } | null)?.name;
  if (typeof name === 'string' && name.startsWith('Mongo')) return 'MongoDB';
  const message = errorMessage(error);
  if (/kafka/i.test(message) || (typeof name === 'string' && name.startsWith('Kafka'))) return 'Kafka';
  return 'unknown';
}

/**
 * One configured MongoDB source: holds the lease (or waits as standby), snapshots when asked,
 * streams changes into Kafka through pipelined acknowledged sends, and stores its position only
 * behind the acknowledgement frontier.
 */
export class MongoSource {
  private readonly client: MongoClient;
  private readonly lease: Lease;
  private readonly offsets: OffsetStore;
  private readonly log: Logger;
  private readonly healthKey: string;
  private readonly abort = new AbortController();
  private readonly knownTopics = new Set<string>();
  private loop: Promise<void> | null = null;
  private stream: RawChangeStream | null = null;
  private renewTimer: NodeJS.Timeout | null = null;
  private metricsTimer: NodeJS.Timeout | null = null;
  private lastSavedAt = 0;
  private lastSaved: SourcePosition | null = null;
  private lastAckedClusterTime: { t: number; i: number } | undefined;
  private caughtUp = false;
  private unplaced = 0;
  /** Fragments of a split large event read so far (`$changeStreamSplitLargeEvent` in the pipeline). */
  private readonly fragments = new SplitEventJoiner();
  private echo: EchoFilter | null = null;
  private encoder: EncoderContext | null = null;
  private failure: Error | null = null;
  /** Avro values for `format: avro` (schema ids resolved per batch by `ready` first); undefined: JSON. */
  private readonly valueEncoder: ValueEncoder | undefined;

  constructor(
    readonly config: SourceConfig,
    private readonly deps: MongoSourceDeps,
    owner = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`,
  ) {
    this.client = new MongoClient(config.uri, { serverSelectionTimeoutMS: 10_000, appName: `changeflow-source-${config.name}` });
    this.lease = new Lease(deps.metadataDb, `source:${config.name}`, owner, config.leaseMs);
    this.offsets = new OffsetStore(deps.kafka, deps.topics.offsets(), deps.logger.child({ source: config.name }));
    this.log = deps.logger.child({ component: 'source', source: config.name });
    this.healthKey = `source:${config.name}`;
    const { avro } = deps;
    this.valueEncoder = config.format === 'avro' && avro ? (topic, event) => avro.encodeSync(topic, event) : undefined;
  }

  get stopping(): boolean {
    return this.abort.signal.aborted;
  }

  /** The error the source stopped on for good (it stays stopped, its position kept); null while it works. */
  get failed(): Error | null {
    return this.failure;
  }

  private report(ok: boolean, detail: string, state?: ComponentState): void {
    this.deps.health.set(this.healthKey, ok, detail, { ...(state ? { state } : {}), owner: this.deps.owner ?? 'instance' });
  }

  /** Starts the background work and returns at once: MongoDB or Kafka being down is retried, not fatal. */
  start(): void {
    if (this.config.format === 'avro' && !this.deps.avro) {
      throw new ChangeflowError(`source "${this.config.name}": format: avro needs a schema registry; set kafka.schemaRegistry.url (or SCHEMA_REGISTRY_URL)`, { code: 'CONFIG_INVALID' });
    }
    this.report(true, 'starting', 'starting');
    this.metricsTimer = setInterval(() => this.updateGauges(), 1_000);
    this.metricsTimer.unref();
    this.loop = this.run().catch((error: unknown) => this.log.error({ err: errorMessage(error) }, 'source loop ended unexpectedly'));
  }

  async stop(): Promise<void> {
    this.abort.abort(new ChangeflowError('source stopping'));
    await this.stream?.close().catch(() => undefined);
    await this.loop;
    if (this.renewTimer) clearInterval(this.renewTimer);
    if (this.metricsTimer) clearInterval(this.metricsTimer);
    if (this.lease.held()) await this.lease.release().catch((error: unknown) => this.log.warn({ err: errorMessage(error) }, 'could not release the lease'));
    this.deps.metrics.active.set({ source: this.config.name }, 0);
    await this.client.close().catch(() => undefined);
    this.deps.health.remove(this.healthKey);
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      try {
        await this.waitForLease();
        if (this.stopping) break;
        this.deps.metrics.active.set({ source: this.config.name }, 1);
        await retry(() => this.session(), {
          attempts: Number.POSITIVE_INFINITY,
          initialDelayMs: 500,
          maxDelayMs: 10_000,
          signal: this.abort.signal,
          shouldRetry: (error) => !this.stopping && !(error instanceof LeaseLostError) && (isRetriable(error) || isTransientMongoError(error)),
          onRetry: (error, attempt, delayMs) => {
            const dependency = dependencyOf(error);
            const detail = `${dependency} unavailable: ${errorMessage(error)} (retry ${attempt} in ${delayMs} ms)`;
            this.report(false, detail, 'retrying');
            this.log.warn({ dependency, attempt, delayMs, err: errorMessage(error) }, `source "${this.config.name}": ${dependency} failing, retrying`);
          },
        });
      } catch (error) {
        if (this.stopping) break;
        if (error instanceof LeaseLostError) {
          this.deps.metrics.active.set({ source: this.config.name }, 0);
          this.log.warn(error.message);
          continue;
        }
        // No retry can fix it, and resuming past the event would lose it: the source stays stopped with
        // its position stored before the event, until its config changes or the process restarts.
        const fatal = toError(error);
        this.failure = fatal;
        const at = this.lastSaved ? `; stopped with its position kept (${this.lastSaved.describe()})` : '; stopped';
        this.report(false, `${fatal.message}${at} until its config changes or the process restarts`, 'failed');
        this.log.error({ err: fatal.message, position: this.lastSaved?.describe() ?? null }, `source "${this.config.name}" stopped for good (the process and other sources go on): ${fatal.message}`);
        this.deps.metrics.active.set({ source: this.config.name }, 0);
        await this.lease.release().catch(() => undefined);
        return;
      }
    }
  }

  /** Standby until the lease is ours; then keeps renewing it in the background. */
  private async waitForLease(): Promise<void> {
    const pollMs = Math.max(250, Math.floor(this.config.leaseMs / 3));
    let announced = false;
    while (!this.stopping) {
      const ours = await this.lease.acquire().catch((error: unknown) => {
        this.report(false, `metadata MongoDB unavailable for the lease: ${errorMessage(error)}`, 'retrying');
        this.log.warn({ err: errorMessage(error) }, 'lease: metadata MongoDB failing, retrying');
        return false;
      });
      if (ours) break;
      if (!announced) {
        const holder = await this.lease.holder().catch(() => null);
        this.log.info({ holder: holder?.owner }, 'standby: another instance holds the source lease');
        this.report(true, `standby (active: ${holder?.owner ?? 'unknown'})`, 'standby');
        announced = true;
      }
      await sleep(pollMs, this.abort.signal).catch(() => undefined);
    }
    if (this.stopping) return;
    this.log.info({ owner: this.lease.owner }, 'lease acquired: this instance is active');
    if (this.renewTimer) clearInterval(this.renewTimer);
    this.renewTimer = setInterval(() => {
      this.lease.acquire().then(
        (ours) => {
          if (!ours) this.log.warn('lease renewal refused: another instance took over');
        },
        (error: unknown) => this.log.warn({ err: errorMessage(error) }, 'lease renewal failed (metadata MongoDB); will stop producing when the lease runs out'),
      );
    }, pollMs);
    this.renewTimer.unref();
  }

  private assertLease(): void {
    if (!this.lease.held()) throw new LeaseLostError(`source "${this.config.name}": lease lost; this instance stops producing and waits as standby`);
  }

  /** One active period: from the stored position until stop, lease loss or an error. */
  private async session(): Promise<void> {
    const admin = this.deps.kafka.admin();
    const producer = this.deps.kafka.producer({ idempotent: true, maxRequestBytes: this.config.maxBatchBytes });
    try {
      await admin.connect();
      await producer.connect();
      await this.offsets.ensureTopic(admin);
      await this.client.connect();
      this.encoder = await this.encoderContext();
      if (this.config.skipEchoes) this.echo ??= createEchoFilter(this.client, { sourceName: this.config.name });

      const stored = await this.offsets.load(admin, this.config.name);
      const plan = planStart(this.config.snapshot, stored);
      this.log.info({ plan: plan.kind, position: stored?.describe() ?? null }, 'source starting');
      let position: SourcePosition;
      switch (plan.kind) {
        case 'latest':
          position = await this.beginLatest(producer);
          break;
        case 'snapshot':
          position = await this.beginSnapshot(producer);
          break;
        case 'resume-snapshot':
        case 'stream':
          position = plan.position;
          break;
      }
      this.report(true, position.inSnapshot ? 'snapshot' : 'streaming');
      for (;;) {
        if (position.inSnapshot) position = await this.runSnapshot(admin, producer, position);
        const next = await this.streamFrom(admin, producer, position);
        if (next === null) return;
        position = next;
      }
    } finally {
      await this.stream?.close().catch(() => undefined);
      this.stream = null;
      await producer.disconnect().catch(() => undefined);
      await admin.disconnect().catch(() => undefined);
    }
  }

  private async encoderContext(): Promise<EncoderContext> {
    let cluster = this.config.cluster;
    if (!cluster) {
      const hello = await this.client.db('admin').command({ isMaster: 1 }).catch(() => ({}) as Document);
      const setName: unknown = hello['setName'];
      cluster = typeof setName === 'string' ? setName : this.client.options.hosts.map((h) => h.toString()).join(',');
    }
    return { sourceName: this.config.name, cluster, watch: this.config.watch, mode: this.config.jsonMode };
  }

  private async save(producer: Producer, position: SourcePosition): Promise<void> {
    await this.offsets.save(producer, this.config.name, position);
    this.lastSavedAt = Date.now();
    this.lastSaved = position;
  }

  /**
   * The cluster's current time: every change after it is in a stream opened there. A replica set
   * reports it with each reply (operationTime); mongo-java-server does not, so its oplog's newest entry stands in.
   */
  private async currentClusterTime(): Promise<Timestamp> {
    const reply = await this.client.db('admin').command({ ping: 1 });
    const operationTime: unknown = reply['operationTime'];
    if (isTimestamp(operationTime)) return operationTime;
    const newest = await this.client.db('local').collection('oplog.rs').find({}, { projection: { ts: 1 } }).sort({ ts: -1 }).limit(1).next().catch(() => null);
    const ts: unknown = newest?.['ts'];
    if (isTimestamp(ts)) return ts;
    if (newest === null) return new Timestamp({ t: Math.floor(Date.now() / 1000), i: 0 });
    throw new SourceFatalError(`source "${this.config.name}": the server reports no cluster time, so a start position cannot be fixed`);
  }

  private async beginLatest(producer: Producer): Promise<SourcePosition> {
    const position = SourcePosition.atClusterTime(await this.currentClusterTime());
    await this.save(producer, position);
    return position;
  }

  private async namespacesToCopy(): Promise<string[]> {
    const { db, coll } = this.config.watch;
    const collectionsOf = async (dbName: string): Promise<string[]> => {
      const list = await this.client.db(dbName).listCollections({}, { nameOnly: true }).toArray();
      return list
        .filter((c) => (c as { type?: string }).type !== 'view' && !c.name.startsWith('system.'))
        .map((c) => `${dbName}.${c.name}`)
        .sort();
    };
    if (db && coll) return [`${db}.${coll}`];
    if (db) return collectionsOf(db);
    const { databases } = await this.client.db('admin').admin().listDatabases({ nameOnly: true });
    const names = databases.map((d) => d.name).filter((n) => !['admin', 'local', 'config'].includes(n));
    return (await Promise.all(names.sort().map(collectionsOf))).flat();
  }

  /** Fixes the stream's start BEFORE copying, so every write during the copy is in the stream. */
  private async beginSnapshot(producer: Producer): Promise<SourcePosition> {
    const start: StreamStart = { clusterTime: (({ t, i }) => ({ t, i }))(await this.currentClusterTime()) };
    const position = SourcePosition.snapshotting(start, { namespaces: await this.namespacesToCopy(), index: 0, copied: 0 });
    await this.save(producer, position);
    this.log.info({ position: position.describe() }, 'snapshot starting');
    return position;
  }

  private splitNamespace(ns: string): { db: string; coll: string } {
    const dot = ns.indexOf('.');
    return { db: ns.slice(0, dot), coll: ns.slice(dot + 1) };
  }

  private newSender(producer: Producer, onAcked: (acked: Acked) => void): OrderedSender<Acked> {
    return new OrderedSender<Acked>((records) => producer.send(records), this.config.maxInFlightBatches, (acked) => {
      for (const [op, n] of acked.counts) this.deps.metrics.events.inc({ source: this.config.name, op }, n);
      if (acked.clusterTime) this.lastAckedClusterTime = acked.clusterTime;
      onAcked(acked);
    });
  }

  private async runSnapshot(admin: Admin, producer: Producer, from: SourcePosition): Promise<SourcePosition> {
    const progress0 = from.snapshot;
    if (!progress0) return from;
    const encoder = this.requireEncoder();
    const { name } = this.config;
    // Copied counts every collection done so far, so the total is every collection's size.
    let total = 0;
    for (const ns of progress0.namespaces) {
      const { db, coll } = this.splitNamespace(ns);
      total += await this.client.db(db).collection(coll).estimatedDocumentCount().catch(() => 0);
    }
    this.deps.metrics.snapshotTotal.set({ source: name }, total);
    const reporter = new SnapshotProgress(name, total, progress0.copied, this.log);
    if (progress0.copied > 0 || progress0.lastKey !== undefined) this.log.info({ position: from.describe() }, 'snapshot resuming from its stored progress');

    let acked = from;
    const sender = this.newSender(producer, (a) => (acked = a.position));
    let copied = progress0.copied;
    const snapshotEncoder = { ...encoder, multiNamespace: !this.config.watch.coll };
    const needEvent = this.valueEncoder !== undefined;
    for (let index = progress0.index; index < progress0.namespaces.length; index++) {
      const nsText = progress0.namespaces[index] ?? '';
      const ns = this.splitNamespace(nsText);
      const lastKey = index === progress0.index ? progress0.lastKey : undefined;
      const filters = lastKey === undefined ? [{}] : afterIdFilters(parseCanonicalText<Document>(lastKey)['_id']);
      let chunk: OutgoingRecord[] = [];
      let documents = 0;
      let bytes = 0;
      let lastCopiedKey = '';
      const flush = async (): Promise<void> => {
        if (documents === 0) return;
        this.assertLease();
        await this.ensureTopics(admin, chunk);
        copied += documents;
        const position = from.withSnapshot({ namespaces: progress0.namespaces, index, lastKey: lastCopiedKey, copied });
        await sender.submit(chunk, { position, counts: new Map([['snapshot', documents]]) });
        chunk = [];
        documents = 0;
        bytes = 0;
        this.deps.metrics.snapshotCopied.set({ source: name }, copied);
        reporter.update(copied);
        await this.maybeCheckpoint(producer, acked);
      };
      await this.deps.avro?.ready([this.deps.topics.change(ns.db, ns.coll, this.config.topic)]);
      for (const filter of filters) {
        const cursor = this.client
          .db(ns.db)
          .collection(ns.coll)
          // Raw: each document's BSON bytes, encoded straight to the record value (snapshotFromBytes).
          .find(filter, { sort: { _id: 1 }, batchSize: this.config.snapshotBatchSize, raw: true });
        try {
          batches: for await (const batch of cursorBatches(cursor)) {
            for (const doc of batch) {
              if (this.stopping) break batches;
              const change = snapshotFromBytes(doc as unknown as Uint8Array, ns, snapshotEncoder, needEvent);
              bytes += this.addRecords(chunk, change);
              documents += 1;
              // A snapshot document's key is canonicalText({ _id }): what a resumed copy starts after.
              if (change.key !== null) lastCopiedKey = change.key;
              if (documents >= this.config.snapshotBatchSize || bytes >= this.config.maxBatchBytes) await flush();
            }
          }
          await flush();
        } finally {
          await cursor.close().catch(() => undefined);
        }
        if (this.stopping) break;
      }
      if (this.stopping) break;
    }
    await sender.drain();
    if (this.stopping) {
      await this.save(producer, acked);
      return acked;
    }
    reporter.done(copied);
    const streaming = from.streaming();
    await this.save(producer, streaming);
    this.log.info({ copied }, 'snapshot complete; streaming from the position taken before the copy');
    return streaming;
  }

  private requireEncoder(): EncoderContext {
    if (!this.encoder) throw new InternalError('encoder used before the session connected');
    return this.encoder;
  }

  private openStream(position: SourcePosition): RawChangeStream {
    const pipeline: Document[] = [];
    if (this.config.operationTypes) pipeline.push({ $match: { operationType: { $in: this.config.operationTypes } } });
    pipeline.push(...(this.config.pipeline as Document[]));
    return new RawChangeStream(this.client, this.config.watch, {
      start: position.watchOptions(),
      pipeline,
      batchSize: this.config.batchSize,
      maxAwaitTimeMS: this.config.maxAwaitMs,
      ...(this.config.fullDocument === 'default' ? {} : { fullDocument: this.config.fullDocument }),
      ...(this.config.fullDocumentBeforeChange === 'off' ? {} : { fullDocumentBeforeChange: this.config.fullDocumentBeforeChange }),
    });
  }

  /** Explains errors of opening a stream that no retry fixes; returns null for the others. */
  private classifyStreamError(error: unknown, position: SourcePosition): SourceFatalError | 'history-lost' | null {
    const { name, watch } = this.config;
    if (isNotReplicaSet(error)) {
      return new SourceFatalError(`source "${name}": ${this.config.uri.replace(/\/\/[^@/]*@/, '//***@')} does not support change streams: it is not a replica set or sharded cluster (a standalone mongod cannot be watched; start it as a one-node replica set). Server said: ${errorMessage(error)}`, error);
    }
    if (isUnsupportedCommand(error) && !watch.db) {
      return new SourceFatalError(`source "${name}": this server cannot watch a whole cluster (${errorMessage(error)}); watch a database or collection instead`, error);
    }
    if (isHistoryLost(error)) return 'history-lost';
    void position;
    return null;
  }

  /**
   * Streams from `position` until stop (returns null) or until history is lost and the policy asks
   * for a new snapshot (returns the snapshot position).
   */
  private async streamFrom(admin: Admin, producer: Producer, position: SourcePosition): Promise<SourcePosition | null> {
    let acked = position;
    const sender = this.newSender(producer, (a) => (acked = a.position));
    const stream = this.openStream(position);
    this.stream = stream;
    this.fragments.reset();
    let lastHeartbeatToken: string | null = null;
    let idlePauseMs = 0;
    // The next getMore, issued while the previous batch is encoded and handed to Kafka, so the
    // server's read and our CPU work overlap instead of taking turns.
    let readAhead: Promise<ReadBatch> | null = null;
    this.log.info({ position: position.describe() }, 'streaming');
    try {
      while (!this.stopping) {
        this.assertLease();
        const batch = await (readAhead ?? this.readBatch(stream));
        readAhead = null;
        if (this.stopping) break;
        if (batch.events.length === 0) {
          this.caughtUp = sender.inFlight === 0;
          // Heartbeat: an idle stream still advances its postBatchResumeToken; store it so the position stays inside the oplog.
          const token = batch.token;
          // Inside a split event the position stays before its first fragment, so a restart reads it whole.
          if (token && !this.fragments.pending) {
            const text = canonicalText(token);
            if (text !== lastHeartbeatToken) {
              lastHeartbeatToken = text;
              await sender.submit([], { position: SourcePosition.afterToken(token), counts: new Map() });
            }
          }
          const due = Date.now() - this.lastSavedAt >= (acked === this.lastSaved ? this.config.heartbeatMs : this.config.checkpointIntervalMs);
          if (sender.inFlight === 0 && due) await this.save(producer, acked);
          if (batch.elapsedMs < IDLE_READ_HELD_MS) {
            // The server answered an empty read at once instead of holding it (mongo-java-server ignores
            // maxAwaitTimeMS): poll again soon after a change, backing off to maxAwaitMs while idle.
            idlePauseMs = Math.min(this.config.maxAwaitMs, Math.max(IDLE_PAUSE_MIN_MS, idlePauseMs * 2));
            await sleep(idlePauseMs, this.abort.signal).catch(() => undefined);
          }
          continue;
        }
        idlePauseMs = 0;
        this.caughtUp = false;
        const changes = this.prepareChanges(batch.events);
        // A batch that ends inside a split event: stored positions stop after its last whole change.
        const batchToken = this.fragments.pending ? null : batch.token;
        if (changes.length === 0) {
          // Every event of the batch was left out (unplaced): move the position past them all the same.
          if (batchToken) await sender.submit([], { position: SourcePosition.afterToken(batchToken), counts: new Map() });
          continue;
        }
        const invalidated = changes.some((c) => c.op === 'invalidate');
        if (!invalidated) {
          readAhead = this.readBatch(stream);
          readAhead.catch(() => undefined); // awaited (and its error handled) at the top of the loop or below
        }
        await this.submitChanges(admin, sender, changes, batchToken);
        await this.maybeCheckpoint(producer, acked);
        if (invalidated) {
          await sender.drain();
          await this.save(producer, acked);
          this.log.warn('change stream invalidated (watched collection or database dropped or renamed); reopening after the invalidate event');
          await stream.close().catch(() => undefined);
          return acked.startingAfter();
        }
      }
    } catch (error) {
      await readAhead?.catch(() => undefined);
      await sender.settle();
      if (this.stopping) {
        await this.save(producer, acked).catch(() => undefined);
        return null;
      }
      const kind = this.classifyStreamError(error, position);
      if (kind === 'history-lost') return this.handleHistoryLost(producer, acked);
      if (kind) throw kind;
      // Everything acknowledged so far is safe to store; the rest is re-read after the retry.
      if (!(error instanceof LeaseLostError)) await this.save(producer, acked).catch(() => undefined);
      throw error;
    }
    await readAhead?.catch(() => undefined);
    await sender.drain();
    await this.save(producer, acked);
    return null;
  }

  private async handleHistoryLost(producer: Producer, acked: SourcePosition): Promise<SourcePosition> {
    const action = onHistoryLost(this.config.onHistoryLost, this.config.snapshot, this.config.name, acked.describe());
    switch (action.kind) {
      case 'fail':
        throw new SourceFatalError(action.message);
      case 'latest': {
        this.log.error({ gap: true, lostAfter: acked.describe() }, action.message);
        return this.beginLatest(producer);
      }
      case 'snapshot':
        this.log.warn({ lostAfter: acked.describe() }, `source "${this.config.name}": change history lost; taking a new snapshot (onHistoryLost: snapshot)`);
        return this.beginSnapshot(producer);
    }
  }

  private async readBatch(stream: RawChangeStream): Promise<ReadBatch> {
    const started = performance.now();
    const { events, token } = await stream.next();
    return { events, token, elapsedMs: performance.now() - started };
  }

  /** Encodes a batch's events; as objects only when each envelope is read here (echo filter, Avro). */
  private prepareChanges(events: readonly Uint8Array[]): SourceChange[] {
    const encoder = this.requireEncoder();
    const needEvent = this.echo !== null || this.valueEncoder !== undefined;
    const changes: SourceChange[] = [];
    for (const bytes of events) {
      try {
        const change = this.changeOf(bytes, encoder, needEvent);
        if (change) changes.push(change);
      } catch (error) {
        if (!(error instanceof UnplacedChangeError)) throw error;
        this.noteUnplaced(error);
      }
    }
    return changes;
  }

  /** One event's change; null for a fragment of a split event that is not complete yet. */
  private changeOf(bytes: Uint8Array, encoder: EncoderContext, needEvent: boolean): SourceChange | null {
    try {
      return changeFromBytes(bytes, encoder, needEvent);
    } catch (error) {
      if (!(error instanceof SplitFragment)) throw error;
      const whole = this.fragments.add(error.fragment);
      return whole === null ? null : fromEncoded(encodeChange(whole, encoder), () => whole['_id']);
    }
  }

  /** An event published under a guessed namespace could be a false drop: count it, say so, go on. */
  private noteUnplaced(error: UnplacedChangeError): void {
    this.unplaced += 1;
    this.deps.metrics.unplaced.inc({ source: this.config.name, op: error.op });
    this.log.warn({ op: error.op, unplaced: this.unplaced }, error.message);
    this.report(true, `streaming; ${this.unplaced} event(s) without a namespace not published (last: ${error.op}); see changeflow_source_unplaced_events_total`);
  }

  /** Filters echoes, splits by bytes and submits; each part carries the position after its last event. */
  private async submitChanges(admin: Admin, sender: OrderedSender<Acked>, encoded: SourceChange[], batchToken: Document | null): Promise<void> {
    let kept = encoded;
    if (this.echo) {
      const events = encoded.map((c) => c.event());
      const survivors = new Set(await this.echo.drop(events));
      kept = encoded.filter((_, i) => survivors.has(events[i] as ChangeEvent));
    }
    const keptSet = new Set(kept);
    if (this.valueEncoder) await this.deps.avro?.ready(new Set(kept.flatMap((k) => changeTopics(k, this.deps.topics, this.config.topic))));
    let part: OutgoingRecord[] = [];
    let partBytes = 0;
    let counts = new Map<string, number>();
    let clusterTime: { t: number; i: number } | undefined;
    const flush = async (position: SourcePosition): Promise<void> => {
      this.assertLease();
      await this.ensureTopics(admin, part);
      await sender.submit(part, { position, counts, ...(clusterTime ? { clusterTime } : {}) });
      part = [];
      partBytes = 0;
      counts = new Map();
    };
    for (let i = 0; i < encoded.length; i++) {
      const change = encoded[i];
      if (!change) continue;
      if (keptSet.has(change)) {
        if (change.key === null && !change.hasDocumentKey && change.op !== 'drop' && change.op !== 'rename' && change.op !== 'dropDatabase' && change.op !== 'invalidate') {
          this.deps.metrics.unkeyed.inc({ source: this.config.name });
          this.log.warn({ id: change.id, op: change.op }, 'the server did not supply this change\'s document _id (mongo-java-server update without a document to look up); keyed by namespace');
        }
        partBytes += this.addRecords(part, change);
        counts.set(change.op, (counts.get(change.op) ?? 0) + 1);
        if (change.clusterTime) clusterTime = change.clusterTime;
      }
      const isLast = i === encoded.length - 1;
      if (isLast) await flush(SourcePosition.afterToken(batchToken ?? change.token()));
      else if (partBytes >= this.config.maxBatchBytes) await flush(SourcePosition.afterToken(change.token()));
    }
  }

  /**
   * Appends the Kafka records of one change to `records`, an oversized one failed or dead-lettered;
   * returns their bytes (the event is serialized once, here).
   */
  private addRecords(records: OutgoingRecord[], change: SourceChange): number {
    const { name, maxRecordBytes, oversized } = this.config;
    let bytes = 0;
    for (const record of changeRecords(change, this.deps.topics, this.config.topic, this.valueEncoder)) {
      const size = recordSize(record);
      bytes += size;
      if (size <= maxRecordBytes) {
        records.push(record);
        continue;
      }
      const event = change.event();
      const what = `change ${event.id} (${event.op}) of document ${change.key ?? '(no key)'} in ${namespaceText(event.ns)} is ${size.toLocaleString('en-US')} bytes, more than maxRecordBytes (${maxRecordBytes.toLocaleString('en-US')})`;
      const dlqTopic = this.deps.topics.deadLetter(`source.${name}`);
      if (oversized === 'fail') throw new SourceFatalError(`source "${name}": ${what}. Set oversized: dlq to route such events to ${dlqTopic}, or raise maxRecordBytes (and the broker's message.max.bytes)`);
      this.deps.metrics.dlq.inc({ source: name });
      this.log.warn({ id: event.id, documentKey: change.key, size, topic: dlqTopic }, `oversized event routed to the dead-letter topic: ${what}`);
      // The dead letter names the change; the documents that made it too large stay out (JSON drops undefined).
      const summary = { ...event, fullDocument: undefined, fullDocumentBeforeChange: undefined, updateDescription: undefined };
      records.push({
        topic: dlqTopic,
        key: record.key,
        value: JSON.stringify({ error: `oversized: ${what}`, size, topic: record.topic, event: summary }),
        headers: { ...(record.headers ?? {}), error: 'oversized' },
      });
    }
    return bytes;
  }

  private async ensureTopics(admin: Admin, records: readonly OutgoingRecord[]): Promise<void> {
    const missing = [...new Set(records.map((r) => r.topic))].filter((t) => !this.knownTopics.has(t));
    if (missing.length === 0) return;
    await admin.ensureTopics(missing.map((topic) => ({ topic, partitions: topic.includes('.__dlq.') || topic.endsWith('.__ddl') ? 1 : this.deps.partitions })));
    for (const topic of missing) this.knownTopics.add(topic);
  }

  private async maybeCheckpoint(producer: Producer, acked: SourcePosition): Promise<void> {
    if (acked === this.lastSaved || Date.now() - this.lastSavedAt < this.config.checkpointIntervalMs) return;
    await this.save(producer, acked);
  }

  private updateGauges(): void {
    const source = this.config.name;
    this.deps.metrics.checkpointAge.set({ source }, this.lastSavedAt === 0 ? 0 : (Date.now() - this.lastSavedAt) / 1000);
    const lag = this.caughtUp || !this.lastAckedClusterTime ? 0 : Math.max(0, Date.now() / 1000 - this.lastAckedClusterTime.t);
    this.deps.metrics.lag.set({ source }, lag);
  }
}

