import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { MongoClient, type Collection } from 'mongodb';
import { Lease, LeaseLostError } from '../../connectors/mongodb/lease.js';
import type { AppContext } from '../../core/app.js';
import { errorMessage } from '../../core/errors.js';
import type { Batch, BatchContext, Consumer, Producer } from '../../core/kafka/index.js';
import type { Logger } from '../../core/logger.js';
import { retry } from '../../core/retry.js';
import type { Document } from './document-stages.js';
import { compilePipeline } from './pipeline.js';
import { applyBatch } from './view-batch.js';
import type { ViewConfig } from './view-config.js';
import { ViewEngine } from './view-engine.js';
import { viewFeedTopic } from './view-feed.js';
import { ViewState, writeRows, type Journal } from './view-state.js';

export type ViewContext = Pick<AppContext, 'config' | 'logger' | 'health' | 'kafka' | 'topics' | 'metadata'>;

export interface ViewRuntimeOptions {
  view: ViewConfig;
  /** The topic the source publishes the view's collection to. */
  sourceTopic: string;
  /** The topic of the `$lookup` collection, when the pipeline has one. */
  foreignTopic?: string;
  context: ViewContext;
  /** Most source records per journal (one MongoDB document, ≤ 16 MB with its rows). Default 500. */
  maxBatch?: number;
  /** Lifetime of the lease that makes one instance the view's active one; renewed every third of it. Default 10 s. */
  leaseMs?: number;
}

/**
 * The consumer group of a view's build: `<prefix>.view.<name>.<generation>`. A view whose state is
 * gone (a first start, or a state collection dropped to rebuild it) starts a new generation, so it
 * reads its sources from the start instead of from an old group's commits.
 */
export function viewGroupOf(prefix: string, name: string, generation: string): string {
  return `${prefix}.view.${name}.${generation}`;
}

/**
 * One view, running: reads the source collection's topic as group `<prefix>.view.<name>`, applies
 * each batch to the engine, and makes it durable in this order: the journal (one document), the
 * state (contributions, positions), the target rows, the feed records; then the journal is cleared
 * and the source offsets committed. A crash anywhere is finished from the journal on restart, and
 * records before the stored positions are skipped, so the target and the feed never regress:
 * the target is written idempotently, the feed at least once.
 *
 * Partitions are applied one at a time: groups span partitions, and the engine is one state. So that
 * one process keeps a view, it holds the lease `view:<name>` in the metadata store (as sources do):
 * another instance waits as standby and takes over, from the stored state, when the lease expires.
 */
export class ViewRuntime {
  private readonly log: Logger;
  private readonly abort = new AbortController();
  private engine: ViewEngine;
  private lease: Lease | undefined;
  private renewal: NodeJS.Timeout | undefined;
  private renewing = false;
  private active = false;
  private activating: Promise<void> | undefined;
  private positions = new Map<string, string>();
  private targetClient: MongoClient | undefined;
  private target: Collection<Document> | undefined;
  private state: ViewState | undefined;
  private consumer: Consumer | undefined;
  private producer: Producer | undefined;
  private queue: Promise<void> = Promise.resolve();
  private readonly feedTopic: string;
  groupId = '';
  /** Source records applied since start (bench and tests). */
  applied = 0;

  constructor(private readonly options: ViewRuntimeOptions) {
    this.engine = new ViewEngine(compilePipeline(options.view.pipeline));
    this.log = options.context.logger.child({ component: 'view', view: options.view.name });
    this.feedTopic = viewFeedTopic(options.context.topics, options.view.name);
  }

  private get sourceTopics(): string[] {
    return [this.options.sourceTopic, ...(this.options.foreignTopic ? [this.options.foreignTopic] : [])];
  }

  private get healthKey(): string {
    return `view:${this.options.view.name}`;
  }

  async start(): Promise<void> {
    const { view, context } = this.options;
    try {
      const uri = view.target.uri;
      const client = uri && uri !== context.config.mongodb.uri ? (this.targetClient = new MongoClient(uri)) : context.metadata.client;
      if (this.targetClient) await this.targetClient.connect();
      const db = client.db(view.target.db);
      this.target = db.collection<Document>(view.target.coll);
      this.state = new ViewState(db, view.target.coll);

      const admin = context.kafka.admin();
      await admin.connect();
      try {
        const partitions = context.config.kafka.partitions;
        await admin.ensureTopics([
          ...this.sourceTopics.map((topic) => ({ topic, partitions })),
          { topic: this.feedTopic, partitions, config: { 'cleanup.policy': 'compact' } },
        ]);
      } finally {
        await admin.disconnect();
      }
      this.producer = context.kafka.producer({ idempotent: true });
      await this.producer.connect();
      const leaseMs = this.options.leaseMs ?? 10_000;
      this.lease = new Lease(context.metadata.db, `view:${view.name}`, `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`, leaseMs);
      this.renewal = setInterval(() => void this.renew(), Math.max(100, Math.floor(leaseMs / 3)));
      await this.renew();
      // A free lease: started means active (a standby returns at once and takes over later).
      await this.activating;
      this.log.info({ active: this.active, sources: this.sourceTopics, feed: this.feedTopic }, 'view started');
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  /** Takes the view over: the state loaded (a fresh engine), then consuming. */
  private async activate(): Promise<void> {
    const { context } = this.options;
    this.engine = new ViewEngine(compilePipeline(this.options.view.pipeline));
    await this.recover();
    this.consumer = context.kafka.consumer({ groupId: this.groupId, fromBeginning: true, sessionTimeoutMs: context.config.kafka.sessionTimeoutMs });
    await this.consumer.connect();
    await this.consumer.subscribe(this.sourceTopics);
    this.active = true;
    await this.consumer.run((batch, ctx) => this.onBatch(batch, ctx), { partitionsConsumedConcurrently: 1 });
    this.setHealth(true, `consuming ${this.sourceTopics.join(', ')}; ${this.engine.rowCount} rows`);
    this.log.info({ group: this.groupId, rows: this.engine.rowCount }, 'view active');
  }

  private async standBy(): Promise<void> {
    const holder = await this.lease?.holder().catch(() => null);
    this.options.context.health.set(this.healthKey, true, `standby (active: ${holder?.owner ?? 'unknown'})`, { state: 'standby' });
  }

  /**
   * Renews the lease (quick, so a slow takeover never lets it lapse); a standby that gets it takes
   * over in the background, an active instance that loses it stops consuming.
   */
  private async renew(): Promise<void> {
    if (this.renewing || this.abort.signal.aborted || !this.lease) return;
    this.renewing = true;
    try {
      const held = await this.lease.acquire().catch((error: unknown) => {
        this.log.warn({ err: errorMessage(error) }, 'view lease renewal failed');
        return this.lease?.held() ?? false;
      });
      if (held && !this.active && !this.activating) {
        this.activating = this.activate()
          .catch(async (error: unknown) => {
            this.log.error({ err: errorMessage(error) }, 'taking the view over failed; retrying at the next renewal');
            await this.deactivate();
          })
          .finally(() => (this.activating = undefined));
      } else if (!held && this.active) {
        this.log.warn('view lease lost: this instance stops keeping the view and waits as standby');
        await this.deactivate();
        await this.standBy();
      } else if (!held && !this.active) await this.standBy();
    } finally {
      this.renewing = false;
    }
  }

  private async deactivate(): Promise<void> {
    this.active = false;
    const consumer = this.consumer;
    this.consumer = undefined;
    await consumer?.disconnect().catch((error: unknown) => this.log.warn({ err: errorMessage(error) }, 'consumer did not stop cleanly'));
    await this.queue.catch(() => undefined);
  }

  /** Loads the stored state and finishes a batch a crash cut short (its journal). */
  private async recover(): Promise<void> {
    const state = this.state as ViewState;
    const stored = await state.load();
    // Foreign documents first, so each local document is joined once, as stored.
    for (const [key, doc] of stored.foreign) this.engine.applyForeign(key, doc);
    for (const { key, doc } of stored.journal?.foreign ?? []) this.engine.applyForeign(key, doc);
    for (const [key, rows] of stored.contributions) this.engine.loadDocument(key, rows);
    for (const { key, rows } of stored.journal?.contributions ?? []) this.engine.loadDocument(key, rows);
    // Loading is not a change: the target already holds these rows.
    this.engine.takeChanges();
    this.positions = stored.positions;
    if (stored.journal) {
      this.log.warn({ rows: stored.journal.rows.length, feed: stored.journal.feed.length }, 'finishing the batch a stop cut short (its journal)');
      await this.persist(stored.journal);
    }
    let generation = stored.generation;
    if (generation === undefined || (stored.positions.size === 0 && stored.contributions.size === 0 && stored.foreign.size === 0 && !stored.journal)) {
      // No state: the view is built from the start of the source topic; rows of an earlier state are stale.
      const stale = await (this.target as Collection<Document>).deleteMany({});
      if (stale.deletedCount > 0) this.log.warn({ deleted: stale.deletedCount }, 'no stored state: rebuilding the view from the source topic');
      generation = Date.now().toString(36);
      await state.writeGeneration(generation);
    }
    this.groupId = viewGroupOf(this.options.context.topics.prefix, this.options.view.name, generation);
    this.log.info({ documents: this.engine.documentCount, rows: this.engine.rowCount, positions: Object.fromEntries(this.positions) }, 'view state loaded');
  }

  private onBatch(batch: Batch, context: BatchContext): Promise<void> {
    // One batch at a time across partitions: the engine is one state.
    const run = this.queue.then(() => this.process(batch, context));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async process(batch: Batch, context: BatchContext): Promise<void> {
    const max = this.options.maxBatch ?? 500;
    for (let i = 0; i < batch.records.length; i += max) {
      if (context.isStale() || this.abort.signal.aborted || !this.active) return;
      const records = batch.records.slice(i, i + max);
      const { view } = this.options;
      const result = applyBatch(
        this.engine,
        records,
        this.positions,
        { view: view.name, topic: this.feedTopic, target: view.target },
        this.options.foreignTopic,
      );
      for (const problem of result.problems) this.log.warn({ problem }, 'a source document was left out of the view');
      try {
        await this.persist(result.journal);
      } catch (error) {
        // Another instance keeps the view now (it finishes from the stored state): nothing here is committed.
        if (error instanceof LeaseLostError || this.abort.signal.aborted) return;
        throw error;
      }
      this.applied += result.applied;
      const last = records.at(-1);
      if (last) {
        const next = String(BigInt(last.offset) + 1n);
        await this.consumer?.commit([{ topic: batch.topic, partition: batch.partition, offset: next }]).catch((error: unknown) =>
          // The stored position is what counts: a lost commit only means records read again and skipped.
          this.log.warn({ err: errorMessage(error) }, 'commit failed'),
        );
      }
      await context.heartbeat().catch(() => undefined);
    }
  }

  /** Makes a batch durable (journal, state, target, feed, journal cleared), retried until it is or the view stops. */
  private async persist(journal: Journal): Promise<void> {
    const state = this.state as ViewState;
    const target = this.target as Collection<Document>;
    const producer = this.producer as Producer;
    const changed = journal.contributions.length > 0 || journal.foreign.length > 0 || journal.rows.length > 0;
    const leased = (): void => {
      if (this.lease && !this.lease.held()) throw new LeaseLostError(`view "${this.options.view.name}": lease lost; another instance keeps the view`);
    };
    await retry(
      async () => {
        leased();
        if (changed) await state.writeJournal(journal);
        leased();
        await state.applyJournal(journal);
        await writeRows(target, journal.rows);
        if (journal.feed.length > 0) await producer.send(journal.feed.map((r) => ({ topic: this.feedTopic, key: r.key, value: r.value, headers: r.headers })));
        if (changed) await state.clearJournal();
      },
      {
        attempts: Number.POSITIVE_INFINITY,
        initialDelayMs: 200,
        maxDelayMs: 10_000,
        signal: this.abort.signal,
        shouldRetry: (error) => !this.abort.signal.aborted && !(error instanceof LeaseLostError),
        onRetry: (error, attempt, delayMs) => {
          this.setHealth(false, `writing a batch failed, retrying in ${delayMs} ms: ${errorMessage(error)}`);
          this.log.warn({ attempt, delayMs, err: errorMessage(error) }, 'writing a view batch failed; retrying');
        },
      },
    );
    for (const [tp, next] of Object.entries(journal.positions)) this.positions.set(tp, next);
    this.setHealth(true, `consuming ${this.sourceTopics.join(', ')}; ${this.engine.rowCount} rows`);
  }

  private setHealth(ok: boolean, detail: string): void {
    this.options.context.health.set(this.healthKey, ok, detail);
  }

  async stop(): Promise<void> {
    this.abort.abort();
    if (this.renewal) clearInterval(this.renewal);
    await this.activating;
    const wasActive = this.active;
    await this.deactivate();
    // A clean stop hands the view over at once instead of after the lease's expiry.
    if (wasActive) await this.lease?.release().catch(() => undefined);
    const producer = this.producer;
    this.producer = undefined;
    await producer?.disconnect().catch(() => undefined);
    await this.targetClient?.close().catch(() => undefined);
    this.targetClient = undefined;
  }
}
