import { Health } from './health.js';
import { KAFKA_HEALTH, watchKafka } from './kafka-health.js';
import type { Admin, KafkaTransport } from './kafka/transport.js';
import { silentLogger } from './logger.js';

/** A transport whose admin answers while `up` says so. */
function fakeKafka(state: { up: boolean; admins: number }): KafkaTransport {
  const admin = (): Admin =>
    ({
      connect: () => (state.up ? Promise.resolve() : Promise.reject(new Error('connect ECONNREFUSED'))),
      describeCluster: () =>
        state.up ? Promise.resolve({ brokers: ['127.0.0.1:9092'], controller: 1, clusterId: 'c1' }) : Promise.reject(new Error('broker gone')),
      disconnect: () => Promise.resolve(),
    }) as unknown as Admin;
  return {
    admin: () => {
      state.admins += 1;
      return admin();
    },
  } as unknown as KafkaTransport;
}

const until = async (check: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(check()).toBe(true);
};

describe('watchKafka', () => {
  it('is not ready until Kafka answers, says when it stops answering, and recovers by itself', async () => {
    const state = { up: false, admins: 0 };
    const health = new Health();
    const stop = watchKafka(fakeKafka(state), ['127.0.0.1:9092'], health, silentLogger, { everyMs: 20, timeoutMs: 50 });
    try {
      expect(health.unready()).toEqual([KAFKA_HEALTH]);
      await until(() => /does not answer for \d+ s: connect ECONNREFUSED/.test(health.report().components[KAFKA_HEALTH]?.detail ?? ''));
      state.up = true;
      await until(() => health.report().components[KAFKA_HEALTH]?.ok === true);
      expect(health.ready).toBe(true);
      expect(health.report().components[KAFKA_HEALTH]?.detail).toBe('1 broker(s) answering (cluster c1)');
      const adminsWhileUp = state.admins;
      await new Promise((r) => setTimeout(r, 100));
      expect(state.admins).toBe(adminsWhileUp); // one admin kept while Kafka answers
      state.up = false;
      await until(() => health.report().components[KAFKA_HEALTH]?.ok === false);
    } finally {
      await stop();
    }
    expect(health.report().components[KAFKA_HEALTH]).toBeUndefined();
  });
});
