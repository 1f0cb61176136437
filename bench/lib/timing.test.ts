import { forDuration, LatencySamples } from './timing.js';

describe('bench timing helpers', () => {
  it('counts every concurrent step', async () => {
    let calls = 0;
    const { events } = await forDuration(50, 4, async () => {
      calls += 1;
      await new Promise((r) => setTimeout(r, 5));
      return 10;
    });
    expect(calls).toBeGreaterThan(4);
    expect(events).toBe(calls * 10);
  });

  it('answers nearest-rank percentiles', () => {
    const s = new LatencySamples();
    for (let i = 1; i <= 100; i++) s.add(i);
    expect(s.percentile(50)).toBe(50);
    expect(s.percentile(99)).toBe(99);
    expect(new LatencySamples().percentile(50)).toBeUndefined();
  });
});
