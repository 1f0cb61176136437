import { randomUUID } from 'node:crypto';
import type { Db } from 'mongodb';
import { errorMessage } from '../../core/errors.js';
import type { Producer } from '../../core/kafka/index.js';
import type { Logger } from '../../core/logger.js';
import { retry, sleep } from '../../core/retry.js';
import { serviceCollections, serviceSlug, type EventSyncConfig } from './config.js';
import { buildMessage, encodeMessage, MessageTooLargeError, soloEventBytes, type MessageFrame, type SyncEvent } from './message.js';
import type { EventSyncMetrics } from './metrics.js';
import { EventStore, toSyncEvent, type EventRef } from './store.js';

export type Clock = () => number;

export interface TriggerResult {
  published: boolean;
  eventID?: string;
  events: number;
  /** Kafka records written (more than 1 when the message was split). */
  records?: number;
  /** Why nothing was published: `waiting` (an endpoint has no event), `empty`, `conflict`, `lost`, `rejected`. */
  reason?: 'waiting' | 'empty' | 'conflict' | 'lost' | 'rejected';
  missing?: string[];
  error?: string;
}

export interface EventSyncServiceOptions {
  config: EventSyncConfig;
  db: Db;
  producer: Producer;
  logger: Logger;
  metrics: EventSyncMetrics;
  /** Identifies this process in claims; another instance takes over its expired claims. */
  instanceId: string;
  clock?: Clock;
  /** Told when a trigger run fails (false) and when a message is published again (true): feeds /healthz. */
  onHealth?: (ok: boolean, detail?: string) => void;
}

/**
 * One EventSync service: stores events and runs the trigger. A run claims the eligible events
 * (conditional updateMany + read-back), fixes the claimed set in a claim document, publishes, and
 * only then flags the events exported — so a crash repeats a message (same eventID) instead of losing it.
 */
export class EventSyncService {
  readonly config: EventSyncConfig;
  readonly store: EventStore;
  readonly slug: string;
  readonly eventKeys: readonly string[];
  private readonly producer: Producer;
  private readonly logger: Logger;
  private readonly metrics: EventSyncMetrics;
  private readonly instanceId: string;
  private readonly clock: Clock;
  private readonly leaseMs: number;
  private evaluating: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private recoveryTimer: NodeJS.Timeout | null = null;
  private recovering: Promise<void> | null = null;
  private readonly onHealth: ((ok: boolean, detail?: string) => void) | undefined;

  constructor(options: EventSyncServiceOptions) {
    this.config = options.config;
    this.slug = serviceSlug(options.config.serviceName);
    this.store = new EventStore(options.db, serviceCollections(options.config));
    this.eventKeys = options.config.endpoints.map((e) => e.eventKey);
    this.producer = options.producer;
    this.logger = options.logger.child({ eventsync: options.config.serviceName });
    this.metrics = options.metrics;
    this.instanceId = options.instanceId;
    this.clock = options.clock ?? Date.now;
    this.leaseMs = options.config.claimLeaseMs;
    this.onHealth = options.onHealth;
  }

  async start(): Promise<void> {
    await this.store.init();
    await this.recover();
    const every = Math.max(100, Math.floor(this.leaseMs / 2));
    this.recoveryTimer = setInterval(() => {
      if (!this.recovering) this.recovering = this.recover().finally(() => (this.recovering = null));
    }, every);
    this.recoveryTimer.unref();
    // Events may have arrived while no instance was running.
    if (this.config.trigger.type === 'window') this.requestEvaluation();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.recoveryTimer) clearInterval(this.recoveryTimer);
    await this.evaluating?.catch(() => undefined);
    await this.recovering?.catch(() => undefined);
  }

  private now(): Date {
    return new Date(this.clock());
  }

  private windowStart(): Date {
    return new Date(this.clock() - this.config.trigger.observationPeriod * 1000);
  }

  /** Stores events, then (window trigger) checks whether they complete a sync. */
  async accept(events: readonly SyncEvent[], via: 'http' | 'kafka'): Promise<number> {
    const inserted = await this.store.insert(events);
    for (const e of events) this.metrics.accepted.inc({ service: this.config.serviceName, event_key: e.eventKey, via });
    if (this.config.trigger.type === 'window') this.requestEvaluation();
    return inserted;
  }

  /** A new event (HTTP or Kafka). Returns its stored form. */
  newEvent(
    eventKey: string,
    fields: { headers: Record<string, string[]>; queryParams: Record<string, string[]>; content: string; encoding?: 'base64'; id?: string },
  ): SyncEvent {
    return {
      id: fields.id ?? randomUUID(),
      eventKey,
      datetime: this.now(),
      headers: fields.headers,
      queryParams: fields.queryParams,
      content: fields.content,
      ...(fields.encoding ? { encoding: fields.encoding } : {}),
    };
  }

  private get frame(): MessageFrame {
    return { serviceName: this.config.serviceName, triggerType: this.config.trigger.type, eventKeys: this.eventKeys };
  }

  /**
   * Why an event can never be published (no message, not even a part of a split one, could hold it), or
   * undefined. Refusing such events at intake means a window can always be published.
   */
  oversizedProblem(event: SyncEvent): string | undefined {
    const bytes = soloEventBytes(this.frame, event);
    const max = this.config.target.maxMessageBytes;
    if (bytes <= max) return undefined;
    return `this "${event.eventKey}" event takes ${bytes} bytes in an EventSync message, over target.maxMessageBytes (${max} bytes) of service "${this.config.serviceName}"; send a smaller event, or raise target.maxMessageBytes (and the topic's max.message.bytes)`;
  }

  /**
   * Coalesces window checks: at most one run at a time in this process, and a check requested
   * while one runs causes one more run afterwards, so every event is followed by a check that saw it.
   */
  requestEvaluation(): void {
    if (this.stopped) return;
    if (this.evaluating) {
      this.again = true;
      return;
    }
    this.evaluating = this.evaluateLoop().finally(() => (this.evaluating = null));
  }

  /** Resolves when no window check is running or queued in this process (tests, bench). */
  async idle(): Promise<void> {
    while (this.evaluating) await this.evaluating;
  }

  private async evaluateLoop(): Promise<void> {
    do {
      this.again = false;
      try {
        const result = await this.runTrigger(false);
        if (result.reason === 'conflict') {
          // Another instance holds part of the events: let it finish, then look again.
          this.metrics.conflicts.inc({ service: this.config.serviceName });
          await sleep(10 + Math.random() * 40);
          this.again = true;
        }
      } catch (error) {
        this.logger.error({ err: errorMessage(error) }, 'window trigger failed; will retry on the next event or recovery pass');
        this.onHealth?.(false, `window trigger failed: ${errorMessage(error)}`);
      }
    } while (this.again && !this.stopped);
  }

  /** `GET <prefix>/event/trigger`: publishes every eligible event of the period, whatever the endpoints hold. */
  manualTrigger(): Promise<TriggerResult> {
    return this.runTrigger(true);
  }

  /** Flags every unexported event of the observation period as exported. */
  reset(): Promise<number> {
    return this.store.reset(this.windowStart(), this.now());
  }

  private missingKeys(events: readonly EventRef[]): string[] {
    const present = new Set(events.map((e) => e.eventKey));
    return this.eventKeys.filter((k) => !present.has(k));
  }

  private async runTrigger(manual: boolean): Promise<TriggerResult> {
    const started = this.clock();
    const candidates = await this.store.eligible(this.windowStart());
    const missing = this.missingKeys(candidates);
    if (!manual && missing.length > 0) return { published: false, events: 0, reason: 'waiting', missing };
    if (candidates.length === 0) return { published: false, events: 0, reason: 'empty', missing };

    const claimId = randomUUID();
    const now = this.now();
    await this.store.openClaim({
      _id: claimId,
      state: 'claiming',
      owner: this.instanceId,
      leaseUntil: new Date(now.getTime() + this.leaseMs),
      createdAt: now,
      manual,
      eventIds: [],
    });
    let claimed: EventRef[];
    try {
      claimed = await this.store.claimEvents(
        claimId,
        candidates.map((c) => c._id),
        now,
      );
    } catch (error) {
      await this.undoClaim(claimId).catch(() => undefined);
      throw error;
    }
    const lostSome = claimed.length < candidates.length;
    if (claimed.length === 0 || (!manual && this.missingKeys(claimed).length > 0)) {
      await this.undoClaim(claimId);
      return { published: false, events: 0, reason: lostSome ? 'conflict' : 'empty' };
    }
    const newest = claimed.reduce((max, e) => Math.max(max, e.datetime.getTime()), 0);
    const ids = claimed.map((e) => e._id);
    if (!(await this.store.beginPublishing(claimId, this.instanceId, ids, new Date(this.clock() + this.leaseMs), new Date(newest)))) {
      // Held too long: a recovery pass undid the claim; the events are free again.
      return { published: false, events: 0, reason: 'lost' };
    }
    return this.publishClaim(claimId, ids, manual ? started : newest, manual);
  }

  private async undoClaim(claimId: string): Promise<void> {
    await this.store.releaseEvents(claimId);
    await this.store.closeClaim(claimId, this.instanceId);
  }

  /** Publishes the claimed set, then flags it exported (or frees it: keepEventAfterTrigger), then closes the claim. */
  private async publishClaim(claimId: string, ids: readonly string[], latencyFrom: number, manual: boolean): Promise<TriggerResult> {
    const docs = await this.store.eventsByIds(ids);
    const held = docs.filter((d) => d.claimId === claimId);
    if (held.length === 0 || held.every((d) => d.exported)) {
      // Finished before (crash after flagging, before closing): nothing left to send.
      await this.store.closeClaim(claimId, this.instanceId);
      return { published: false, events: 0, reason: 'empty' };
    }
    // Events stored before the intake check (or with a larger limit then) that no message can hold: rejected
    // one by one, so they never take the rest of the window with them.
    const fitting: SyncEvent[] = [];
    for (const event of held.map(toSyncEvent)) {
      const problem = this.oversizedProblem(event);
      if (!problem) {
        fitting.push(event);
        continue;
      }
      await this.store.markEventsRejected([event.id], this.now(), problem);
      this.logger.error({ eventId: event.id, eventKey: event.eventKey, err: problem }, 'EventSync event rejected: too large for any message');
    }
    if (fitting.length === 0) {
      await this.store.closeClaim(claimId, this.instanceId);
      this.metrics.rejected.inc({ service: this.config.serviceName });
      return { published: false, events: held.length, reason: 'rejected', error: 'every event of this run is larger than target.maxMessageBytes' };
    }
    const message = buildMessage({ ...this.frame, events: fitting, date: this.now() });
    let values: string[];
    try {
      values = encodeMessage(message, this.config.target.maxMessageBytes, this.config.target.oversize);
    } catch (error) {
      if (!(error instanceof MessageTooLargeError)) throw error;
      await this.store.markRejected(claimId, this.now(), error.message);
      await this.store.closeClaim(claimId, this.instanceId);
      this.metrics.rejected.inc({ service: this.config.serviceName });
      this.logger.error({ eventID: message.eventID, err: error.message }, 'EventSync message rejected');
      return { published: false, eventID: message.eventID, events: fitting.length, reason: 'rejected', error: error.message };
    }
    const headers = { 'eventsync-service': this.config.serviceName, 'eventsync-event-id': message.eventID };
    await retry(() => this.producer.send(values.map((value) => ({ topic: this.config.target.topic, key: message.eventID, value, headers }))), {
      attempts: 6,
      initialDelayMs: 200,
      onRetry: (error, attempt) => this.logger.warn({ err: errorMessage(error), attempt }, 'publishing EventSync message failed; retrying'),
    });
    const trigger = manual ? 'manual' : this.config.trigger.type;
    this.metrics.published.inc({ service: this.config.serviceName, trigger });
    this.metrics.parts.inc({ service: this.config.serviceName }, values.length);
    this.metrics.triggerLatency.observe({ service: this.config.serviceName, trigger }, Math.max(0, this.clock() - latencyFrom) / 1000);
    if (this.config.trigger.keepEventAfterTrigger) await this.store.releaseEvents(claimId);
    else await this.store.markExported(claimId, this.now());
    await this.store.closeClaim(claimId, this.instanceId);
    this.onHealth?.(true);
    return { published: true, eventID: message.eventID, events: fitting.length, records: values.length };
  }

  /**
   * Finishes what dead instances left: an expired `publishing` claim is published again (same
   * eventID) and flagged; an expired `claiming` claim, or claimed events without a claim, are freed.
   */
  async recover(): Promise<void> {
    if (this.stopped) return;
    let freed = false;
    try {
      for (const claim of await this.store.expiredClaims(this.now())) {
        if (!(await this.store.takeOver(claim, this.instanceId, new Date(this.clock() + this.leaseMs)))) continue;
        if (claim.state === 'claiming') {
          await this.undoClaim(claim._id);
          freed = true;
          this.metrics.recovered.inc({ service: this.config.serviceName, action: 'released' });
          this.logger.warn({ claimId: claim._id, owner: claim.owner }, 'released events of an unfinished claim');
        } else {
          const result = await this.publishClaim(claim._id, claim.eventIds, claim.newestEventAt?.getTime() ?? claim.createdAt.getTime(), claim.manual);
          this.metrics.recovered.inc({ service: this.config.serviceName, action: 'republished' });
          this.logger.warn(
            { claimId: claim._id, owner: claim.owner, eventID: result.eventID, published: result.published },
            'finished the claim of another instance',
          );
        }
      }
      for (const claimId of await this.store.orphanClaimIds(new Date(this.clock() - 2 * this.leaseMs))) {
        await this.store.releaseEvents(claimId);
        freed = true;
        this.metrics.recovered.inc({ service: this.config.serviceName, action: 'released' });
      }
    } catch (error) {
      this.logger.error({ err: errorMessage(error) }, 'EventSync recovery pass failed; will try again');
      this.onHealth?.(false, `recovery pass failed: ${errorMessage(error)}`);
    }
    if (freed && this.config.trigger.type === 'window') this.requestEvaluation();
  }

  /** Unexported events per endpoint in the observation period. */
  pending(): Promise<Record<string, number>> {
    return this.store.pendingCounts(this.windowStart());
  }
}
