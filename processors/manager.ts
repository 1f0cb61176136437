import type { FunctionPool } from './sandbox/index.js';
import type { AppContext, Component } from '../core/app.js';
import { errorMessage, ValidationError, InternalError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { AvroCodec } from '../schemas/avro-codec.js';
import { ProcessorMetrics, type TriggerStats } from './metrics.js';
import { matchingTopics, subscriptionFor } from './source-topics.js';
import type { TriggerController, TriggerControllerOptions, TriggerDefinition } from './trigger-definition.js';
import { consumerGroupOf, TriggerRuntime, type RuntimeContext } from './trigger-runtime.js';
import { availableSinkKinds, checkTriggerSinks } from './trigger-sinks.js';

export interface ProcessorManagerOptions extends TriggerControllerOptions {
  /** How often database-wide triggers (`source: { db }`) look for new collection topics. Default 30 s; 0 = never. */
  topicRefreshMs?: number;
  /** Worker threads functions run in (the service's own, from app/components.ts). Default the process-wide sharedFunctionPool(). */
  functionPool?: () => FunctionPool;
  /** Partitions of one trigger processed at the same time (each keeps its order). Default 4. */
  partitionConcurrency?: number;
  /** How long stopping a trigger waits for a batch in flight. Default 10 s. */
  stopTimeoutMs?: number;
  /** Consumer group session timeout (how soon a crashed process's partitions move on). Default `kafka.sessionTimeoutMs`. */
  sessionTimeoutMs?: number;
  /** Decodes Avro records and encodes Avro sink output; given by the service when it has a schema registry. */
  avro?: AvroCodec;
}

/** What the processor knows about one trigger. */
export interface TriggerStatus {
  key: string;
  enabled: boolean;
  running: boolean;
  consumerGroup: string;
  topics: string[];
  stats: TriggerStats | undefined;
}

/**
 * Runs every trigger's consumer: starts the triggers of changeflow.yaml with the app and lets the
 * control plane apply, change and remove triggers while it runs. Each trigger is its own consumer
 * group, so starting, restarting or stopping one never disturbs the others. Calls for one key are
 * handled one after another.
 */
export class ProcessorManager implements Component, TriggerController {
  readonly name = 'processors';
  private context: RuntimeContext | undefined;
  private log: Logger | undefined;
  private metrics: ProcessorMetrics | undefined;
  private readonly definitions = new Map<string, { definition: TriggerDefinition; fingerprint: string }>();
  private readonly runtimes = new Map<string, TriggerRuntime>();
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly where = new Map<string, string>();
  private refreshTimer: NodeJS.Timeout | undefined;
  private readonly sinkKinds;

  constructor(
    private readonly initial: readonly TriggerDefinition[] = [],
    private readonly options: ProcessorManagerOptions = {},
  ) {
    this.sinkKinds = availableSinkKinds(options.extraSinkKinds);
    initial.forEach((d, i) => this.where.set(d.key, `triggers[${i}]`));
  }

  async start(context: AppContext | RuntimeContext): Promise<void> {
    this.context = this.options.avro ? { ...context, avro: this.options.avro } : context;
    this.log = context.logger.child({ component: 'processors' });
    this.metrics = new ProcessorMetrics(context.metrics);
    // Every sink entry of the file's triggers is checked before anything starts, all problems at once.
    const problems = this.initial.flatMap((d) => checkTriggerSinks(d.sinks, this.sinkKinds, this.whereOf(d.key)).problems);
    if (problems.length > 0) throw new ValidationError(`changeflow.yaml is not valid:\n  - ${problems.join('\n  - ')}`, { code: 'CONFIG_INVALID' });
    try {
      for (const definition of this.initial) await this.apply(definition);
    } catch (error) {
      await this.stop();
      throw error;
    }
    const every = this.options.topicRefreshMs ?? 30_000;
    if (every > 0) {
      this.refreshTimer = setInterval(() => void this.refreshTopics(), every);
      this.refreshTimer.unref();
    }
  }

  async stop(): Promise<void> {
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    this.refreshTimer = undefined;
    const keys = [...this.runtimes.keys()];
    await Promise.all(keys.map((key) => this.serial(key, () => this.stopRuntime(key))));
  }

  apply(definition: TriggerDefinition): Promise<void> {
    return this.serial(definition.key, () => this.applyNow(definition, false));
  }

  remove(key: string): Promise<void> {
    return this.serial(key, async () => {
      await this.stopRuntime(key);
      this.definitions.delete(key);
      this.context?.health.remove(`processor:${key}`);
    });
  }

  running(): string[] {
    return [...this.runtimes.keys()].sort();
  }

  status(key: string): TriggerStatus | undefined {
    const known = this.definitions.get(key);
    if (!known) return undefined;
    const runtime = this.runtimes.get(key);
    return {
      key,
      enabled: known.definition.enabled,
      running: runtime !== undefined,
      consumerGroup: consumerGroupOf(this.requireContext().topics.prefix, key),
      topics: runtime?.topics ?? [],
      stats: this.metricsFor(key).stats,
    };
  }

  private readonly triggerMetrics = new Map<string, ReturnType<ProcessorMetrics['forTrigger']>>();
  private metricsFor(key: string): ReturnType<ProcessorMetrics['forTrigger']> {
    let m = this.triggerMetrics.get(key);
    if (!m) {
      if (!this.metrics) throw new InternalError('the processor component has not started');
      m = this.metrics.forTrigger(key);
      this.triggerMetrics.set(key, m);
    }
    return m;
  }

  private async applyNow(definition: TriggerDefinition, force: boolean): Promise<void> {
    const context = this.requireContext();
    const fingerprint = JSON.stringify(definition);
    const previous = this.definitions.get(definition.key);
    if (!force && previous?.fingerprint === fingerprint && (this.runtimes.has(definition.key) || !definition.enabled)) return;
    await this.stopRuntime(definition.key);
    this.definitions.set(definition.key, { definition, fingerprint });
    if (!definition.enabled) {
      context.health.set(`processor:${definition.key}`, true, 'disabled (consumes nothing; committed offsets kept)', {
        state: 'disabled',
        owner: definition.owner ?? 'instance',
      });
      this.log?.info({ trigger: definition.key }, 'trigger disabled');
      return;
    }
    const runtime = new TriggerRuntime({
      definition,
      context,
      sinkKinds: this.sinkKinds,
      metrics: this.metricsFor(definition.key),
      where: this.whereOf(definition.key),
      ...(this.options.partitionConcurrency === undefined ? {} : { partitionConcurrency: this.options.partitionConcurrency }),
      ...(this.options.stopTimeoutMs === undefined ? {} : { stopTimeoutMs: this.options.stopTimeoutMs }),
      ...(this.options.sessionTimeoutMs === undefined ? {} : { sessionTimeoutMs: this.options.sessionTimeoutMs }),
      ...(this.options.functionPool ? { functionPool: this.options.functionPool } : {}),
    });
    try {
      await runtime.start();
    } catch (error) {
      context.health.set(`processor:${definition.key}`, false, `cannot start: ${errorMessage(error)}`, { owner: definition.owner ?? 'instance' });
      throw error;
    }
    this.runtimes.set(definition.key, runtime);
  }

  private async stopRuntime(key: string): Promise<void> {
    const runtime = this.runtimes.get(key);
    if (!runtime) return;
    this.runtimes.delete(key);
    await runtime.stop();
    this.log?.info({ trigger: key }, 'trigger stopped');
  }

  /** Database-wide triggers restart when a collection topic appears or disappears. */
  private async refreshTopics(): Promise<void> {
    const context = this.context;
    const patterned = [...this.runtimes.values()].filter((r) => !('topic' in r.definition.source) && r.definition.source.coll === undefined);
    if (!context || patterned.length === 0) return;
    const admin = context.kafka.admin();
    try {
      await admin.connect();
      const all = await admin.listTopics();
      for (const runtime of patterned) {
        const now = matchingTopics(subscriptionFor(runtime.definition.source, context.topics), all);
        if (now.join(',') !== runtime.topics.join(',')) {
          this.log?.info({ trigger: runtime.key, topics: now }, 'source topics changed; restarting the trigger');
          await this.serial(runtime.key, () => this.applyNow(runtime.definition, true));
        }
      }
    } catch (error) {
      this.log?.warn({ err: errorMessage(error) }, 'topic refresh failed');
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  private serial<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(key) ?? Promise.resolve();
    const next = previous.then(task, task);
    const settled = next.catch(() => undefined);
    this.queues.set(key, settled);
    void settled.then(() => {
      if (this.queues.get(key) === settled) this.queues.delete(key);
    });
    return next;
  }

  private whereOf(key: string): string {
    return this.where.get(key) ?? `trigger "${key}"`;
  }

  private requireContext(): RuntimeContext {
    if (!this.context) throw new InternalError('the processor component has not started');
    return this.context;
  }
}
