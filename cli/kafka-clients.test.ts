import { describeKafkaClients } from './kafka-clients.js';

describe('describeKafkaClients', () => {
  const env = process.env['CHANGEFLOW_KAFKA_CLIENT'];
  beforeEach(() => delete process.env['CHANGEFLOW_KAFKA_CLIENT']);
  afterAll(() => (env === undefined ? delete process.env['CHANGEFLOW_KAFKA_CLIENT'] : (process.env['CHANGEFLOW_KAFKA_CLIENT'] = env)));

  it('names the producing and consuming client of the defaults, with and without the native build', () => {
    expect(describeKafkaClients('kafkajs', 'auto', () => true)).toBe('produce on librdkafka, consume on kafkajs');
    expect(describeKafkaClients('kafkajs', 'auto', () => false)).toBe(
      'produce on kafkajs, consume on kafkajs; librdkafka is not built here: bash scripts/native-setup.sh builds the faster producer',
    );
  });

  it('says nothing of the native build when the config asks for kafkajs only', () => {
    expect(describeKafkaClients('kafkajs', 'kafkajs', () => false)).toBe('produce on kafkajs, consume on kafkajs');
  });
});
