import type { ChangeStream, Db } from 'mongodb';
import { errorMessage } from '../core/errors.js';
import type { Health } from '../core/health.js';
import type { Logger } from '../core/logger.js';
import { backoffDelay, sleep } from '../core/retry.js';
import type { TriggerController, TriggerDefinition } from '../processors/trigger-definition.js';
import { isRunnable, toDefinition, type DefinitionOptions } from './definition.js';
import { FUNCTIONS, TRIGGERS, type FunctionDoc, type TriggerDoc } from './documents.js';
import type { ScheduleTable } from './scheduler.js';

/** Called before a DATABASE trigger is applied, so a source for its namespace can be started (sources are built elsewhere). */
export type EnsureSource = (need: { dataSource: string; db: string; coll?: string; triggerKey: string; source?: { name: string; topic: string } }) => Promise<void>;

export interface ReconcilerOptions extends DefinitionOptions {
  db: Db;
  controller: TriggerController;
  logger: Logger;
  health?: Health;
  /** Full resync period while the change streams are healthy (a safety net). Default 30 s. */
  resyncMs?: number;
  /** Resync period while a change stream is down (the 5-second promise then rests on this). Default 2 s. */
  fallbackPollMs?: number;
  ensureSource?: EnsureSource;
  /** Runs the cron timers of SCHEDULED triggers (without it they are applied but never fire). */
  schedules?: ScheduleTable;
  /** Delay before a trigger that failed to apply is tried again. Default 5 s. */
  retryMs?: number;
  /** Called before each pass: reloads what the plan depends on (admins from the `tokens` collection). */
  refreshOwners?: () => Promise<void>;
  /** Called after each pass, for tests and metrics. */
  onPass?: (applied: number, removed: number) => void;
}

interface Applied {
  key: string;
  fingerprint: string;
}

const HEALTH = 'control-plane.reconciler';
const FAILING_HEALTH = 'control-plane.triggers';

/**
 * Keeps the processors' running triggers equal to the `triggers` collection. Change streams on
 * `triggers` and `functions` mark what changed; one loop at a time turns marks into
 * `controller.apply` / `controller.remove` calls, and only for triggers whose definition actually
 * changed, so other triggers are never touched. A full pass runs at start, after a change stream
 * breaks, and periodically, so a missed event is repaired.
 */
export class TriggerReconciler {
  private readonly applied = new Map<string, Applied>();
  private readonly dirtyTriggers = new Set<string>();
  private readonly dirtyFunctions = new Set<string>();
  private fullPass = true;
  private draining: Promise<void> | undefined;
  private readonly streams: ChangeStream[] = [];
  private streamsHealthy = 0;
  private timer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly failing = new Map<string, string>();
  private stopped = false;
  private readonly abort = new AbortController();

  constructor(private readonly options: ReconcilerOptions) {}

  async start(): Promise<void> {
    for (const collection of [TRIGGERS, FUNCTIONS] as const) void this.follow(collection);
    this.kick();
    await this.idle();
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    if (this.timer) clearTimeout(this.timer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await Promise.all(this.streams.map((s) => s.close().catch(() => undefined)));
    await this.draining?.catch(() => undefined);
  }

  /** Resolves when no pass is running and nothing is waiting. */
  async idle(): Promise<void> {
    while (this.draining) await this.draining.catch(() => undefined);
  }

  /** Marks a document as changed (a write made by this process): reconciled now, without waiting for the change stream. */
  touch(collection: 'triggers' | 'functions', id: string): void {
    if (collection === TRIGGERS) this.dirtyTriggers.add(id);
    else this.dirtyFunctions.add(id);
    this.kick();
  }

  /** Keys this reconciler has handed to the controller, by trigger id. */
  appliedKeys(): Map<string, string> {
    return new Map([...this.applied].map(([id, a]) => [id, a.key]));
  }

  /** Restarts the periodic pass with the period that fits the streams' health now. */
  private reschedule(): void {
    if (!this.timer || this.stopped) return;
    clearTimeout(this.timer);
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    const period = this.streamsHealthy === 2 ? (this.options.resyncMs ?? 30_000) : (this.options.fallbackPollMs ?? 2_000);
    this.timer = setTimeout(() => {
      this.fullPass = true;
      this.kick();
      this.schedule();
    }, period);
    this.timer.unref();
  }

  private kick(): void {
    if (this.stopped || this.draining) return;
    this.draining = this.drain().finally(() => {
      this.draining = undefined;
      if (this.fullPass || this.dirtyTriggers.size > 0 || this.dirtyFunctions.size > 0) this.kick();
    });
  }

  /** Follows one collection's change stream for as long as the reconciler runs, reopening it after errors. */
  private async follow(collection: typeof TRIGGERS | typeof FUNCTIONS): Promise<void> {
    const { logger } = this.options;
    for (let attempt = 1; !this.stopped; attempt++) {
      let stream: ChangeStream | undefined;
      let counted = false;
      try {
        stream = this.options.db.collection(collection).watch([], { fullDocument: 'updateLookup' });
        this.streams.push(stream);
        const handle = (change: unknown): void => {
          const id = changedId(change);
          logger.debug({ collection, id: id ?? null }, 'metadata change');
          if (id === undefined) this.markAll();
          else if (collection === TRIGGERS) this.dirtyTriggers.add(id);
          else this.dirtyFunctions.add(id);
          this.kick();
        };
        // tryNext opens the cursor; whatever changed before it was open is found by a full pass.
        const first = await stream.tryNext();
        this.streamsHealthy++;
        counted = true;
        this.reschedule();
        this.markAll();
        if (first) handle(first);
        for await (const change of stream) {
          attempt = 1;
          handle(change);
        }
      } catch (error) {
        if (this.stopped) return;
        logger.warn({ collection, err: errorMessage(error) }, 'metadata change stream failed; polling until it is back');
      } finally {
        if (counted) {
          this.streamsHealthy--;
          this.reschedule();
        }
        if (stream) {
          this.streams.splice(this.streams.indexOf(stream), 1);
          await stream.close().catch(() => undefined);
        }
      }
      if (this.stopped) return;
      this.markAll();
      await sleep(backoffDelay(attempt, { initialDelayMs: 500, maxDelayMs: 30_000, jitter: 0.2, factor: 2 }), this.abort.signal).catch(() => undefined);
    }
  }

  private markAll(): void {
    this.fullPass = true;
    this.kick();
  }

  private async drain(): Promise<void> {
    const { health, logger } = this.options;
    const started = performance.now();
    const full = this.fullPass;
    try {
      await this.options.refreshOwners?.();
      if (this.fullPass) {
        this.fullPass = false;
        this.dirtyTriggers.clear();
        this.dirtyFunctions.clear();
        await this.passAll();
      } else {
        const triggerIds = [...this.dirtyTriggers];
        const functionIds = [...this.dirtyFunctions];
        this.dirtyTriggers.clear();
        this.dirtyFunctions.clear();
        await this.passSome(triggerIds, functionIds);
      }
      health?.set(HEALTH, true);
      logger.debug({ full, ms: Math.round(performance.now() - started) }, 'reconcile pass done');
    } catch (error) {
      // The store is unreachable or the controller failed: try everything again on the next tick.
      this.fullPass = true;
      logger.error({ err: errorMessage(error) }, 'trigger reconciliation failed; retrying');
      health?.set(HEALTH, false, `reconciling triggers failed: ${errorMessage(error)}`);
      await sleep(1_000, this.abort.signal).catch(() => undefined);
    }
  }

  private async passAll(): Promise<void> {
    const db = this.options.db;
    const [triggers, functions] = await Promise.all([db.collection<TriggerDoc>(TRIGGERS).find({}).toArray(), db.collection<FunctionDoc>(FUNCTIONS).find({}).toArray()]);
    const byId = new Map(functions.map((f) => [f._id, f]));
    let applied = 0;
    let removed = 0;
    const seen = new Set<string>();
    for (const doc of triggers) {
      seen.add(doc._id);
      if (await this.reconcileSafely(doc, doc.function_id ? byId.get(doc.function_id) : undefined)) applied++;
    }
    for (const id of [...this.applied.keys()]) {
      if (!seen.has(id)) {
        await this.forget(id);
        removed++;
      }
    }
    for (const id of [...this.failing.keys()]) if (!seen.has(id)) this.failing.delete(id);
    this.reportFailures();
    this.options.onPass?.(applied, removed);
  }

  private async passSome(triggerIds: readonly string[], functionIds: readonly string[]): Promise<void> {
    const db = this.options.db;
    const triggers = db.collection<TriggerDoc>(TRIGGERS);
    const ids = new Set(triggerIds);
    if (functionIds.length > 0) {
      for (const t of await triggers.find({ function_id: { $in: [...functionIds] } }, { projection: { _id: 1 } }).toArray()) ids.add(t._id);
    }
    let applied = 0;
    let removed = 0;
    for (const id of ids) {
      const doc = await triggers.findOne({ _id: id });
      if (!doc) {
        if (this.failing.delete(id)) this.reportFailures();
        if (this.applied.has(id)) {
          await this.forget(id);
          removed++;
        }
        continue;
      }
      const fn = doc.function_id ? await db.collection<FunctionDoc>(FUNCTIONS).findOne({ _id: doc.function_id }) : null;
      if (await this.reconcileSafely(doc, fn ?? undefined)) applied++;
    }
    this.options.onPass?.(applied, removed);
  }

  /**
   * One trigger's failure (its sinks refused by the processor, its source not startable) must not hold
   * back the others: it is logged, reported in health, and retried by a full pass a few seconds later.
   */
  private async reconcileSafely(doc: TriggerDoc, fn: FunctionDoc | undefined): Promise<boolean> {
    try {
      const changed = await this.reconcile(doc, fn);
      if (this.failing.delete(doc._id)) this.reportFailures();
      return changed;
    } catch (error) {
      this.failing.set(doc._id, `${doc.user_id}/${doc.name}: ${errorMessage(error)}`);
      this.options.logger.error({ trigger: doc._id, name: doc.name, user: doc.user_id, err: errorMessage(error) }, 'applying trigger failed; retrying');
      this.reportFailures();
      this.retrySoon();
      return false;
    }
  }

  private reportFailures(): void {
    const detail = [...this.failing.values()].slice(0, 5).join('; ');
    this.options.health?.set(FAILING_HEALTH, this.failing.size === 0, this.failing.size === 0 ? undefined : `${this.failing.size} trigger(s) cannot be applied: ${detail}`);
  }

  private retrySoon(): void {
    if (this.retryTimer || this.stopped) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.markAll();
    }, this.options.retryMs ?? 5_000);
    this.retryTimer.unref();
  }

  /** Applies the trigger if its definition changed since last applied; returns whether it called the controller. */
  private async reconcile(doc: TriggerDoc, fn: FunctionDoc | undefined): Promise<boolean> {
    const { controller, logger } = this.options;
    const result = toDefinition(doc, fn, this.options);
    let definition: TriggerDefinition;
    if (isRunnable(result)) definition = result;
    else {
      const previous = this.applied.get(doc._id);
      if (!previous) {
        logger.warn({ trigger: doc._id, name: doc.name, user: doc.user_id }, `trigger cannot run: ${result.reason}`);
        this.applied.set(doc._id, { key: '', fingerprint: `not-runnable:${result.reason}` });
        return false;
      }
      if (previous.fingerprint === `not-runnable:${result.reason}`) return false;
      logger.warn({ trigger: doc._id, name: doc.name }, `trigger stopped: ${result.reason}`);
      if (previous.key) await controller.remove(previous.key);
      this.applied.set(doc._id, { key: '', fingerprint: `not-runnable:${result.reason}` });
      return true;
    }
    const fingerprint = JSON.stringify(definition);
    if (this.applied.get(doc._id)?.fingerprint === fingerprint) return false;
    if (definition.enabled && doc.config.database && !doc.config.database.topic && this.options.ensureSource) {
      const db = doc.config.database;
      const plan = this.options.plan?.(doc);
      const own = plan && 'sinks' in plan ? plan.ownSource : undefined;
      await this.options.ensureSource({ dataSource: db.data_source, db: db.database, ...(db.collection ? { coll: db.collection } : {}), triggerKey: definition.key, ...(own ? { source: own } : {}) });
    }
    if (doc.config.scheduled) await this.options.schedules?.set(definition.key, doc.name, definition.enabled ? doc.config.scheduled.schedule : undefined);
    await controller.apply(definition);
    this.applied.set(doc._id, { key: definition.key, fingerprint });
    logger.info({ trigger: definition.key, enabled: definition.enabled }, 'trigger applied');
    return true;
  }

  private async forget(id: string): Promise<void> {
    const previous = this.applied.get(id);
    if (previous?.key) {
      this.options.schedules?.delete(previous.key);
      await this.options.controller.remove(previous.key);
      this.options.logger.info({ trigger: previous.key }, 'trigger removed');
    }
    this.applied.delete(id);
    if (this.failing.delete(id)) this.reportFailures();
  }
}

/** The changed document's `_id`, when the event says it (mongo-java-server puts the update spec in documentKey; fullDocument then helps). */
function changedId(change: unknown): string | undefined {
  const c = change as { documentKey?: { _id?: unknown }; fullDocument?: { _id?: unknown } | null };
  const id = c.documentKey?._id ?? c.fullDocument?._id;
  return typeof id === 'string' ? id : undefined;
}
