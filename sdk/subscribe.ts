import type { Document } from '../schemas/bson.js';
import { errorMessage, ValidationError, toError, ChangeflowError } from '../core/errors.js';
import { createKafkaTransport, type Headers } from '../core/kafka/index.js';
import { retry } from '../core/retry.js';
import type { ChangeOperation } from '../schemas/envelope.js';
import { decodeChangeEvent, type DecodedChangeEvent } from './decode.js';

export interface SubscribeOptions {
  /** Kafka bootstrap servers, e.g. `["127.0.0.1:9092"]` or `"host1:9092,host2:9092"`. */
  brokers: string[] | string;
  /** Your consumer group: processes with the same group share the partitions; progress is kept per group. */
  groupId: string;
  /** A MongoDB namespace (topic `<topicPrefix>.<db>.<coll>`) ... */
  ns?: { db: string; coll: string };
  /** ... or a topic name. */
  topic?: string;
  /** Operation types to receive (default: all). */
  ops?: readonly ChangeOperation[];
  /** Topic prefix of the changeflow installation. Default `changeflow`. */
  topicPrefix?: string;
  /** Where a new group starts: the oldest retained event (default) or only new ones. */
  fromBeginning?: boolean;
  /** Keep Int32 / Long / Double as BSON classes instead of JS numbers. */
  exactNumbers?: boolean;
  /** Calls of a failing handler per event before the subscription stops. Default 5. */
  attempts?: number;
  /** Called for a record that is not a changeflow event (it is skipped). Default: skipped silently. */
  onInvalid?: (error: Error, meta: EventMeta) => void;
  clientId?: string;
}

/** Where an event came from in Kafka. */
export interface EventMeta {
  topic: string;
  partition: number;
  offset: string;
  /** Canonical Extended JSON of the document key. */
  key: string | null;
  headers: Headers;
}

export type ChangeHandler<TDoc extends Document> = (event: DecodedChangeEvent<TDoc>, meta: EventMeta) => Promise<void> | void;

export interface Subscription {
  /** The topic read. */
  readonly topic: string;
  /** Stops consuming; progress up to the last handled event is kept. */
  stop(): Promise<void>;
  /** Rejects when the subscription stops on its own (a handler kept failing); resolves after stop(). */
  readonly closed: Promise<void>;
}

function topicOf(options: SubscribeOptions): string {
  if (options.topic && options.ns) throw new TypeError('subscribe: give either ns or topic, not both');
  if (options.topic) return options.topic;
  if (options.ns) return `${options.topicPrefix ?? 'changeflow'}.${options.ns.db}.${options.ns.coll}`;
  throw new TypeError('subscribe: give ns ({ db, coll }) or topic');
}

/**
 * Consumes a changeflow topic without running changeflow: each event is decoded (EJSON back to BSON
 * types) and passed to `handler`, one at a time in per-document order. Progress is committed after
 * the handler resolved, so delivery is at-least-once: deduplicate on `event.id` if repeats matter.
 * A handler that throws is retried with backoff; after `attempts` failures the subscription stops
 * without committing that event (`closed` rejects), so nothing is skipped silently.
 */
export async function subscribe<TDoc extends Document = Document>(options: SubscribeOptions, handler: ChangeHandler<TDoc>): Promise<Subscription> {
  const topic = topicOf(options);
  const brokers = Array.isArray(options.brokers)
    ? options.brokers
    : options.brokers
        .split(',')
        .map((b) => b.trim())
        .filter(Boolean);
  const ops = options.ops && options.ops.length > 0 ? new Set<string>(options.ops) : undefined;
  const kafka = createKafkaTransport('kafkajs', { brokers, clientId: options.clientId ?? `changeflow-sdk-${options.groupId}` });
  const consumer = kafka.consumer({ groupId: options.groupId, fromBeginning: options.fromBeginning ?? true });
  const stopping = new AbortController();
  let settle: { resolve: () => void; reject: (error: Error) => void } = { resolve: () => undefined, reject: () => undefined };
  const closed = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  closed.catch(() => undefined);
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    stopping.abort();
    await consumer.disconnect();
  };

  const wanted = (op: string | undefined): boolean => !ops || op === undefined || ops.has(op);
  const decode = (value: Buffer | null, meta: EventMeta): DecodedChangeEvent<TDoc> | undefined => {
    try {
      if (!value) throw new ValidationError('record has no value');
      return decodeChangeEvent<TDoc>(value, { exactNumbers: options.exactNumbers ?? false });
    } catch (error) {
      options.onInvalid?.(toError(error), meta);
      return undefined;
    }
  };

  await consumer.connect();
  await consumer.subscribe([topic]);
  await consumer.run(async (batch, ctx) => {
    let done: string | undefined;
    const commit = async (): Promise<void> => {
      if (done !== undefined) await consumer.commit([{ topic: batch.topic, partition: batch.partition, offset: String(Number(done) + 1) }]);
    };
    for (const record of batch.records) {
      if (ctx.isStale() || stopping.signal.aborted) break;
      const meta: EventMeta = {
        topic: record.topic,
        partition: record.partition,
        offset: record.offset,
        key: record.key?.toString('utf8') ?? null,
        headers: record.headers,
      };
      const event = wanted(record.headers['op']) ? decode(record.value, meta) : undefined;
      if (event && wanted(event.op)) {
        try {
          await retry(() => Promise.resolve(handler(event, meta)), {
            attempts: options.attempts ?? 5,
            initialDelayMs: 200,
            maxDelayMs: 5_000,
            shouldRetry: () => !stopping.signal.aborted,
            signal: stopping.signal,
          });
        } catch (error) {
          if (stopping.signal.aborted) break;
          await commit();
          const reason = new ChangeflowError(
            `handler failed on ${record.topic}:${record.partition}:${record.offset} (event ${event.id}): ${errorMessage(error)}`,
            { cause: error },
          );
          void stop().then(() => settle.reject(reason));
          return;
        }
      }
      done = record.offset;
      await ctx.heartbeat();
    }
    await commit();
  });

  return {
    topic,
    closed,
    stop: async () => {
      await stop();
      settle.resolve();
    },
  };
}
