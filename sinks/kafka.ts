import { z } from 'zod';
import { ChangeflowError, UnavailableError, errorMessage } from '../core/errors.js';
import type { OutgoingRecord, Producer } from '../core/kafka/transport.js';
import { describeZodError } from '../core/schema-errors.js';
import { SinkWriteError, type Sink, type SinkDependencies, type SinkKind, type SinkRecord } from './sink.js';
import { sinkEntrySchema } from './sink-config.js';
import { SinkStatus } from './sink-status.js';
import { topicGuardSchema, topicRefusal } from './topic-guard.js';
import { InvalidValueError } from '../schemas/value-errors.js';
import { canonicalText, isValidTemplate, renderTemplate, TemplateError, toBson } from '../schemas/values.js';

const topicName = z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, { error: 'a Kafka topic name: letters, digits, ".", "_" and "-"' });

export const kafkaSinkSchema = sinkEntrySchema('kafka', {
  topic: topicName
    .optional()
    .meta({ description: 'Target topic (required for pass-through; the default for actions without `topic`).', example: 'orders.enriched' }),
  key: z.string().min(1).refine(isValidTemplate, { error: 'unbalanced braces: write fields as {documentKey._id}' }).optional().meta({
    description: 'Key template for pass-through events (default: canonical Extended JSON of the documentKey, so a document stays on one partition).',
    example: '{fullDocument.customerId}',
  }),
  headers: z
    .record(z.string(), z.string())
    .default({})
    .meta({ description: 'Headers added to every record.', example: { team: 'billing' } }),
  createTopics: z.boolean().default(true).meta({ description: 'Create missing target topics.' }),
  partitions: z.number().int().positive().optional().meta({ description: 'Partitions of topics this sink creates (default: kafka.partitions).', example: 6 }),
  topicGuard: topicGuardSchema.optional().meta({
    description:
      "Set by the control plane on a tenant's sinks (refused from a tenant): `{ internalPrefix, forbidden, granted }` (topic patterns; internal topics are always refused); a record to a refused topic is rejected (docs/security.md).",
    example: { internalPrefix: 'changeflow', forbidden: ['changeflow.*'], granted: ['changeflow.team-a.*'] },
  }),
});
export type KafkaSinkConfig = z.output<typeof kafkaSinkSchema>;

export const publishActionSchema = z.strictObject({
  sink: z.string(),
  op: z.literal('publish', { error: 'a kafka sink takes op "publish"' }),
  topic: topicName.optional(),
  key: z.string().nullable().optional(),
  value: z.unknown(),
  headers: z.record(z.string(), z.string()).optional(),
});

class KafkaSink implements Sink {
  readonly kind = 'kafka';
  readonly name: string;
  private readonly status: SinkStatus;
  private producer: Promise<Producer> | undefined;
  private readonly ensured = new Set<string>();

  constructor(
    private readonly config: KafkaSinkConfig,
    private readonly dependencies: SinkDependencies,
  ) {
    this.name = config.name;
    this.status = new SinkStatus(dependencies, this.kind, this.name);
  }

  async start(): Promise<void> {
    // A broker that is not reachable at start is the same as one lost later: writes wait and retry.
    try {
      await this.connected();
      if (this.config.topic) await this.ensureTopics([this.config.topic]);
      this.status.ok();
    } catch (error) {
      this.status.failing('Kafka unreachable at start', error);
    }
  }

  async stop(): Promise<void> {
    this.status.remove();
    const producer = this.producer;
    this.producer = undefined;
    await (await producer?.catch(() => undefined))?.disconnect();
  }

  /** The connected producer; one whose connect failed is dropped, so the next write makes a new one. */
  private connected(): Promise<Producer> {
    if (!this.producer) {
      const producer = this.dependencies.context.kafka.producer();
      const attempt = producer.connect().then(
        () => producer,
        async (error: unknown) => {
          if (this.producer === attempt) this.producer = undefined;
          await producer.disconnect().catch(() => undefined);
          throw error;
        },
      );
      this.producer = attempt;
    }
    return this.producer;
  }

  private async ensureTopics(topics: readonly string[]): Promise<void> {
    const missing = [...new Set(topics)].filter((t) => !this.ensured.has(t));
    if (!this.config.createTopics || missing.length === 0) return;
    const admin = this.dependencies.context.kafka.admin();
    await admin.connect();
    try {
      const partitions = this.config.partitions ?? this.dependencies.context.config.kafka.partitions;
      await admin.ensureTopics(missing.map((topic) => ({ topic, partitions })));
    } finally {
      await admin.disconnect();
    }
    for (const t of missing) this.ensured.add(t);
  }

  private recordFor(record: SinkRecord): OutgoingRecord | string {
    const event = record.event;
    if (record.action) {
      const parsed = publishActionSchema.safeParse(record.action);
      if (!parsed.success) return `invalid kafka action: ${describeZodError(parsed.error, 'action').join('; ')}`;
      const action = parsed.data;
      const topic = action.topic ?? this.config.topic;
      if (!topic) return 'action.topic: no topic in the action and none configured on the sink';
      const refused = topicRefusal(topic, this.config.topicGuard);
      if (refused) return `action.topic: ${refused}`;
      const value = typeof action.value === 'string' ? action.value : JSON.stringify(action.value ?? null);
      return { topic, key: action.key ?? null, value, headers: { ...this.config.headers, ...action.headers } };
    }
    if (!this.config.topic) return `kafka sink "${this.name}" needs a topic to republish pass-through events`;
    const refused = topicRefusal(this.config.topic, this.config.topicGuard);
    if (refused) return refused;
    let key: string | null;
    try {
      key = event.documentKey ? canonicalText(toBson(event.documentKey, 'documentKey')) : null;
    } catch (error) {
      if (error instanceof InvalidValueError) return `event ${event.id}: ${error.message}`;
      throw error;
    }
    if (this.config.key) {
      try {
        key = renderTemplate(this.config.key, event);
      } catch (error) {
        if (error instanceof TemplateError) return `event ${event.id}: ${error.message}`;
        throw error;
      }
    }
    const ns = event.ns.coll ? `${event.ns.db}.${event.ns.coll}` : event.ns.db;
    return { topic: this.config.topic, key, value: JSON.stringify(event), headers: { ...this.config.headers, op: event.op, ns, id: event.id } };
  }

  async write(records: readonly SinkRecord[]): Promise<void> {
    const rejected: { index: number; reason: string }[] = [];
    const outgoing: OutgoingRecord[] = [];
    records.forEach((record, index) => {
      const made = this.recordFor(record);
      if (typeof made === 'string') rejected.push({ index, reason: made });
      else outgoing.push(made);
    });
    if (outgoing.length > 0) {
      try {
        const producer = await this.connected();
        await this.ensureTopics(outgoing.map((r) => r.topic));
        // Resolves once the broker acknowledged every record (acks=all): only then may offsets be committed.
        await producer.send(outgoing);
      } catch (error) {
        if (isPermanentKafkaError(error))
          throw new ChangeflowError(`kafka sink "${this.name}": the broker refused the batch: ${errorMessage(error)}`, {
            cause: error,
            retriable: false,
            code: 'SINK_WRITE_REFUSED',
          });
        const wrapped = new UnavailableError(`kafka sink "${this.name}": ${errorMessage(error)}`, { cause: error });
        this.status.failing('publishing failed', wrapped);
        throw wrapped;
      }
    }
    this.status.ok();
    this.status.count('rejected', rejected.length);
    this.status.count('written', outgoing.length);
    if (rejected.length > 0)
      throw new SinkWriteError(`kafka sink "${this.name}": ${rejected.length} records refused (first: ${rejected[0]?.reason ?? ''})`, rejected);
  }
}

/** Broker answers about the records themselves (kafkajs error types, librdkafka codes): no retry changes them. */
const PERMANENT_KAFKA_ERRORS = /MESSAGE_TOO_LARGE|MSG_SIZE_TOO_LARGE|RECORD_LIST_TOO_LARGE|INVALID_RECORD|CORRUPT_MESSAGE|INVALID_TIMESTAMP/;

function isPermanentKafkaError(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; typeof e === 'object' && e !== null && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const { type, code } = e as { type?: unknown; code?: unknown };
    if ((typeof type === 'string' && PERMANENT_KAFKA_ERRORS.test(type)) || (typeof code === 'string' && PERMANENT_KAFKA_ERRORS.test(code))) return true;
  }
  return false;
}

export const kafkaSinkKind: SinkKind<typeof kafkaSinkSchema> = {
  kind: 'kafka',
  description:
    'Publishes to a Kafka topic and acknowledges only after the broker did (acks=all). Without a function the change event is republished (key: the documentKey, headers op/ns/id); ' +
    'function actions: `{ op: "publish", topic?, key?, value, headers? }` (a string value is sent as it is, anything else as JSON).',
  configSchema: kafkaSinkSchema,
  create: (config, dependencies) => new KafkaSink(config, dependencies),
};
