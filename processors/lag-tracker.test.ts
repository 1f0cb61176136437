import { describe, expect, it } from '@jest/globals';
import { createMetricsRegistry } from '../core/metrics.js';
import type { PartitionOffsets } from '../core/kafka/index.js';
import { LagTracker } from './lag-tracker.js';
import { ProcessorMetrics } from './metrics.js';

function setup(logEnds: Record<string, number>) {
  let now = 1_000_000;
  const registry = createMetricsRegistry({ defaultMetrics: false });
  const metrics = new ProcessorMetrics(registry).forTrigger('t');
  const asked: string[] = [];
  const tracker = new LagTracker({
    metrics,
    intervalMs: 5_000,
    now: () => now,
    logEnd: async (topic): Promise<PartitionOffsets[]> => {
      asked.push(topic);
      return [{ partition: 0, low: '0', high: String(logEnds[topic] ?? 0) }];
    },
  });
  return { tracker, metrics, registry, asked, advance: (ms: number) => (now += ms), at: () => now };
}

describe('LagTracker', () => {
  it('shows records and seconds behind while a partition is stuck, following the log end', async () => {
    const ends = { orders: 30 };
    const { tracker, metrics, registry, asked, advance, at } = setup(ends);
    tracker.fetched('orders', 0, { offset: '0', timestamp: at() }, '30');
    expect(metrics.stats).toMatchObject({ lag: 30, secondsBehind: 0 });

    // Stuck: nothing processed; more records arrive that the consumer does not fetch.
    ends.orders = 35;
    advance(6_000);
    await tracker.tick();
    expect(asked).toEqual(['orders']);
    expect(metrics.stats).toMatchObject({ lag: 35, secondsBehind: 6 });
    const text = await registry.metrics();
    expect(text).toMatch(/changeflow_processor_consumer_lag\{trigger="t"\} 35/);
    expect(text).toMatch(/changeflow_processor_seconds_behind\{trigger="t"\} 6/);

    // Unstuck: everything processed, nothing buffered.
    tracker.processed('orders', 0, '35', undefined);
    expect(metrics.stats).toMatchObject({ lag: 0, secondsBehind: 0 });
  });

  it('asks the broker only for partitions stuck with work pending', async () => {
    const { tracker, asked, advance, at } = setup({ idle: 10, busy: 10 });
    tracker.fetched('idle', 0, { offset: '0', timestamp: at() }, '10');
    tracker.processed('idle', 0, '10', undefined);
    tracker.fetched('busy', 0, { offset: '0', timestamp: at() }, '10');
    advance(1_000);
    await tracker.tick();
    expect(asked).toEqual([]); // nothing has been stuck for an interval yet
    advance(5_000);
    await tracker.tick();
    expect(asked).toEqual(['busy']);
  });

  it('keeps the age of the next unprocessed record after a batch, and follows a rewind', () => {
    const { tracker, metrics, advance, at } = setup({});
    const t0 = at();
    tracker.fetched('o', 0, { offset: '100', timestamp: t0 }, '200');
    advance(10_000);
    tracker.processed('o', 0, '150', t0 + 4_000);
    expect(metrics.stats).toMatchObject({ lag: 50, secondsBehind: 6 });
    tracker.fetched('o', 0, { offset: '120', timestamp: t0 + 2_000 }, '200');
    expect(metrics.stats).toMatchObject({ lag: 80, secondsBehind: 8 });
  });

  it('stops counting a partition this consumer no longer owns (moved to another member)', async () => {
    let owned = true;
    const metrics = new ProcessorMetrics(createMetricsRegistry({ defaultMetrics: false })).forTrigger('t');
    const tracker = new LagTracker({ metrics, logEnd: async () => [], owns: () => owned });
    tracker.fetched('o', 0, { offset: '0', timestamp: Date.now() }, '40');
    expect(metrics.stats.lag).toBe(40);
    owned = false;
    await tracker.tick();
    expect(metrics.stats).toMatchObject({ lag: 0, secondsBehind: 0 });
  });

  it('sums records over partitions and takes the oldest age', () => {
    const { tracker, metrics, at } = setup({});
    tracker.fetched('o', 0, { offset: '0', timestamp: at() - 3_000 }, '5');
    tracker.fetched('o', 1, { offset: '10', timestamp: at() - 9_000 }, '12');
    expect(metrics.stats).toMatchObject({ lag: 7, secondsBehind: 9 });
  });
});
