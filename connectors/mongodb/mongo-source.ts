import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { MongoClient, type Db, type Document } from 'mongodb';
import { ChangeflowError, dependencyOf, errorMessage, isRetriable, toError } from '../../core/errors.js';
import type { ComponentState, Health, HealthOwner } from '../../core/health.js';
import type { KafkaTransport } from '../../core/kafka/transport.js';
import type { Logger } from '../../core/logger.js';
import { isMongoError, isTransientMongoError } from '../../core/mongo-errors.js';
import { retry, sleep } from '../../core/retry.js';
import type { TopicNames } from '../../core/topics.js';
import type { AvroCodec } from '../../schemas/avro-codec.js';
import type { EncoderContext } from './change-encoder.js';
import type { ValueEncoder } from './change-records.js';
import { createEchoFilter, type EchoFilter } from './echo-filter.js';
import { Lease, LeaseLostError } from './lease.js';
import { OffsetStore } from './offset-store.js';
import { RecordRouter } from './record-router.js';
import { beginLatest, beginSnapshot, runSnapshot } from './snapshot-reader.js';
import type { SourceConfig } from './source-config.js';
import { SourceFatalError } from './source-errors.js';
import type { SourceMetrics } from './source-metrics.js';
import type { SourcePosition } from './source-position.js';
import { SourceSession, type SourceProgress } from './source-session.js';
import { onHistoryLost, planStart } from './start-plan.js';
import { StreamReader } from './stream-reader.js';

export { SourceFatalError } from './source-errors.js';

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

/** Which dependency an error came from, for logs and /healthz: the Kafka transport's errors name theirs. */
function failedDependency(error: unknown): string {
  return dependencyOf(error) ?? (isMongoError(error) ? 'MongoDB' : 'a dependency');
}

/**
 * One configured MongoDB source, the task that runs it: holds the lease (or waits as standby),
 * retries its dependencies, and runs sessions that start from the stored position (start-plan.ts),
 * copy with snapshot-reader.ts, then stream with stream-reader.ts. Both hand records to Kafka
 * through record-router.ts and store the position (source-position.ts) only behind what Kafka
 * acknowledged (source-session.ts).
 */
export class MongoSource {
  private readonly client: MongoClient;
  private readonly lease: Lease;
  private readonly offsets: OffsetStore;
  private readonly log: Logger;
  private readonly healthKey: string;
  private readonly abort = new AbortController();
  private readonly router: RecordRouter;
  private readonly progress: SourceProgress = { lastSavedAt: 0, lastSaved: null, lastAckedClusterTime: undefined, caughtUp: false, unplaced: 0 };
  private loop: Promise<void> | null = null;
  private reader: StreamReader | null = null;
  private renewTimer: NodeJS.Timeout | null = null;
  private metricsTimer: NodeJS.Timeout | null = null;
  private echo: EchoFilter | null = null;
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
    this.router = new RecordRouter(config, deps.topics, deps.partitions, deps.metrics, this.log, this.valueEncoder);
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
      throw new ChangeflowError(`source "${this.config.name}": format: avro needs a schema registry; set kafka.schemaRegistry.url (or SCHEMA_REGISTRY_URL)`, {
        code: 'CONFIG_INVALID',
      });
    }
    this.report(true, 'starting', 'starting');
    this.metricsTimer = setInterval(() => this.updateGauges(), 1_000);
    this.metricsTimer.unref();
    this.loop = this.run().catch((error: unknown) => this.log.error({ err: errorMessage(error) }, 'source loop ended unexpectedly'));
  }

  async stop(): Promise<void> {
    this.abort.abort(new ChangeflowError('source stopping'));
    await this.reader?.close();
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
            const dependency = failedDependency(error);
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
        const { lastSaved } = this.progress;
        const at = lastSaved ? `; stopped with its position kept (${lastSaved.describe()})` : '; stopped';
        this.report(false, `${fatal.message}${at} until its config changes or the process restarts`, 'failed');
        this.log.error(
          { err: fatal.message, position: lastSaved?.describe() ?? null },
          `source "${this.config.name}" stopped for good (the process and other sources go on): ${fatal.message}`,
        );
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
      if (this.config.skipEchoes) this.echo ??= createEchoFilter(this.client, { sourceName: this.config.name });
      const session = new SourceSession({
        config: this.config,
        client: this.client,
        topics: this.deps.topics,
        metrics: this.deps.metrics,
        log: this.log,
        offsets: this.offsets,
        admin,
        producer,
        encoder: await this.encoderContext(),
        router: this.router,
        echo: this.echo,
        avro: this.deps.avro,
        valueEncoder: this.valueEncoder,
        progress: this.progress,
        signal: this.abort.signal,
        assertLease: () => this.assertLease(),
        report: (ok, detail, state) => this.report(ok, detail, state),
      });
      const reader = (this.reader = new StreamReader(session));

      const stored = await this.offsets.load(admin, this.config.name);
      const plan = planStart(this.config.snapshot, stored);
      this.log.info({ plan: plan.kind, position: stored?.describe() ?? null }, 'source starting');
      let position: SourcePosition;
      switch (plan.kind) {
        case 'latest':
          position = await beginLatest(session);
          break;
        case 'snapshot':
          position = await beginSnapshot(session);
          break;
        case 'resume-snapshot':
        case 'stream':
          position = plan.position;
          break;
      }
      this.report(true, position.inSnapshot ? 'snapshot' : 'streaming');
      for (;;) {
        if (position.inSnapshot) position = await runSnapshot(session, position);
        const end = await reader.streamFrom(position);
        if (end.kind === 'stopped') return;
        position = end.kind === 'reopen' ? end.position : await this.afterHistoryLost(session, end.acked);
      }
    } finally {
      await this.reader?.close();
      this.reader = null;
      await producer.disconnect().catch(() => undefined);
      await admin.disconnect().catch(() => undefined);
    }
  }

  /** The oplog no longer holds the position: fail, skip to now (a gap, logged), or copy again, as `onHistoryLost` says. */
  private async afterHistoryLost(session: SourceSession, acked: SourcePosition): Promise<SourcePosition> {
    const action = onHistoryLost(this.config.onHistoryLost, this.config.snapshot, this.config.name, acked.describe());
    switch (action.kind) {
      case 'fail':
        throw new SourceFatalError(action.message);
      case 'latest':
        this.log.error({ gap: true, lostAfter: acked.describe() }, action.message);
        return beginLatest(session);
      case 'snapshot':
        this.log.warn({ lostAfter: acked.describe() }, `source "${this.config.name}": change history lost; taking a new snapshot (onHistoryLost: snapshot)`);
        return beginSnapshot(session);
    }
  }

  private async encoderContext(): Promise<EncoderContext> {
    let cluster = this.config.cluster;
    if (!cluster) {
      const hello = await this.client
        .db('admin')
        .command({ isMaster: 1 })
        .catch(() => ({}) as Document);
      const setName: unknown = hello['setName'];
      cluster = typeof setName === 'string' ? setName : this.client.options.hosts.map((h) => h.toString()).join(',');
    }
    return { sourceName: this.config.name, cluster, watch: this.config.watch, mode: this.config.jsonMode };
  }

  private updateGauges(): void {
    const source = this.config.name;
    const { lastSavedAt, caughtUp, lastAckedClusterTime } = this.progress;
    this.deps.metrics.checkpointAge.set({ source }, lastSavedAt === 0 ? 0 : (Date.now() - lastSavedAt) / 1000);
    const lag = caughtUp || !lastAckedClusterTime ? 0 : Math.max(0, Date.now() / 1000 - lastAckedClusterTime.t);
    this.deps.metrics.lag.set({ source }, lag);
  }
}
