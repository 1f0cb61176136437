import { jest } from '@jest/globals';
import { createMetricsRegistry } from '../core/metrics.js';
import { ProcessorMetrics } from './metrics.js';

describe('TriggerMetrics events per second', () => {
  beforeEach(() => jest.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => jest.useRealTimers());

  const batchOf = (delivered: number) => ({ delivered, filtered: 0, deadLettered: 0 });

  it('averages the events of the last 10 s over the time they span', () => {
    const metrics = new ProcessorMetrics(createMetricsRegistry({ defaultMetrics: false })).forTrigger('t');
    metrics.batch(batchOf(100), 0.01);
    expect(metrics.stats.eventsPerSecond).toBe(0); // one batch spans no time yet
    for (let i = 0; i < 4; i++) {
      jest.advanceTimersByTime(1_000);
      metrics.batch(batchOf(100), 0.01);
    }
    expect(metrics.stats.eventsPerSecond).toBe(500 / 4);
  });

  it('forgets batches older than the window, also after thousands of them', () => {
    const metrics = new ProcessorMetrics(createMetricsRegistry({ defaultMetrics: false })).forTrigger('t');
    for (let i = 0; i < 5_000; i++) {
      jest.advanceTimersByTime(2);
      metrics.batch(batchOf(1_000), 0.001);
    }
    // 10 s of batches every 2 ms at 1,000 events each: 500,000 events/s.
    expect(metrics.stats.eventsPerSecond).toBeCloseTo(500_000, -3);
    jest.advanceTimersByTime(20_000);
    metrics.batch(batchOf(10), 0.001);
    jest.advanceTimersByTime(1_000);
    metrics.batch(batchOf(10), 0.001);
    expect(metrics.stats.eventsPerSecond).toBe(20);
    expect(metrics.stats.delivered).toBe(5_000_020);
  });
});
