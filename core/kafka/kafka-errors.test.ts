import { KafkaJSConnectionError, KafkaJSNonRetriableError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError } from 'kafkajs';
import { ChangeflowError, InternalError, UnavailableError, dependencyOf, isRetriable } from '../errors.js';
import { fromKafkajs, fromLibrdkafka, guarded, guardedSync, kafkaErrorCode } from './kafka-errors.js';

/** An error as the librdkafka binding builds it (LibrdKafkaError needs the native library). */
function rdError(message: string, code: number, isRetriable = false): Error {
  return Object.assign(new Error(message), { code, isRetriable, origin: code < -1 ? 'local' : 'kafka' });
}

describe('fromKafkajs', () => {
  it('keeps a retriable KafkaJS error retriable, as an UnavailableError naming Kafka, with the original as cause', () => {
    const original = new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9092');
    const error = fromKafkajs(original, 'produce');
    expect(error).toBeInstanceOf(UnavailableError);
    expect(error.retriable).toBe(true);
    expect(error.cause).toBe(original);
    expect(error.code).toBe('KAFKA_PRODUCE');
    expect(error.dependency).toBe('Kafka');
    expect(error.message).toBe('Kafka produce failed: Connection error: connect ECONNREFUSED 127.0.0.1:9092');
  });

  it('keeps a non-retriable KafkaJS error non-retriable, its type still reachable through the cause', () => {
    const original = new KafkaJSProtocolError(
      Object.assign(new Error('The request included a message larger than the max message size'), { type: 'MESSAGE_TOO_LARGE', code: 10, retriable: false }),
    );
    const error = fromKafkajs(original, 'produce');
    expect(error).toBeInstanceOf(ChangeflowError);
    expect(error).not.toBeInstanceOf(UnavailableError);
    expect(isRetriable(error)).toBe(false);
    expect(error.cause).toBe(original);
    expect((error.cause as { type?: unknown }).type).toBe('MESSAGE_TOO_LARGE');
    expect(dependencyOf(error)).toBe('Kafka');
  });

  it("keeps retrying when KafkaJS's own retries ran out: the broker was only down for longer than its budget", () => {
    const exhausted = new KafkaJSNumberOfRetriesExceeded(new KafkaJSConnectionError('broker down'), { retryCount: 8, retryTime: 10_000 });
    expect(fromKafkajs(exhausted, 'connect').retriable).toBe(true);
    expect(fromKafkajs(exhausted, 'connect').dependency).toBe('Kafka');
    expect(fromKafkajs(new KafkaJSNonRetriableError('nope'), 'commit').code).toBe('KAFKA_COMMIT');
  });
});

describe('fromLibrdkafka', () => {
  it('keeps an error the binding marks retriable, and one whose code is known to pass, retriable', () => {
    const marked = rdError('Broker: Not coordinator', 16, true);
    const transport = rdError('Local: Broker transport failure', -195);
    for (const [original, operation] of [
      [marked, 'commit'],
      [transport, 'list topics'],
    ] as const) {
      const error = fromLibrdkafka(original, operation);
      expect(error).toBeInstanceOf(UnavailableError);
      expect(error.retriable).toBe(true);
      expect(error.cause).toBe(original);
      expect(error.dependency).toBe('Kafka');
    }
    expect(fromLibrdkafka(transport, 'list topics').code).toBe('KAFKA_LIST_TOPICS');
  });

  it('keeps a non-retriable librdkafka error non-retriable, its numeric code on the cause', () => {
    const original = rdError('Broker: Message size too large', 10);
    const error = fromLibrdkafka(original, 'produce');
    expect(error).toBeInstanceOf(ChangeflowError);
    expect(error.retriable).toBe(false);
    expect(error.cause).toBe(original);
    expect((error.cause as { code?: unknown }).code).toBe(10);
    expect(error.message).toBe('Kafka produce failed: Broker: Message size too large');
  });
});

describe('guarded calls', () => {
  it('classifies what a call rejects with or throws, and lets changeflow errors through as they are', async () => {
    await expect(guarded(fromLibrdkafka, 'commit', () => Promise.reject(rdError('Broker: Rebalance in progress', 27)))).rejects.toMatchObject({
      retriable: true,
      code: 'KAFKA_COMMIT',
    });
    expect(() =>
      guardedSync(fromKafkajs, 'seek', () => {
        throw new KafkaJSNonRetriableError('Consumer group was not initialized');
      }),
    ).toThrow(expect.objectContaining({ retriable: false, code: 'KAFKA_SEEK', dependency: 'Kafka' }) as Error);
    const ours = new InternalError('Kafka admin is not connected; call connect() first');
    await expect(guarded(fromKafkajs, 'list topics', () => Promise.reject(ours))).rejects.toBe(ours);
  });

  it('names codes after the operation', () => {
    expect(kafkaErrorCode('list group offsets')).toBe('KAFKA_LIST_GROUP_OFFSETS');
  });
});
