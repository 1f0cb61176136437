import { jest } from '@jest/globals';
import type { Logger } from '../logger.js';
import { effectiveKafkaClient, effectiveProducerClient, KAFKA_CLIENT_ENV, selectKafkaTransport, withProducersOf } from './index.js';
import type { KafkaTransport } from './transport.js';

describe('effectiveKafkaClient', () => {
  it('uses the configured client unless the environment overrides it', () => {
    expect(effectiveKafkaClient('kafkajs', {})).toBe('kafkajs');
    expect(effectiveKafkaClient('librdkafka', { [KAFKA_CLIENT_ENV]: '' })).toBe('librdkafka');
    expect(effectiveKafkaClient('kafkajs', { [KAFKA_CLIENT_ENV]: 'librdkafka' })).toBe('librdkafka');
    expect(effectiveKafkaClient('librdkafka', { [KAFKA_CLIENT_ENV]: ' kafkajs ' })).toBe('kafkajs');
  });

  it('names the variable and the choices when the override is not a client', () => {
    expect(() => effectiveKafkaClient('kafkajs', { [KAFKA_CLIENT_ENV]: 'rdkafka' })).toThrow(/CHANGEFLOW_KAFKA_CLIENT=rdkafka .*kafkajs or librdkafka/);
  });
});

describe('effectiveProducerClient', () => {
  const built = () => true;
  const notBuilt = () => false;

  it("auto: librdkafka when it loads, else the consumers' client", () => {
    expect(effectiveProducerClient('auto', 'kafkajs', {}, built)).toBe('librdkafka');
    expect(effectiveProducerClient('auto', 'kafkajs', {}, notBuilt)).toBe('kafkajs');
    expect(effectiveProducerClient('auto', 'librdkafka', {}, notBuilt)).toBe('librdkafka'); // asked for by name: falls back with its warning
  });

  it('takes a named client as it is, and the environment override for the whole process', () => {
    expect(effectiveProducerClient('kafkajs', 'kafkajs', {}, built)).toBe('kafkajs');
    expect(effectiveProducerClient('librdkafka', 'kafkajs', {}, notBuilt)).toBe('librdkafka');
    expect(effectiveProducerClient('auto', 'kafkajs', { [KAFKA_CLIENT_ENV]: 'kafkajs' }, built)).toBe('kafkajs');
    expect(effectiveProducerClient('kafkajs', 'kafkajs', { [KAFKA_CLIENT_ENV]: 'librdkafka' }, notBuilt)).toBe('librdkafka');
  });
});

describe('withProducersOf', () => {
  it('takes producers from one transport and consumers and admin from the other', () => {
    const made: string[] = [];
    const fake = (name: 'kafkajs' | 'librdkafka'): KafkaTransport =>
      ({
        name,
        producer: () => (made.push(`${name} producer`), {}),
        consumer: () => (made.push(`${name} consumer`), {}),
        admin: () => (made.push(`${name} admin`), {}),
      }) as unknown as KafkaTransport;
    const mixed = withProducersOf(fake('kafkajs'), fake('librdkafka'));
    mixed.producer();
    mixed.consumer({ groupId: 'g' });
    mixed.admin();
    expect(made).toEqual(['librdkafka producer', 'kafkajs consumer', 'kafkajs admin']);
    expect([mixed.name, mixed.producerName]).toEqual(['kafkajs', 'librdkafka']);
  });
});

describe('selectKafkaTransport', () => {
  it('falls back to kafkajs with one warning when the native client does not load', () => {
    const warnings: string[] = [];
    const fake = { warn: (message: string) => warnings.push(message), child: () => fake, debug: () => undefined, error: () => undefined };
    const logger = fake as unknown as Logger;
    const failing = () => ({ error: new Error("Cannot find module '@confluentinc/kafka-javascript'") });
    const first = selectKafkaTransport('librdkafka', { brokers: ['127.0.0.1:1'] }, logger, failing);
    const second = selectKafkaTransport('librdkafka', { brokers: ['127.0.0.1:1'] }, logger, failing);
    expect([first.name, second.name]).toEqual(['kafkajs', 'kafkajs']);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/librdkafka.*not available.*Cannot find module.*using kafkajs/);
  });

  it('uses kafkajs without loading the native client when kafkajs is chosen', () => {
    const load = jest.fn(() => ({ error: new Error('should not be called') }));
    expect(selectKafkaTransport('kafkajs', { brokers: ['127.0.0.1:1'] }, undefined, load).name).toBe('kafkajs');
    expect(load).not.toHaveBeenCalled();
  });
});
