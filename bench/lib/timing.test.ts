import { forDuration, LatencySamples } from './timing.js';

describe('bench timing helpers', () => {
  it('counts every concurrent step', async () => {
    let calls = 0;
    // setImmediate, not a timer: on a loaded host a 5 ms timer can outlast the whole window.
    const { events } = await forDuration(200, 4, async () => {
      calls += 1;
      await new Promise((r) => setImmediate(r));
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
