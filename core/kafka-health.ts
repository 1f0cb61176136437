import { errorMessage, UnavailableError } from './errors.js';
import type { Health } from './health.js';
import type { Admin, KafkaTransport } from './kafka/transport.js';
import type { Logger } from './logger.js';

export const KAFKA_HEALTH = 'kafka';

export interface KafkaWatchOptions {
  /** How often the cluster is asked for its brokers. Default 10 s. */
  everyMs?: number;
  /** How long one answer may take before the broker counts as not answering. Default 5 s. */
  timeoutMs?: number;
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new UnavailableError(`${what}: no answer within ${ms} ms`, { dependency: 'Kafka' })), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Asks Kafka for its brokers every `everyMs` and reports it as the instance's `kafka` component, so
 * /healthz and /readyz say the broker is gone even while nothing is being produced or consumed (a
 * source or processor only notices on its next request). Logs once per change of state, with how
 * long Kafka was unreachable. Returns a function that stops the checks.
 */
export function watchKafka(
  kafka: KafkaTransport,
  brokers: readonly string[],
  health: Health,
  logger: Logger,
  options: KafkaWatchOptions = {},
): () => Promise<void> {
  const everyMs = options.everyMs ?? 10_000;
  const timeoutMs = options.timeoutMs ?? 5_000;
  let admin: Admin | undefined;
  let busy = false;
  let downSince: number | undefined;
  let stopped = false;

  const drop = async (): Promise<void> => {
    const old = admin;
    admin = undefined;
    await old?.disconnect().catch(() => undefined);
  };

  const check = async (): Promise<void> => {
    if (busy || stopped) return;
    busy = true;
    try {
      if (!admin) {
        admin = kafka.admin();
        await within(admin.connect(), timeoutMs, 'connect');
      }
      const cluster = await within(admin.describeCluster(), timeoutMs, 'describe cluster');
      if (downSince !== undefined)
        logger.info({ downMs: Date.now() - downSince }, `Kafka answers again after ${Math.round((Date.now() - downSince) / 1000)} s`);
      downSince = undefined;
      health.set(KAFKA_HEALTH, true, `${cluster.brokers.length} broker(s) answering (cluster ${cluster.clusterId})`);
    } catch (error) {
      await drop();
      if (stopped) return;
      if (downSince === undefined) {
        downSince = Date.now();
        logger.error({ err: errorMessage(error), brokers }, 'Kafka does not answer');
      }
      const forS = Math.round((Date.now() - downSince) / 1000);
      health.set(
        KAFKA_HEALTH,
        false,
        `Kafka (kafka.brokers ${brokers.join(',')}) does not answer for ${forS} s: ${errorMessage(error)} (checked every ${everyMs} ms; sources and processors retry and resume when it is back)`,
      );
    } finally {
      busy = false;
    }
  };

  health.set(KAFKA_HEALTH, true, `connecting to ${brokers.join(',')}`, { state: 'starting' });
  void check();
  const timer = setInterval(() => void check(), everyMs);
  timer.unref();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await drop();
    health.remove(KAFKA_HEALTH);
  };
}
