import { ChangeflowError, UnavailableError, errorMessage } from '../errors.js';
import type { RdError } from './librdkafka-binding.js';

/**
 * Every error that leaves the Kafka interface is a ChangeflowError naming Kafka as the dependency, with
 * a code per operation (`KAFKA_PRODUCE`, `KAFKA_LIST_TOPICS`, ...), the client's own error as `cause`,
 * and `retriable` as the client judged it. Retriable ones are UnavailableErrors, as they were before.
 */
export type KafkaOperation =
  | 'connect'
  | 'disconnect'
  | 'produce'
  | 'subscribe'
  | 'run'
  | 'commit'
  | 'pause'
  | 'resume'
  | 'seek'
  | 'create topics'
  | 'list topics'
  | 'delete topics'
  | 'describe topics'
  | 'list offsets'
  | 'list group offsets'
  | 'delete groups'
  | 'describe cluster';

export function kafkaErrorCode(operation: KafkaOperation): string {
  return `KAFKA_${operation.toUpperCase().replaceAll(' ', '_')}`;
}

/** A Kafka failure described by changeflow itself (no partition leaders in time, offsets not known yet). */
export function kafkaFailure(operation: KafkaOperation, message: string, retriable: boolean, cause?: unknown): ChangeflowError {
  const options = { code: kafkaErrorCode(operation), dependency: 'Kafka' as const, ...(cause === undefined ? {} : { cause }) };
  return retriable ? new UnavailableError(message, options) : new ChangeflowError(message, { ...options, retriable: false });
}

function wrapped(error: unknown, operation: KafkaOperation, retriable: boolean): ChangeflowError {
  // Already ours (raised here or by the other client, as librdkafka's admin borrows kafkajs's): kept.
  if (error instanceof ChangeflowError) return error;
  return kafkaFailure(operation, `Kafka ${operation} failed: ${errorMessage(error)}`, retriable, error);
}

/**
 * KafkaJS marks its errors `retriable`. After its own retries run out it throws
 * KafkaJSNumberOfRetriesExceeded, marked not retriable, though all it says is that the broker stayed
 * unreachable for KafkaJS's retry budget (about a minute): an outage that may pass, so it is retriable
 * here, as KafkaJS's own consumer treats it when deciding to restart. A source or a trigger must not
 * stop for good because the broker was down for longer than that.
 */
export function fromKafkajs(error: unknown, operation: KafkaOperation): ChangeflowError {
  const flagged = typeof error === 'object' && error !== null && (error as { retriable?: unknown }).retriable === true;
  const exhausted = error instanceof Error && error.name === 'KafkaJSNumberOfRetriesExceeded';
  return wrapped(error, operation, flagged || exhausted);
}

/**
 * librdkafka codes after which the same request may succeed later, where the binding does not set
 * `isRetriable` itself: local transport, timed out, all brokers down, coordinator moves, leader
 * changes, rebalances.
 */
const RDKAFKA_RETRIABLE_CODES = new Set([-195, -187, -185, -192, 6, 7, 13, 14, 15, 16, 22, 25, 27]);

export function fromLibrdkafka(error: unknown, operation: KafkaOperation): ChangeflowError {
  const rd = error as Partial<RdError> | null;
  const retriable = rd?.isRetriable === true || (typeof rd?.code === 'number' && RDKAFKA_RETRIABLE_CODES.has(rd.code));
  return wrapped(error, operation, retriable);
}

type Classifier = (error: unknown, operation: KafkaOperation) => ChangeflowError;

/** Runs one client call; whatever it throws or rejects with comes out classified. */
export async function guarded<T>(classify: Classifier, operation: KafkaOperation, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw classify(error, operation);
  }
}

/** `guarded` for the synchronous calls (pause, resume, seek). */
export function guardedSync<T>(classify: Classifier, operation: KafkaOperation, call: () => T): T {
  try {
    return call();
  } catch (error) {
    throw classify(error, operation);
  }
}
