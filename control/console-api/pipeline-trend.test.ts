import fc from 'fast-check';
import { PipelineTrend } from './pipeline-trend.js';

const v = (secondsBehind: number) => ({ eventsPerSecond: 1, secondsBehind, lag: 0 });

describe('PipelineTrend', () => {
  it('keeps one sample per interval and forgets a trigger that stopped reporting', () => {
    const trend = new PipelineTrend({ windowMs: 60_000, intervalMs: 5_000 });
    trend.record(
      0,
      new Map([
        ['a', v(1)],
        ['b', v(9)],
      ]),
    );
    trend.record(
      2_000,
      new Map([
        ['a', v(2)],
        ['b', v(9)],
      ]),
    );
    trend.record(5_000, new Map([['a', v(3)]]));
    expect(trend.of('a').map((p) => p.secondsBehind)).toEqual([1, 3]);
    expect(trend.of('a')[1]?.at).toBe(new Date(5_000).toISOString());
    expect(trend.of('b')).toEqual([]);
  });

  it('drops samples older than the window', () => {
    const trend = new PipelineTrend({ windowMs: 20_000, intervalMs: 5_000 });
    for (let t = 0; t <= 60_000; t += 5_000) trend.record(t, new Map([['a', v(t / 1000)]]));
    expect(trend.of('a').map((p) => p.secondsBehind)).toEqual([40, 45, 50, 55, 60]);
  });

  it('never holds more than window / interval + 1 points, in time order, for any sample times', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 3_600_000 }), { maxLength: 300 }), fc.integer({ min: 100, max: 10_000 }), (times, interval) => {
        const trend = new PipelineTrend({ windowMs: 60_000, intervalMs: interval });
        for (const t of times) trend.record(t, new Map([['a', v(t)]]));
        const at = trend.of('a').map((p) => Date.parse(p.at));
        return at.length <= trend.maxPoints && at.every((t, i) => i === 0 || t - (at[i - 1] ?? 0) >= interval);
      }),
    );
  });
});
