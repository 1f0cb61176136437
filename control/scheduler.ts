import { Cron } from 'croner';
import type { Collection, Db } from 'mongodb';
import { errorMessage } from '../core/errors.js';
import type { Admin, KafkaTransport, Producer } from '../core/kafka/index.js';
import type { Logger } from '../core/logger.js';
import type { TopicNames } from '../core/topics.js';
import type { ChangeEvent } from '../schemas/envelope.js';
import { isDuplicateKeyError } from '../core/mongo-errors.js';

/** What the reconciler tells the scheduler: this trigger fires on `schedule`, or (undefined) not at all. */
export interface ScheduleTable {
  set(key: string, name: string, schedule: string | undefined): Promise<void>;
  delete(key: string): void;
}

interface FireClaim {
  _id: string;
  at: Date;
}

export interface SchedulerOptions {
  kafka: KafkaTransport;
  db: Db;
  topics: TopicNames;
  logger: Logger;
}

/**
 * Runs SCHEDULED triggers. Each firing writes one tick event to the trigger's own topic
 * (`<prefix>.__schedule.<key>`), which the trigger's processor consumes like any change feed, so a
 * scheduled function gets the same batching, retries, dead letters and sinks as the rest.
 * With several instances running, a firing is claimed in the `schedule_fires` collection
 * (unique `<key>@<time>`), so only one instance writes the tick.
 */
export class Scheduler implements ScheduleTable {
  private readonly jobs = new Map<string, { schedule: string; cron: Cron }>();
  private readonly claims: Collection<FireClaim>;
  private producer: Producer | undefined;
  private admin: Admin | undefined;
  private indexed = false;

  constructor(private readonly options: SchedulerOptions) {
    this.claims = options.db.collection<FireClaim>('schedule_fires');
  }

  static topic(topics: TopicNames, key: string): string {
    return `${topics.prefix}.__schedule.${key}`;
  }

  async set(key: string, name: string, schedule: string | undefined): Promise<void> {
    const current = this.jobs.get(key);
    if (current && current.schedule === schedule) return;
    this.delete(key);
    if (schedule === undefined) return;
    await this.ensureReady(key);
    const cron = new Cron(schedule, { timezone: 'UTC', protect: true }, () => {
      this.fire(key, name, new Date()).catch((error: unknown) =>
        this.options.logger.error({ trigger: key, err: errorMessage(error) }, 'scheduled trigger failed to fire'),
      );
    });
    this.jobs.set(key, { schedule, cron });
  }

  delete(key: string): void {
    this.jobs.get(key)?.cron.stop();
    this.jobs.delete(key);
  }

  /**
   * Writes one tick for the firing at `now`, rounded to the second (cron's finest unit), unless another
   * instance already claimed that firing. Exposed for tests.
   */
  async fire(key: string, name: string, now: Date): Promise<boolean> {
    const at = new Date(Math.round(now.getTime() / 1000) * 1000);
    const stamp = at.toISOString();
    try {
      await this.claims.insertOne({ _id: `${key}@${stamp}`, at });
    } catch (error) {
      if (isDuplicateKeyError(error)) return false;
      throw error;
    }
    const event: ChangeEvent = {
      v: 1,
      id: `schedule:${key}:${stamp}`,
      op: 'insert',
      ns: { db: '__schedule', coll: name },
      documentKey: { _id: stamp },
      fullDocument: { _id: stamp, trigger: name, scheduledAt: stamp },
      wallTime: new Date().toISOString(),
      source: { name: 'scheduler', cluster: 'changeflow' },
    };
    const producer = await this.connectProducer();
    await producer.send([
      {
        topic: Scheduler.topic(this.options.topics, key),
        key: stamp,
        value: JSON.stringify(event),
        headers: { op: event.op, ns: `__schedule.${name}`, id: event.id },
      },
    ]);
    return true;
  }

  async stop(): Promise<void> {
    for (const key of [...this.jobs.keys()]) this.delete(key);
    await this.producer?.disconnect().catch(() => undefined);
    await this.admin?.disconnect().catch(() => undefined);
    this.producer = undefined;
    this.admin = undefined;
  }

  private async ensureReady(key: string): Promise<void> {
    if (!this.indexed) {
      // Claims only matter for the minute they are about; mongo-java-server ignores the TTL.
      await this.claims.createIndex({ at: 1 }, { expireAfterSeconds: 86_400, name: 'at_ttl' }).catch(() => undefined);
      this.indexed = true;
    }
    if (!this.admin) {
      const admin = this.options.kafka.admin();
      await admin.connect();
      this.admin = admin;
    }
    await this.admin.ensureTopics([{ topic: Scheduler.topic(this.options.topics, key), partitions: 1 }]);
  }

  private async connectProducer(): Promise<Producer> {
    if (!this.producer) {
      const producer = this.options.kafka.producer();
      await producer.connect();
      this.producer = producer;
    }
    return this.producer;
  }
}
