import type { ChangeStream, Db } from 'mongodb';
import { ChangeflowError, dependencyOf, errorMessage } from '../core/errors.js';
import type { Health, HealthOwner } from '../core/health.js';
import type { Logger } from '../core/logger.js';
import { Backoff, backoffDelay, type RetryPolicy } from '../core/retry.js';
import type { TriggerController, TriggerDefinition } from '../processors/trigger-definition.js';
import { isRunnable, toDefinition, type DefinitionOptions } from './definition.js';
import { FUNCTIONS, TRIGGERS, type FunctionDoc, type TriggerDoc } from './documents.js';
import type { ScheduleTable } from './scheduler.js';
import { triggerKey } from './trigger-key.js';

/** Called before a DATABASE trigger is applied, so a source for its namespace can be started (sources are built elsewhere). */
export type EnsureSource = (need: {
  dataSource: string;
  db: string;
  coll?: string;
  triggerKey: string;
  source?: { name: string; topic: string };
  owner?: HealthOwner;
}) => Promise<void>;

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
  /** First delay before a trigger that failed to apply is tried again; it doubles (jittered) per failure. Default 5 s. */
  retryMs?: number;
  /** Longest delay between two attempts at a failing trigger. Default 5 min. */
  maxRetryMs?: number;
  /** Called before each pass: reloads what the plan depends on (admins from the `tokens` collection). */
  refreshOwners?: () => Promise<void>;
  /** Called after each pass, for tests and metrics. */
  onPass?: (applied: number, removed: number) => void;
}

interface Applied {
  key: string;
  fingerprint: string;
  /** The controller runs it (false: stored but not runnable, shown in health only). */
  running: boolean;
}

/** A trigger that could not be applied: what it was made of then, and when (if ever) to try again. */
interface Failure {
  key: string;
  inputs: string;
  reason: string;
  attempt: number;
  /** null: its definition is invalid; not tried again until the trigger or its function changes. */
  retryAt: number | null;
}

const HEALTH = 'control-plane.reconciler';

/** Reopening a metadata change stream after it failed or ended; a change read starts the waits over. */
const STREAM_REOPEN: RetryPolicy = { attempts: Number.POSITIVE_INFINITY, initialDelayMs: 500, maxDelayMs: 30_000, jitter: 0.2, factor: 2 };

/** The next pass after a failed one (the store unreachable): soon, so the 5-second promise holds once it is back. */
const PASS_RETRY: RetryPolicy = { attempts: Number.POSITIVE_INFINITY, initialDelayMs: 1_000, maxDelayMs: 5_000, jitter: 0.2, factor: 2 };

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
  private readonly passBackoff = new Backoff(PASS_RETRY);
  private retryDue: number | undefined;
  private readonly failing = new Map<string, Failure>();
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
    const backoff = new Backoff(STREAM_REOPEN);
    while (!this.stopped) {
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
          backoff.succeeded();
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
      await backoff.wait(this.abort.signal);
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
      this.passBackoff.succeeded();
      logger.debug({ full, ms: Math.round(performance.now() - started) }, 'reconcile pass done');
    } catch (error) {
      // The store is unreachable or the controller failed: try everything again on the next tick.
      this.fullPass = true;
      logger.error({ err: errorMessage(error) }, 'trigger reconciliation failed; retrying');
      health?.set(HEALTH, false, `reconciling triggers failed: ${errorMessage(error)}`);
      await this.passBackoff.wait(this.abort.signal);
    }
  }

  private async passAll(): Promise<void> {
    const db = this.options.db;
    const [triggers, functions] = await Promise.all([
      db.collection<TriggerDoc>(TRIGGERS).find({}).toArray(),
      db.collection<FunctionDoc>(FUNCTIONS).find({}).toArray(),
    ]);
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
    for (const [id, failure] of [...this.failing]) if (!seen.has(id)) this.clearFailure(id, failure);
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
        const failure = this.failing.get(id);
        if (failure) this.clearFailure(id, failure);
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
   * One trigger's failure (its sinks refused by the processor, its function broken, its source not
   * startable) must not hold back the others, nor make the instance unready when a tenant owns it:
   * it is shown in the trigger's own health entry (`processor:<key>`, under its owner), logged once
   * per change of reason, and tried again with jittered backoff up to `maxRetryMs`, or, when the
   * definition itself is invalid, not until the trigger or its function changes.
   */
  private async reconcileSafely(doc: TriggerDoc, fn: FunctionDoc | undefined): Promise<boolean> {
    const inputs = JSON.stringify([doc, fn ?? null]);
    const failure = this.failing.get(doc._id);
    if (failure && failure.inputs === inputs && (failure.retryAt === null || Date.now() < failure.retryAt)) return false;
    try {
      const changed = await this.reconcile(doc, fn);
      if (failure) {
        this.failing.delete(doc._id);
        this.options.logger.info({ trigger: failure.key, after: failure.attempt }, 'trigger applied after failing');
      }
      return changed;
    } catch (error) {
      const key = triggerKey(doc);
      const reason = errorMessage(error);
      // A failed dependency (Kafka, MongoDB, …) is never the trigger's own fault: it is retried, however the client judged it.
      const permanent = error instanceof ChangeflowError && !error.retriable && dependencyOf(error) === undefined;
      const attempt = failure && failure.inputs === inputs ? failure.attempt + 1 : 1;
      const delay = permanent
        ? null
        : backoffDelay(attempt, { initialDelayMs: this.options.retryMs ?? 5_000, maxDelayMs: this.options.maxRetryMs ?? 300_000, jitter: 0.2, factor: 2 });
      this.failing.set(doc._id, { key, inputs, reason, attempt, retryAt: delay === null ? null : Date.now() + delay });
      const then = delay === null ? 'not retried until the trigger or its function changes' : `retrying in ${Math.round(delay / 1000)} s`;
      const fields = { trigger: key, name: doc.name, user: doc.user_id, attempt, err: reason };
      if (failure?.reason !== reason) this.options.logger.error(fields, `applying trigger failed; ${then}`);
      else this.options.logger.debug(fields, `applying trigger failed again; ${then}`);
      this.options.health?.set(`processor:${key}`, false, `cannot be applied: ${reason} (attempt ${attempt}; ${then})`, {
        state: delay === null ? 'failed' : 'retrying',
        owner: this.ownerOf(doc),
      });
      if (delay !== null) this.retryAfter(delay);
      return false;
    }
  }

  private ownerOf(doc: TriggerDoc): HealthOwner {
    return this.options.ownerOf?.(doc.user_id) ?? 'instance';
  }

  private clearFailure(id: string, failure: Failure): void {
    this.failing.delete(id);
    if (!this.applied.get(id)?.running) this.options.health?.remove(`processor:${failure.key}`);
  }

  /** One timer for every failing trigger: a full pass at the earliest retry due (each trigger waits for its own). */
  private retryAfter(delayMs: number): void {
    if (this.stopped) return;
    const due = Date.now() + delayMs;
    if (this.retryTimer && this.retryDue !== undefined && this.retryDue <= due) return;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryDue = due;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.retryDue = undefined;
      this.markAll();
      // Those due now are tried by this pass (and set their own next attempt if they fail again).
      const now = Date.now();
      const later = [...this.failing.values()].flatMap((f) => (f.retryAt !== null && f.retryAt > now ? [f.retryAt] : []));
      if (later.length > 0) this.retryAfter(Math.min(...later) - now);
    }, delayMs);
    this.retryTimer.unref();
  }

  /** Applies the trigger if its definition changed since last applied; returns whether it called the controller. */
  private async reconcile(doc: TriggerDoc, fn: FunctionDoc | undefined): Promise<boolean> {
    const { controller, logger } = this.options;
    const result = toDefinition(doc, fn, this.options);
    let definition: TriggerDefinition;
    if (isRunnable(result)) definition = result;
    else {
      const fingerprint = `not-runnable:${result.reason}`;
      const previous = this.applied.get(doc._id);
      if (previous?.fingerprint === fingerprint) return false;
      const key = triggerKey(doc);
      if (previous?.running) {
        logger.warn({ trigger: previous.key, name: doc.name, user: doc.user_id }, `trigger stopped: ${result.reason}`);
        await controller.remove(previous.key);
      } else {
        logger.warn({ trigger: key, name: doc.name, user: doc.user_id }, `trigger cannot run: ${result.reason}`);
      }
      this.applied.set(doc._id, { key, fingerprint, running: false });
      // Its definition is what is wrong: shown failed in its own entry, not tried again until it changes.
      if (result.inert) this.options.health?.remove(`processor:${key}`);
      else
        this.options.health?.fail(
          `processor:${key}`,
          `cannot run: ${result.reason} (not retried until the trigger or its function changes)`,
          this.ownerOf(doc),
        );
      return previous?.running ?? false;
    }
    const fingerprint = JSON.stringify(definition);
    if (this.applied.get(doc._id)?.fingerprint === fingerprint) return false;
    if (definition.enabled && doc.config.database && !doc.config.database.topic && this.options.ensureSource) {
      const db = doc.config.database;
      const plan = this.options.plan?.(doc);
      const own = plan && 'sinks' in plan ? plan.ownSource : undefined;
      await this.options.ensureSource({
        dataSource: db.data_source,
        db: db.database,
        ...(db.collection ? { coll: db.collection } : {}),
        triggerKey: definition.key,
        ...(own ? { source: own } : {}),
        owner: this.ownerOf(doc),
      });
    }
    if (doc.config.scheduled) await this.options.schedules?.set(definition.key, doc.name, definition.enabled ? doc.config.scheduled.schedule : undefined);
    await controller.apply(definition);
    this.applied.set(doc._id, { key: definition.key, fingerprint, running: true });
    logger.info({ trigger: definition.key, enabled: definition.enabled }, 'trigger applied');
    return true;
  }

  private async forget(id: string): Promise<void> {
    const previous = this.applied.get(id);
    if (previous?.running) {
      this.options.schedules?.delete(previous.key);
      await this.options.controller.remove(previous.key);
      this.options.logger.info({ trigger: previous.key }, 'trigger removed');
    } else if (previous) {
      this.options.health?.remove(`processor:${previous.key}`);
    }
    this.applied.delete(id);
    const failure = this.failing.get(id);
    if (failure) this.clearFailure(id, failure);
  }
}

/** The changed document's `_id`, when the event says it (mongo-java-server puts the update spec in documentKey; fullDocument then helps). */
function changedId(change: unknown): string | undefined {
  const c = change as { documentKey?: { _id?: unknown }; fullDocument?: { _id?: unknown } | null };
  const id = c.documentKey?._id ?? c.fullDocument?._id;
  return typeof id === 'string' ? id : undefined;
}
