import type { Logger } from '../../logger.js';
import { fromLibrdkafka, guarded, guardedSync, kafkaFailure, type KafkaOperation } from '../kafka-errors.js';
import type { RdConfig, RdConsumer, RdError, RdProducer } from '../librdkafka-binding.js';
import type { KafkaConnectionOptions } from '../transport.js';

/** What the librdkafka producer, consumer and admin share: their base config, logs, connect and disconnect. */

const CONNECT_TIMEOUT_MS = 15_000;

/** One librdkafka call, its failure as the transport's error. */
export function call<T>(operation: KafkaOperation, run: () => Promise<T>): Promise<T> {
  return guarded(fromLibrdkafka, operation, run);
}

export function callSync<T>(operation: KafkaOperation, run: () => T): T {
  return guardedSync(fromLibrdkafka, operation, run);
}

export function tpKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

export function toBuffer(data: Buffer | string | null): Buffer | null {
  if (data === null) return null;
  return typeof data === 'string' ? Buffer.from(data) : data;
}

export function baseConfig(options: KafkaConnectionOptions): RdConfig {
  return {
    'metadata.broker.list': options.brokers.join(','),
    'client.id': options.clientId ?? 'changeflow',
    'socket.connection.setup.timeout.ms': Math.max(1_000, options.connectionTimeoutMs ?? 3_000),
    // Logs and errors come as events routed into our logger instead of librdkafka's stderr lines.
    event_cb: true,
    log_level: 4,
  };
}

export function routeLogs(client: RdProducer | RdConsumer, logger: Logger | undefined): void {
  client.on('event.log', (log) => (log.severity <= 3 ? logger?.error({ fac: log.fac }, log.message) : logger?.warn({ fac: log.fac }, log.message)));
  // librdkafka reconnects by itself after these; they are worth a line, not a crash.
  client.on('event.error', (err) => logger?.warn({ code: err.code, fatal: err.isFatal === true }, `librdkafka: ${err.message}`));
}

/** Each client's connect call, settled: a disconnect must wait for it (see disconnectClient). */
const connecting = new WeakMap<RdProducer | RdConsumer, Promise<void>>();

export function connectClient(client: RdProducer | RdConsumer, what: string): Promise<void> {
  const connected = new Promise<void>((resolve, reject) => {
    // Whatever the code, a failed connect may succeed later (the broker starting, a network blip).
    const failed = (err: RdError): Error => kafkaFailure('connect', `Kafka ${what} could not connect: ${err.message}`, true, err);
    callSync('connect', () => client.connect({ timeout: CONNECT_TIMEOUT_MS }, (err) => (err ? reject(failed(err)) : resolve())));
  });
  connecting.set(
    client,
    connected.catch(() => undefined),
  );
  return connected;
}

/** Resolves once the client's connect call (if any) has finished, whichever way. */
export function connectSettled(client: RdProducer | RdConsumer): Promise<void> {
  return connecting.get(client) ?? Promise.resolve();
}

export async function disconnectClient(client: RdProducer | RdConsumer): Promise<void> {
  // A stop while connecting (a trigger deleted as it starts) must not find "not connected" and return:
  // the connect would finish afterwards and leave a live native handle nobody closes.
  await connectSettled(client);
  if (!client.isConnected()) return;
  await new Promise<void>((resolve) => client.disconnect(() => resolve()));
}
