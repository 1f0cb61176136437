import type { Logger } from '../logger.js';
import type { RdModule } from './librdkafka-binding.js';
import { RdkafkaAdmin } from './librdkafka/admin.js';
import { baseConfig } from './librdkafka/connection.js';
import { consumerConfig, RdkafkaConsumer } from './librdkafka/consumer.js';
import { producerConfig, RdkafkaProducer } from './librdkafka/producer.js';
import type { Admin, Consumer, ConsumerOptions, KafkaConnectionOptions, KafkaTransport, Producer, ProducerOptions } from './transport.js';

export { RDKAFKA_CONSUMER_DEFAULTS } from './librdkafka/consumer.js';
export { closeRdProducer, RDKAFKA_PRODUCER_DEFAULTS } from './librdkafka/producer.js';

/** The transport on librdkafka (@confluentinc/kafka-javascript): producer, consumer and admin in librdkafka/. */
export function createLibrdkafkaTransport(module: RdModule, options: KafkaConnectionOptions, logger?: Logger): KafkaTransport {
  const log = logger?.child({ component: 'librdkafka' });
  const base = baseConfig(options);
  return {
    name: 'librdkafka',
    producer: (opts: ProducerOptions = {}): Producer => new RdkafkaProducer(module, producerConfig(base, opts), log),
    consumer: (opts: ConsumerOptions): Consumer => new RdkafkaConsumer(module, consumerConfig(base, opts), log),
    admin: (): Admin => new RdkafkaAdmin(module, base, options, logger),
  };
}
