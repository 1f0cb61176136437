import { KafkaJSAggregateError, KafkaJSProtocolError } from 'kafkajs';
import { fromLibrdkafka } from './kafka-errors.js';
import { decodeHeaders, isTopicAlreadyExists, waitForLeaders } from './shared.js';

describe('decodeHeaders', () => {
  it('reads kafkajs headers (an object, a repeated name as an array) and librdkafka headers (a list) alike', () => {
    const fromKafkajs = decodeHeaders({ op: Buffer.from('insert'), ns: 'db.c', id: [Buffer.from('1'), Buffer.from('2')], none: undefined });
    const fromLibrdkafka = decodeHeaders([{ op: Buffer.from('insert') }, { ns: 'db.c' }, { id: Buffer.from('1') }, { id: Buffer.from('2') }]);
    expect(fromKafkajs).toEqual({ op: 'insert', ns: 'db.c', id: '1' });
    expect(fromLibrdkafka).toEqual(fromKafkajs);
    expect(decodeHeaders(undefined)).toEqual({});
  });
});

describe('isTopicAlreadyExists', () => {
  it('knows the answer of either client, wrapped or not', () => {
    const kafkajs = new KafkaJSAggregateError('Topic creation errors', [
      new KafkaJSProtocolError(Object.assign(new Error('Topic with this name already exists'), { type: 'TOPIC_ALREADY_EXISTS', code: 36, retriable: false })),
    ]);
    const librdkafka = fromLibrdkafka(Object.assign(new Error('Broker: Topic already exists'), { code: 36 }), 'create topics');
    expect(isTopicAlreadyExists(kafkajs)).toBe(true);
    expect(isTopicAlreadyExists(librdkafka)).toBe(true);
    expect(isTopicAlreadyExists(fromLibrdkafka(Object.assign(new Error('Broker: Invalid topic'), { code: 17 }), 'create topics'))).toBe(false);
  });
});

describe('waitForLeaders', () => {
  it('asks again until the topics are ready, counting errors as not yet', async () => {
    const answers = [new Error('metadata not loaded'), false, true];
    let asked = 0;
    await waitForLeaders(['t'], () => {
      const answer = answers[asked++];
      return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer === true);
    });
    expect(asked).toBe(3);
  });
});
