import { effectiveKafkaClient, effectiveProducerClient, librdkafkaAvailable, type KafkaClientName, type ProducerClientChoice } from '../core/kafka/index.js';

/** Which Kafka client each role of the service uses, for the startup lines of `dev` and `run`. */
export function describeKafkaClients(client: KafkaClientName, producerClient: ProducerClientChoice, available: () => boolean = librdkafkaAvailable): string {
  const consuming = effectiveKafkaClient(client);
  const producing = effectiveProducerClient(producerClient, consuming, process.env, available);
  const wanted = producerClient === 'auto' || producerClient === 'librdkafka' || client === 'librdkafka';
  const hint = wanted && !available() ? '; librdkafka is not built here: bash scripts/native-setup.sh builds the faster producer' : '';
  return `produce on ${producing}, consume on ${consuming}${hint}`;
}
