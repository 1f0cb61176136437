import type { FunctionPool } from '../processors/sandbox/index.js';
import type * as grpc from '@grpc/grpc-js';
import type { AppContext, Component } from '../core/app.js';
import type { AvroCodec } from '../schemas/avro-codec.js';
import type { ControlConfig } from './control-config.js';
import { ownerOfUser } from '../core/health.js';
import type { Logger } from '../core/logger.js';
import { counter, histogram } from '../core/metrics.js';
import type { TriggerController } from '../processors/trigger-definition.js';
import { sinkKinds as registeredSinkKinds } from '../sinks/registry.js';
import type { SinkKind } from '../sinks/sink.js';
import { AutoSources } from './auto-sources.js';
import { TokenAuthenticator } from './auth.js';
import { FunctionService } from './function-service.js';
import { TriggerReconciler, type EnsureSource } from './reconciler.js';
import { storedAdminIds } from './admin-users.js';
import { Scheduler } from './scheduler.js';
import { bindServer, createControlServer, shutdownServer } from './server.js';
import { MetadataStore } from './store.js';
import { capsFor, TenantPolicy } from './tenant-policy.js';
import { TriggerService } from './trigger-service.js';
import type { TrendOptions } from './console-api/pipeline-trend.js';
import type { EventSyncService } from '../connectors/eventsync/service.js';
import { registerConsoleApi } from './console-api/routes.js';
import { registerConsolePages } from './console-api/static.js';

export interface ControlPlaneOptions {
  /** The trigger runtime of this process (the processor component, handed over by app/components.ts); none: triggers are stored but run elsewhere. */
  controller?: (context: AppContext) => TriggerController | undefined;
  /** Sink kinds requests are checked against; default: the sink registry. */
  sinkKinds?: () => readonly SinkKind[];
  /**
   * Starts a source for a DATABASE trigger's namespace when none publishes it yet. Default: a
   * MongoDB source from the trigger's data_source (AutoSources); `false` = never.
   */
  ensureSource?: EnsureSource | false;
  /** Overrides `grpc.host` / `grpc.port` (tests bind port 0). */
  host?: string;
  port?: number;
  resyncMs?: number;
  fallbackPollMs?: number;
  /** Run SCHEDULED triggers' cron timers in this process (default true when a controller is present). */
  scheduler?: boolean;
  /** The service's Avro codec, for the sources it starts (when the service has a schema registry). */
  avro?: AvroCodec;
  /** Where functions are checked and test-run (the service's own, from app/components.ts). Default the process-wide sharedFunctionPool(). */
  functionPool?: () => FunctionPool;
  /** The EventSync services of the process, for the console's EventSync page. */
  eventSync?: () => readonly EventSyncService[];
  /** The console Pipeline page's trend window and sampling interval (tests sample faster). */
  consoleTrend?: TrendOptions;
}

/**
 * The control plane: the gRPC TriggerService and FunctionService over the metadata
 * store, and the reconciler that makes the processors follow the store within seconds.
 */
export class ControlPlane implements Component {
  readonly name = 'control-plane';
  private server: grpc.Server | undefined;
  private reconciler: TriggerReconciler | undefined;
  private scheduler: Scheduler | undefined;
  private autoSources: AutoSources | undefined;
  private boundPort = 0;
  private logger: Logger | undefined;

  constructor(
    private readonly config: ControlConfig,
    private readonly options: ControlPlaneOptions = {},
  ) {}

  /** The port the gRPC server listens on (after start). */
  get port(): number {
    return this.boundPort;
  }

  get address(): string {
    return `${this.options.host ?? this.config.grpc.host}:${this.boundPort}`;
  }

  /** For tests: resolves when the reconciler has applied everything it knows of. */
  async settled(): Promise<void> {
    await this.reconciler?.idle();
  }

  async start(context: AppContext): Promise<void> {
    const logger = (this.logger = context.logger.child({ component: this.name }));
    const store = new MetadataStore(context.metadata.db);
    await store.ensureIndexes();
    const sinkKinds = this.options.sinkKinds ?? (() => registeredSinkKinds);
    const auth = new TokenAuthenticator(this.config.auth.tokens, context.metadata.db);
    if (this.config.auth.tokens.length === 0)
      logger.warn("no auth.tokens configured: only tokens in the metadata store's `tokens` collection (sha256) are accepted");
    const policy = TenantPolicy.fromConfig(this.config);
    const db = context.metadata.db;
    const refreshClaims = async (): Promise<void> => policy.setStoredTriggers(await store.claimingTriggers());
    const refreshOwners = async (): Promise<void> => {
      policy.setStoredAdmins(await storedAdminIds(db));
      await refreshClaims();
    };
    const ownerOf = async (userId: string): Promise<{ userId: string; admin: boolean }> => {
      await refreshOwners();
      return policy.ownerOf(userId);
    };
    const triggers = new TriggerService({ store, sinkKinds, policy, ownerOf, refreshClaims });
    // The console's JSON API and pages: the same services and tokens as gRPC, on the service's HTTP server.
    const functions = new FunctionService(store, { caps: capsFor(this.config), ...(this.options.functionPool ? { pool: this.options.functionPool } : {}) });
    registerConsoleApi(context.http, {
      triggers,
      functions,
      policy,
      auth,
      kafka: context.kafka,
      topics: context.topics,
      health: context.health,
      metrics: context.metrics,
      logger,
      metadataDb: context.metadata.db,
      ...(this.options.consoleTrend ? { trend: this.options.consoleTrend } : {}),
      ...(this.options.eventSync ? { eventSync: this.options.eventSync } : {}),
      configTriggers: (this.config.triggers ?? []).flatMap((t) => (t.name && t.source ? [{ name: t.name, source: t.source }] : [])),
    });
    registerConsolePages(context.http);
    this.server = createControlServer({
      triggers,
      functions,
      auth,
      logger,
      calls: counter(context.metrics, 'changeflow_control_calls_total', 'Control-plane gRPC calls by result code', ['service', 'method', 'code']),
      latency: histogram(context.metrics, 'changeflow_control_call_seconds', 'Control-plane gRPC call latency', ['service', 'method']),
    });
    const host = this.options.host ?? this.config.grpc.host;
    this.boundPort = await bindServer(this.server, host, this.options.port ?? this.config.grpc.port);
    logger.info({ address: `${host}:${this.boundPort}` }, 'grpc listening');

    const controller = this.options.controller?.(context);
    if (!controller) {
      logger.warn('no trigger runtime in this process: the API stores triggers, but none run here');
      return;
    }
    if (this.options.scheduler ?? true) {
      this.scheduler = new Scheduler({ kafka: context.kafka, db: context.metadata.db, topics: context.topics, logger });
    }
    const scheduler = this.scheduler;
    let ensureSource = this.options.ensureSource;
    if (ensureSource === undefined) {
      this.autoSources = new AutoSources(context, this.config.sources, this.options.avro);
      ensureSource = this.autoSources.ensure;
    }
    this.reconciler = new TriggerReconciler({
      db: context.metadata.db,
      controller,
      logger,
      health: context.health,
      scheduleTopic: (key) => Scheduler.topic(context.topics, key),
      plan: (doc) => policy.plan(policy.ownerOf(doc.user_id), doc),
      // A user's broken trigger or source is that user's to fix: shown under it, never making the instance unready.
      ownerOf: (userId) => ownerOfUser(userId),
      refreshOwners,
      ...(scheduler ? { schedules: scheduler } : {}),
      ...(ensureSource ? { ensureSource } : {}),
      ...(this.options.resyncMs !== undefined ? { resyncMs: this.options.resyncMs } : {}),
      ...(this.options.fallbackPollMs !== undefined ? { fallbackPollMs: this.options.fallbackPollMs } : {}),
    });
    const reconciler = this.reconciler;
    store.onWrite = (collection, id) => reconciler.touch(collection, id);
    await reconciler.start();
  }

  async stop(): Promise<void> {
    await this.reconciler?.stop();
    await this.scheduler?.stop();
    await this.autoSources?.stop();
    if (this.server) await shutdownServer(this.server);
    this.logger?.info('stopped');
    this.reconciler = undefined;
    this.scheduler = undefined;
    this.autoSources = undefined;
    this.server = undefined;
  }
}

export function createControlPlane(config: ControlConfig, options: ControlPlaneOptions = {}): ControlPlane {
  return new ControlPlane(config, options);
}
